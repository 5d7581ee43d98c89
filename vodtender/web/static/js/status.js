// The status page: what `vodtender status --json` prints, as sections, refreshed.
import { el, fetchJSON, poll } from "./common.js";

const SKIPPED = new Set(["schema_version", "generated_at", "ok", "attention", "read"]);
// The order `vodtender status` prints its parts in; a part added later comes after these.
const ORDER = ["daemons", "queue", "in_flight", "recordings", "breaker", "catalog", "chat", "youtube", "disk", "maintenance"];

function words(key) {
  const text = key.replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function scalar(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "boolean") return value ? "yes" : "no";
  return String(value);
}

// Any JSON value as readable elements: objects as term lists, lists of objects as tables.
function render(value) {
  if (Array.isArray(value)) {
    if (!value.length) return el("p", { class: "empty" }, "none");
    if (value.every((item) => item && typeof item === "object" && !Array.isArray(item))) return table(value);
    return el("ul", {}, ...value.map((item) => el("li", {}, render(item))));
  }
  if (value && typeof value === "object") {
    const list = el("dl", { class: "facts" });
    for (const [key, inner] of Object.entries(value)) list.append(el("dt", {}, words(key)), el("dd", {}, render(inner)));
    return list;
  }
  return document.createTextNode(scalar(value));
}

function table(items) {
  const columns = [...new Set(items.flatMap((item) => Object.keys(item)))];
  const head = el("tr", {}, ...columns.map((c) => el("th", { scope: "col" }, words(c))));
  const rows = items.map((item) => el("tr", {}, ...columns.map((c) => el("td", {}, render(item[c])))));
  return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
}

function section(id, title, ...content) {
  return el("section", { "aria-labelledby": id }, el("h2", { id }, title), ...content);
}

function show(report) {
  const attention = report.attention || [];
  const overall = el("p", { class: report.ok ? "ok" : "problem" }, report.ok ? "All good." : "Needs attention.");
  const findings = attention.map((f) => el("li", { class: `finding finding-${f.level}` }, `${f.level} (${f.area}): ${f.message}`));
  const parts = [
    section("status-overall", "Overall", overall, el("p", {}, `Generated at ${scalar(report.generated_at)}`),
      findings.length ? el("ul", { class: "findings" }, ...findings) : el("p", {}, "No finding.")),
  ];
  const keys = Object.keys(report).filter((key) => !SKIPPED.has(key));
  const rank = (key) => (ORDER.includes(key) ? ORDER.indexOf(key) : ORDER.length);
  for (const key of keys.sort((a, b) => rank(a) - rank(b))) {
    parts.push(section(`status-${key}`, words(key), render(report[key])));
  }
  document.getElementById("status-report").replaceChildren(...parts);
}

const report = document.getElementById("status-report");
poll(
  Number(report.dataset.refreshSeconds),
  async () => show(await fetchJSON(report.dataset.source)),
  document.getElementById("status-updated"),
  document.getElementById("status-error"),
);
