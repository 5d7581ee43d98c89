// The chat replay: a window of messages around the video's time, fetched from /api/vods/<id>/chat.
//
// Only the messages of the last `behind` seconds up to the current time are in the pane, at most
// `maxRows` of them, so a VOD with a million messages costs the page no more than a quiet one.  The
// buffer holds [t - behind, t + ahead]; it grows ahead while the video plays and is fetched anew on a
// seek outside it.
import { clock, el, fetchJSON } from "./common.js";

const FETCH_LIMIT = 2000; // the API's maximum per answer; a busier window is fetched page by page
const MAX_PAGES = 20;
const REFILL_BEFORE_END = 20; // seconds: fetch more when the buffer ends closer than this ahead
const NEAR_BOTTOM_PX = 40;

export class ChatBuffer {
  constructor(vodId, behind, ahead, onLoaded, onError) {
    Object.assign(this, { vodId, behind, ahead, onLoaded, onError });
    this.from = 0;
    this.to = -1; // nothing loaded
    this.messages = [];
    this.gaps = [];
    this.loading = null; // {controller, reload}
  }

  // Makes sure the buffer will hold time t: a reload after a seek, else a fetch further ahead.
  want(t) {
    const start = Math.max(0, t - this.behind);
    const covered = this.from <= start && t < this.to; // windows are [from, to)
    if (!covered) {
      if (!(this.loading && this.loading.reload && this.loading.from <= start && t < this.loading.to)) {
        this.fetch(start, t + this.ahead, true);
      }
    } else if (this.to - t < REFILL_BEFORE_END && !this.loading) {
      this.fetch(this.to, t + this.ahead, false, start);
    }
  }

  // A reload replaces the buffer with [from, to]; an extension adds (from, to] and drops what is
  // before `keepFrom`, so the buffer stays the window's size.
  async fetch(from, to, reload, keepFrom = from) {
    if (this.loading) this.loading.controller.abort();
    const controller = new AbortController();
    const job = { controller, reload, from, to };
    this.loading = job;
    try {
      const { messages, gaps } = await this.pages(from, to, controller.signal);
      if (this.loading !== job) return;
      if (reload) {
        this.messages = messages;
      } else {
        const keep = this.messages.filter((m) => m.offset >= keepFrom);
        const known = new Set(keep.map((m) => m.id));
        this.messages = keep.concat(messages.filter((m) => !known.has(m.id)));
      }
      this.from = keepFrom;
      this.to = to;
      this.gaps = gaps;
      this.loading = null;
      this.onLoaded();
    } catch (exc) {
      if (exc.name === "AbortError") return;
      if (this.loading === job) this.loading = null;
      this.onError(exc);
    }
  }

  async pages(from, to, signal) {
    const byId = new Map();
    let gaps = [];
    let start = from;
    for (let page = 0; page < MAX_PAGES; page++) {
      const url = `/api/vods/${this.vodId}/chat?from=${start}&to=${to}&limit=${FETCH_LIMIT}`;
      const answer = await fetchJSON(url, signal);
      for (const m of answer.messages) byId.set(m.id, m);
      gaps = answer.gaps || gaps;
      const last = answer.messages.length ? answer.messages[answer.messages.length - 1].offset : start;
      if (!answer.truncated || last <= start) break; // whole, or a page of one instant: keep what came
      start = last;
    }
    const messages = [...byId.values()].sort((a, b) => a.offset - b.offset || a.id - b.id);
    return { messages, gaps };
  }

  // The messages with offset in [t - behind, t], the last `count` of them.
  around(t, count) {
    const list = this.messages;
    const lo = firstAtLeast(list, t - this.behind);
    const hi = firstAtLeast(list, t + 1e-6); // exclusive: offsets <= t
    return list.slice(Math.max(lo, hi - count), hi);
  }
}

function firstAtLeast(list, offset) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].offset < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function mark(text, extra = "") {
  return el("span", { class: `mark ${extra}`.trim() }, text);
}

function system(m) {
  if (m.kind === "clearchat") {
    const target = m.target_user || "someone";
    if (m.notice_type === "timeout" || (m.marks || []).includes("timeout")) {
      return `${target} timed out for ${m.ban_duration ?? "?"} s`;
    }
    if (m.notice_type === "ban" || (m.marks || []).includes("ban")) return `${target} banned`;
    return "chat cleared by a moderator";
  }
  return m.system_message || m.notice_type || m.kind;
}

const SAID = new Set(["message", "action"]);
const SHOWN_ELSEWHERE = new Set(["deleted", "timeout", "ban", "clear"]); // said by the row's own words

function markWords(name, m) {
  if (name === "mirrored") return m.source_channel ? `shared from #${m.source_channel}` : "shared from another channel";
  return name;
}

