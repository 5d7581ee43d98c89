// The live page: the recordings from /api/recordings, refreshed, each linked to its VOD page.
import { bytes, clock, el, fetchJSON, poll, utc } from "./common.js";

function row(rec) {
  const page = rec.vod_id ? el("a", { href: `/vods/${rec.vod_id}` }, `Watch ${rec.channel}`) : "–";
  const state = rec.live ? `${rec.state} (live)` : rec.state;
  return el(
    "tr",
    {},
    el("td", {}, rec.channel),
    el("td", {}, state),
    el("td", {}, utc(rec.started_at)),
    el("td", { class: "num" }, clock(rec.duration_seconds)),
    el("td", { class: "num" }, bytes(rec.size_bytes)),
    el("td", { class: "num" }, `${(rec.gaps || []).length} (${rec.gap_seconds ?? 0} s)`),
    el("td", {}, page),
  );
}

const table = document.getElementById("live-table");
poll(
  Number(table.dataset.refreshSeconds),
  async () => {
    const answer = await fetchJSON(table.dataset.source);
    table.tBodies[0].replaceChildren(...answer.recordings.map(row));
    table.hidden = answer.recordings.length === 0;
    document.getElementById("live-empty").hidden = answer.recordings.length !== 0;
  },
  document.getElementById("live-updated"),
  document.getElementById("live-error"),
);
