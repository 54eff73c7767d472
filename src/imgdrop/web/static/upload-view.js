// How the upload queue looks: one compact row per file and the overall line above the list.
// File names only ever reach the page through textContent.
import { formatBytes, formatBytesPair, plural } from "./api.js";

const SETTLED = new Set(["ready", "failed", "duplicate", "cancelled", "interrupted"]);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(text, label, onClick) {
  const node = el("button", "button ghost small", text);
  node.type = "button";
  node.setAttribute("aria-label", label);
  node.addEventListener("click", onClick);
  return node;
}

// The row's visible state: what a person needs to know, in plain words.
export function stateText(entry) {
  switch (entry.state) {
    case "waiting": return "Waiting";
    case "preparing": return "Preparing…";
    case "uploading":
      return entry.reason || `Uploading ${Math.floor((100 * entry.loaded) / (entry.file.size || 1))}%`;
    case "processing": return "Processing…";
    case "ready": return "Ready";
    case "failed": return `Failed — ${entry.reason}`;
    case "duplicate": return "Duplicate";
    case "cancelled": return "Cancelled";
    case "interrupted": return "Interrupted";
    default: return entry.state;
  }
}

export function renderRow(entry, queue) {
  const name = entry.file.name;
  const row = el("li", "upload");
  const progress = el("progress", "upload-progress");
  progress.max = 100;
  progress.setAttribute("aria-label", `Upload progress of ${name}`);
  const state = el("span", "upload-state");
  const actions = el("span", "upload-actions");
  const cancel = button("Cancel", `Cancel ${name}`, () => queue.cancel(entry));
  const retry = button("Retry", `Retry ${name}`, () => queue.retry(entry));
  const anyway = button("Upload anyway", `Upload ${name} anyway`, () => queue.retry(entry, { allowDuplicate: true }));
  actions.append(cancel, retry, anyway);
  row.append(el("span", "upload-name", name), el("span", "upload-size", formatBytes(entry.file.size)),
    progress, state, actions);
  row.title = name;
  const update = (current) => {
    row.dataset.state = current.state;
    state.textContent = stateText(current);
    state.title = current.state === "interrupted" ? current.reason : "";
    progress.value = ["processing", "ready", "duplicate"].includes(current.state)
      ? 100 : Math.floor((100 * current.loaded) / (current.file.size || 1));
    progress.hidden = SETTLED.has(current.state);
    cancel.hidden = !["waiting", "preparing", "uploading"].includes(current.state);
    retry.hidden = !["interrupted", "cancelled"].includes(current.state);
    anyway.hidden = current.state !== "duplicate";
  };
  update(entry);
  return { row, update };
}

function bytesDone(entry) {
  if (SETTLED.has(entry.state) || entry.state === "processing") return entry.file.size;
  return entry.state === "uploading" ? entry.loaded : 0;
}

// "12 of 27 · 48 of 120 MB", plus what needs attention once everything is settled.
export function summaryText(entries) {
  const settled = entries.filter((e) => SETTLED.has(e.state)).length;
  const total = entries.reduce((sum, e) => sum + e.file.size, 0);
  const done = entries.reduce((sum, e) => sum + bytesDone(e), 0);
  const parts = [`${settled} of ${entries.length}`, formatBytesPair(done, total)];
  const failed = entries.filter((e) => e.state === "failed" || e.state === "interrupted").length;
  const dupes = entries.filter((e) => e.state === "duplicate").length;
  if (failed) parts.push(`${failed} failed`);
  if (dupes) parts.push(plural(dupes, "duplicate"));
  return parts.join(" · ");
}

export function renderSummary(bar, entries, queue) {
  bar.hidden = entries.length === 0;
  const active = entries.some((e) => !SETTLED.has(e.state));
  bar.querySelector(".uploads-summary").textContent = summaryText(entries);
  bar.querySelector("#cancel-all").hidden = !active;
  bar.querySelector("#clear-uploads").hidden = active || entries.length === 0;
  const toggle = bar.querySelector("#toggle-uploads");
  toggle.textContent = queue.folded ? "Show list" : "Hide list";
  toggle.setAttribute("aria-expanded", String(!queue.folded));
  queue.list.hidden = queue.folded;
  bar.dataset.settled = String(!active);
}
