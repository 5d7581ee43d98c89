// Helpers every page uses.  Text goes into the page only as text nodes: never innerHTML with data.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export async function fetchJSON(url, signal) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, signal });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

// 3725.2 -> "1:02:05"; 65 -> "1:05"
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

// ISO 8601 UTC -> "2026-12-02 19:42" (the same for every reader: no locale, no time zone guess)
export function utc(iso) {
  return iso ? iso.slice(0, 16).replace("T", " ") : "–";
}

// Only web links leave the page: a hostile value such as "javascript:..." is shown, not linked.
export function safeLink(url, text) {
  if (typeof url === "string" && /^https:\/\//i.test(url)) {
    return el("a", { href: url, rel: "noopener noreferrer" }, text);
  }
  return url ? document.createTextNode(String(url)) : document.createTextNode("–");
}

// Runs `task` now and every `seconds`, showing when it last worked (or why it did not).
export function poll(seconds, task, updated, error) {
  async function round() {
    try {
      await task();
      updated.textContent = `Last updated ${new Date().toISOString().slice(11, 19)} UTC`;
      error.textContent = "";
    } catch (exc) {
      const text = `Update failed: ${exc.message}`;
      if (error.textContent !== text) error.textContent = text; // an alert once, not every round
    }
  }
  round();
  return setInterval(round, seconds * 1000);
}