// One chat event as a row; null for what shows nothing (a CLEARMSG: the deleted message carries the mark).
export function chatRow(m) {
  if (m.kind === "clearmsg") return null;
  const row = el("div", { class: `chat-line kind-${m.kind}`, dataset: { id: String(m.id), offset: String(m.offset) } });
  row.append(el("span", { class: "chat-time" }, clock(m.offset)), " ");
  if (m.reply_to) {
    const to = m.reply_to.display_name || m.reply_to.user || "?";
    row.append(el("span", { class: "chat-reply" }, `replying to @${to}`), " ");
  }
  if (SAID.has(m.kind)) {
    const name = el("span", { class: "chat-name" }, m.display_name || m.user || "?");
    if (typeof m.color === "string" && /^#[0-9a-f]{6}$/i.test(m.color)) name.style.color = m.color;
    row.append(name, m.kind === "action" ? " " : ": ", el("span", { class: "chat-text" }, m.text || ""));
  } else {
    row.classList.add("chat-system");
    row.append(el("span", { class: "chat-text" }, system(m)));
    if (m.kind === "usernotice" && m.text) row.append(" ", el("span", { class: "chat-said" }, m.text));
  }
  if (m.deleted) {
    row.classList.add("deleted");
    row.append(" ", mark("deleted", "mark-deleted"));
  }
  for (const name of m.marks || []) if (!SHOWN_ELSEWHERE.has(name)) row.append(" ", mark(markWords(name, m)));
  return row;
}

function gapRow(gap) {
  const end = gap.offset + gap.duration;
  const why = gap.reason ? ` (${gap.reason})` : "";
  return el(
    "div",
    { class: "chat-line chat-system chat-gap", dataset: { gap: String(gap.offset) } },
    el("span", { class: "chat-time" }, clock(gap.offset)),
    " ",
    el("span", { class: "chat-text" }, `chat not recorded from ${clock(gap.offset)} to ${clock(end)}${why}`),
  );
}

// The pane: keyed rows, so the ones still in the window stay put and only the new ones are added.
export class ChatPane {
  constructor(pane, vod) {
    this.pane = pane;
    this.maxRows = Number(pane.dataset.maxRows);
    this.nodes = new Map(); // key -> element currently in the pane
    this.knownGaps = vod.chat ? vod.chat.gaps || [] : [];
    this.buffer = new ChatBuffer(
      vod.id,
      Number(pane.dataset.behindSeconds),
      Number(pane.dataset.aheadSeconds),
      () => this.show(this.time),
      (exc) => this.failed(exc),
    );
    this.time = 0;
    this.status = el("p", { class: "chat-status", dataset: { chatStatus: "" } });
  }

  at(t) {
    this.time = t;
    this.buffer.want(t);
    this.show(t);
  }

  failed(exc) {
    this.status.textContent = `Chat could not be loaded: ${exc.message}`;
    if (!this.status.isConnected) this.pane.before(this.status);
  }

  // A gap's line shows from its start until `behind` seconds after its end.  The page's list of gaps,
  // with those the windows report (a live recording's newer ones).
  gapsAt(t) {
    const behind = this.buffer.behind;
    const all = new Map([...this.knownGaps, ...this.buffer.gaps].map((g) => [g.offset, g]));
    return [...all.values()].filter((g) => g.offset <= t && t - behind <= g.offset + g.duration);
  }

  show(t) {
    const items = [];
    for (const m of this.buffer.around(t, this.maxRows)) items.push({ key: `m${m.id}`, offset: m.offset, make: () => chatRow(m) });
    for (const g of this.gapsAt(t)) items.push({ key: `g${g.offset}`, offset: g.offset, make: () => gapRow(g) });
    items.sort((a, b) => a.offset - b.offset);
    this.render(items.slice(-this.maxRows));
  }

  render(items) {
    const pane = this.pane;
    const stick = pane.scrollHeight - pane.scrollTop - pane.clientHeight < NEAR_BOTTOM_PX;
    const wanted = new Set(items.map((i) => i.key));
    for (const [key, node] of this.nodes) {
      if (!wanted.has(key)) {
        node.remove();
        this.nodes.delete(key);
      }
    }
    let cursor = pane.firstElementChild;
    for (const item of items) {
      let node = this.nodes.get(item.key);
      if (node === undefined) {
        node = item.make();
        if (node === null) continue;
        this.nodes.set(item.key, node);
      }
      if (node === cursor) cursor = cursor.nextElementSibling;
      else pane.insertBefore(node, cursor);
    }
    if (stick) pane.scrollTop = pane.scrollHeight;
  }
}
