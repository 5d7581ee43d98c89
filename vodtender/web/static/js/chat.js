// The chat replay: a window of messages around the video's time, fetched from /api/vods/<id>/chat.
//
// Only the messages of the last `behind` seconds up to the current time are in the pane, at most
// `maxRows` of them, so a VOD with a million messages costs the page no more than a quiet one.  The
// buffer holds [t - behind, t + ahead); it grows ahead while the video plays and is fetched anew on a
// seek outside it.  In a busy chat the part before t is narrowed to a span that still fills the pane,
// and the part ahead ends where a full answer ends.
import { clock, el, fetchJSON } from "./common.js";

const FETCH_LIMIT = 2000; // the API's largest answer
const MAX_ROUNDS = 6; // fetches at most to find the rows just before a time
const REFILL_BEFORE_END = 20; // seconds: fetch further ahead when the buffer ends closer than this
const NEAR_BOTTOM_PX = 40;

export class ChatBuffer {
  constructor(vodId, behind, ahead, rows, onLoaded, onError) {
    Object.assign(this, { vodId, behind, ahead, rows, onLoaded, onError });
    this.from = 0; // the buffer holds every message with from <= offset < to
    this.to = 0;
    this.messages = [];
    this.gaps = [];
    this.loading = null; // the fetch under way: {controller, reload, from, to}
  }

  // Makes sure the buffer holds time t: fetched anew after a seek, else extended ahead while playing.
  want(t) {
    const start = Math.max(0, t - this.behind);
    const job = this.loading;
    if (!(this.from <= start && t < this.to)) {
      if (!(job && job.reload && job.from <= t && t < job.to)) this.run(true, t, (signal) => this.reload(t, start, signal));
    } else if (this.to - t < REFILL_BEFORE_END && !job) {
      this.run(false, t, (signal) => this.extend(start, signal));
    }
  }

  async run(reload, t, task) {
    if (this.loading) this.loading.controller.abort();
    const job = { controller: new AbortController(), reload, from: t, to: t + this.ahead };
    this.loading = job;
    try {
      await task(job.controller.signal);
      if (this.loading !== job) return;
      this.loading = null;
      this.onLoaded();
    } catch (exc) {
      if (exc.name === "AbortError" || this.loading !== job) return;
      this.loading = null;
      this.onError(exc);
    }
  }

  window(from, to, signal) {
    return fetchJSON(`/api/vods/${this.vodId}/chat?from=${from}&to=${to}&limit=${FETCH_LIMIT}`, signal);
  }

  // The messages before t that the pane shows: those of [t - behind, t), or, in a busy chat, of a shorter
  // span just before t that still holds the pane's rows (found from how many the first answer held).
  async before(t, start, signal) {
    let from = start;
    let answer = null;
    for (let round = 0; round < MAX_ROUNDS && from < t; round++) {
      answer = await this.window(from, t, signal);
      const n = answer.messages.length;
      if (!answer.truncated) {
        if (n >= this.rows || from === start) return { from, answer };
        from = Math.max(start, t - (t - from) * 4); // a span too short after all: widen it
        continue;
      }
      const span = answer.messages[n - 1].offset - from;
      if (span <= 0) break; // a whole answer at one instant: show what came
      from = Math.max(from, t - (span * 2 * this.rows) / n);
    }
    return { from, answer: answer || { messages: [], gaps: [] } };
  }

  async reload(t, start, signal) {
    const [behind, ahead] = await Promise.all([this.before(t, start, signal), this.window(t, t + this.ahead, signal)]);
    // Joined by id, not cut at t: the answers' offsets are rounded to the millisecond, the windows' bounds are not.
    const known = new Set(behind.answer.messages.map((m) => m.id));
    this.messages = behind.answer.messages.concat(ahead.messages.filter((m) => !known.has(m.id)));
    this.from = behind.from;
    this.to = this.end(ahead, t + this.ahead);
    this.gaps = ahead.gaps || [];
  }

  async extend(keepFrom, signal) {
    const from = this.to;
    const ahead = await this.window(from, from + this.ahead, signal);
    const keep = this.messages.filter((m) => m.offset >= keepFrom);
    const known = new Set(keep.map((m) => m.id));
    this.messages = keep.concat(ahead.messages.filter((m) => !known.has(m.id)));
    this.from = Math.max(this.from, keepFrom);
    this.to = this.end(ahead, from + this.ahead);
    this.gaps = ahead.gaps || this.gaps;
  }

  // Where an answer's messages end: its `to`, or for a truncated one its last offset (the next window
  // starts there again; rows already held are not added twice).
  end(answer, to) {
    if (!answer.truncated || !answer.messages.length) return to;
    const last = answer.messages[answer.messages.length - 1].offset;
    return last > answer.from ? last : to;
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
      this.maxRows,
      () => this.at(this.time), // what came may not reach the time the video has moved to since
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
