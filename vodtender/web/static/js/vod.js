// The VOD page: the player on the local file, the chat replayed at the video's time, search in the chat.
import { ChatPane } from "./chat.js";
import { bytes, clock, el, fetchJSON } from "./common.js";

const vod = JSON.parse(document.getElementById("vod-data").textContent);
const video = document.getElementById("player");
const playable = video instanceof HTMLVideoElement;
const chat = new ChatPane(document.getElementById("chat"), vod);

function playerError(text) {
  const where = document.getElementById("player-error");
  if (where) where.textContent = text;
}

// MP4 plays natively; MPEG-TS (a live recording's .ts) through mpegts.js, which remuxes it for MSE.
function attach() {
  if (video.dataset.type !== "mpegts") {
    video.src = video.dataset.url;
    return;
  }
  const mpegts = window.mpegts;
  if (!mpegts || !mpegts.isSupported()) {
    playerError("This browser cannot play MPEG-TS here (no Media Source Extensions).");
    return;
  }
  // Its info and debug lines would fill the console; warnings and errors stay.
  Object.assign(mpegts.LoggingControl, { enableVerbose: false, enableDebug: false, enableInfo: false });
  const player = mpegts.createPlayer(
    { type: "mpegts", url: video.dataset.url, isLive: Boolean(vod.live) },
    { enableWorker: false },
  );
  player.on(mpegts.Events.ERROR, (kind, detail) => playerError(`The video could not be played: ${kind} ${detail}`));
  player.attachMediaElement(video);
  player.load();
}

const position = document.getElementById("chat-position");

function seek(offset) {
  if (playable) {
    video.currentTime = offset;
    return;
  }
  position.value = String(offset);
  position.dispatchEvent(new Event("input"));
}

function followPosition() {
  const shown = document.getElementById("chat-position-time");
  position.addEventListener("input", () => {
    shown.textContent = clock(Number(position.value));
    chat.at(Number(position.value));
  });
}

function followVideo() {
  const sync = () => chat.at(video.currentTime);
  for (const event of ["play", "pause", "seeking", "seeked", "timeupdate", "loadedmetadata"]) {
    video.addEventListener(event, sync);
  }
  video.addEventListener("error", () => {
    playerError(`The video could not be played${video.error ? ` (${video.error.message || video.error.code})` : ""}.`);
  });
}

function hitButton(hit) {
  const who = hit.display_name || hit.user || "?";
  const label = `${clock(hit.offset)} ${who}: ${hit.text}`;
  const button = el("button", { type: "button", class: "seek-hit", dataset: { offset: String(hit.offset) } }, label);
  for (const name of hit.marks || []) button.append(" ", el("span", { class: "mark" }, name));
  if (hit.offset === null || hit.offset === undefined) button.disabled = true;
  else button.addEventListener("click", () => seek(hit.offset));
  return el("li", {}, button);
}

function searchChat() {
  const form = document.getElementById("chat-search");
  const status = document.getElementById("chat-search-status");
  const hits = document.getElementById("chat-search-hits");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const q = new FormData(form).get("q").trim();
    if (!q) return;
    status.textContent = "Searching…";
    try {
      const query = new URLSearchParams({ vod: String(vod.id), q, limit: "100" });
      const answer = await fetchJSON(`/api/search?${query}`);
      hits.replaceChildren(...answer.hits.map(hitButton));
      const n = answer.hits.length;
      status.textContent = n ? `${n} message${n === 1 ? "" : "s"} found: choose one to play from there.` : "No message found.";
    } catch (exc) {
      status.textContent = `The search failed: ${exc.message}`;
    }
  });
}

function details() {
  for (const node of document.querySelectorAll(".js-duration")) node.textContent = clock(Number(node.dataset.seconds));
  for (const node of document.querySelectorAll(".js-bytes")) {
    if (Number(node.dataset.bytes)) node.textContent = bytes(Number(node.dataset.bytes));
  }
  for (const button of document.querySelectorAll("button.seek")) {
    button.addEventListener("click", () => seek(Number(button.dataset.offset)));
  }
}

details();
searchChat();
if (playable) {
  followVideo();
  attach();
} else {
  followPosition();
}
chat.at(0);
