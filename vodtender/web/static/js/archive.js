// The archive page: the VOD table from /api/vods, filtered by the page's own query string.
import { bytes, clock, el, fetchJSON, safeLink, utc } from "./common.js";

const PAGE_SIZE = 50;
const FILTERS = ["channel", "state", "since", "until", "q"];

function progressCell(vod) {
  if (vod.progress === null || vod.progress === undefined) return el("td", {}, "–");
  const percent = Math.round(vod.progress * 100);
  const bar = el("progress", {
    max: "1",
    value: String(vod.progress),
    "aria-label": `Progress of ${vod.title}`,
    "aria-valuetext": `${percent} %`,
  });
  return el("td", { class: "progress" }, bar, ` ${percent} %`);
}

function row(vod) {
  const title = el("a", { href: `/vods/${vod.id}` }, vod.title || `VOD ${vod.twitch_vod_id}`);
  const video = [vod.video_codec, vod.video_resolution].filter(Boolean).join(" ") || "–";
  const state = el("span", { class: `state state-${vod.state}` }, vod.state);
  return el(
    "tr",
    { dataset: { vodId: String(vod.id) } },
    el("td", { class: "title" }, title, vod.live ? el("span", { class: "badge badge-live" }, "live") : null),
    el("td", {}, vod.channel),
    el("td", {}, utc(vod.date)),
    el("td", {}, state),
    progressCell(vod),
    el("td", { class: "num" }, vod.duration_seconds ? clock(vod.duration_seconds) : "–"),
    el("td", { class: "num" }, bytes(vod.size_bytes)),
    el("td", {}, video),
    el("td", { class: "num" }, String(vod.gaps.length)),
    el("td", {}, vod.youtube_url ? safeLink(vod.youtube_url, "YouTube") : "–"),
  );
}

function pageLink(params, offset, text) {
  const next = new URLSearchParams(params);
  next.set("offset", String(offset));
  return el("a", { href: `/?${next}` }, text);
}

async function load() {
  const here = new URLSearchParams(location.search);
  const query = new URLSearchParams();
  for (const name of FILTERS) if (here.get(name)) query.set(name, here.get(name));
  const offset = Math.max(0, Number.parseInt(here.get("offset") || "0", 10) || 0);
  query.set("limit", String(PAGE_SIZE));
  query.set("offset", String(offset));
  const count = document.getElementById("vod-count");
  const table = document.getElementById("vod-table");
  try {
    const answer = await fetchJSON(`/api/vods?${query}`);
    table.tBodies[0].replaceChildren(...answer.vods.map(row));
    table.hidden = answer.vods.length === 0;
    const shown = answer.vods.length ? `${offset + 1}–${offset + answer.vods.length} of ` : "";
    count.textContent = `${shown}${answer.total} VOD${answer.total === 1 ? "" : "s"}`;
    const pager = document.getElementById("vod-pages");
    pager.replaceChildren();
    query.delete("limit");
    if (offset > 0) pager.append(pageLink(query, Math.max(0, offset - PAGE_SIZE), "Newer"));
    if (offset + answer.vods.length < answer.total) pager.append(pageLink(query, offset + PAGE_SIZE, "Older"));
  } catch (exc) {
    count.textContent = `The VOD list could not be loaded: ${exc.message}`;
  }
}

load();
