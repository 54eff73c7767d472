// The gallery page: newest-first grid with "Load more", live status (polling items that are
// still processing), photo count, viewer, select-and-delete, the failed filter, sign-out and
// the upload panel.
import { api, formatBytes, plural } from "./api.js";
import { renderTile } from "./tiles.js";
import { UploadQueue } from "./upload.js";
import { Viewer } from "./viewer.js";

const PAGE_SIZE = 24;
const POLL_MS = 1000;
const EAGER_TILES = 8; // about the first row on a wide screen: never lazy-loaded
const $ = (id) => document.getElementById(id);
const grid = $("grid");
const status = $("gallery-status");
const items = new Map(); // imageId -> latest item
const selected = new Set();
let nextCursor = null;
let pollTimer = null;
let queue = null;
let showProblems = false;

const tileOf = (imageId) => grid.querySelector(`li[data-id="${CSS.escape(imageId)}"]`);
const isProblem = (item) => item.status === "failed";

function showItem(item, where = "append") {
  const known = items.get(item.imageId);
  items.set(item.imageId, item);
  const old = tileOf(item.imageId);
  const fresh = renderTile(item);
  fresh.querySelector(".tile-check").checked = selected.has(item.imageId);
  if (old) old.replaceWith(fresh);
  else if (where === "sorted") insertSorted(fresh);
  else grid.append(fresh);
  markFirstRow();
  if (item.status === "processing") schedulePoll();
  if (known && known.status !== item.status) refreshCount();
  queue?.itemChanged(item);
  afterChange();
}

// The first row is on screen at once: lazy loading would only delay it.
function markFirstRow() {
  [...grid.children].slice(0, EAGER_TILES).forEach((tile) => {
    const img = tile.querySelector("img");
    if (img && img.loading !== "eager") {
      img.loading = "eager";
      img.fetchPriority = "high";
    }
  });
}

// New uploads land in newest-first order: imageIds are time-ordered, so they sort as strings.
function insertSorted(tile) {
  const older = [...grid.children].find((other) => other.dataset.id < tile.dataset.id);
  grid.insertBefore(tile, older || null);
}

function forget(imageId) {
  items.delete(imageId);
  selected.delete(imageId);
  tileOf(imageId)?.remove();
  afterChange();
}

function afterChange() {
  $("empty").hidden = items.size > 0;
  const problems = [...items.values()].filter(isProblem).length;
  $("filter-problems").textContent = `Failed and interrupted (${problems})`;
  $("problems-bar").hidden = !showProblems || problems === 0;
  $("problems-count").textContent = plural(problems, "photo") + " failed or never arrived.";
  grid.classList.toggle("only-problems", showProblems);
  $("selection-bar").hidden = selected.size === 0;
  $("selection-count").textContent = `${selected.size} selected`;
}

async function refreshCount() {
  try {
    const count = await api("GET", "/api/images/count");
    const more = count.capped ? "+" : "";
    $("photo-count").textContent = `${plural(count.done, "photo")}${more}` +
      (count.processing ? ` · ${count.processing} processing` : "") +
      (count.failed ? ` · ${count.failed} failed` : "");
  } catch {
    $("photo-count").textContent = "";
  }
}

async function loadPage() {
  $("load-more").disabled = true;
  try {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (nextCursor) query.set("cursor", nextCursor);
    const page = await api("GET", `/api/images?${query}`);
    for (const item of page.items) if (!items.has(item.imageId)) showItem(item);
    nextCursor = page.nextCursor;
    status.textContent = "";
  } catch (error) {
    status.textContent = error.message;
  }
  $("load-more").hidden = !nextCursor;
  $("load-more").disabled = false;
  afterChange();
}

// Ask again about every item still processing, about once a second, until none is left.
function schedulePoll() {
  if (pollTimer === null) pollTimer = setTimeout(pollProcessing, POLL_MS);
}

async function pollProcessing() {
  const waiting = [...items.values()].filter((item) => item.status === "processing");
  await Promise.all(waiting.map((item) => refreshItem(item.imageId, item.status)));
  pollTimer = null;
  if ([...items.values()].some((item) => item.status === "processing")) schedulePoll();
}

async function refreshItem(imageId, lastStatus = null, where = "append") {
  try {
    const latest = await api("GET", `/api/images/${encodeURIComponent(imageId)}`);
    if (latest.status !== lastStatus) showItem(latest, where);
  } catch (error) {
    if (error.status === 404) forget(imageId);
  }
}

async function deleteMany(ids, question) {
  if (!ids.length || !window.confirm(question)) return false;
  const firstName = items.get(ids[0])?.filename || "";
  let failed = 0;
  const work = [...ids];
  const one = async () => {
    while (work.length) {
      const imageId = work.shift();
      try {
        await api("DELETE", `/api/images/${encodeURIComponent(imageId)}`);
        forget(imageId);
      } catch (error) {
        if (error.status === 404) forget(imageId);
        else failed += 1;
      }
    }
  };
  await Promise.all([one(), one(), one(), one()]);
  const done = ids.length - failed;
  const what = done === 1 && ids.length === 1 ? firstName : plural(done, "photo");
  status.textContent = failed
    ? `Deleted ${what}; ${failed} could not be deleted. Try again.`
    : `Deleted ${what}.`;
  refreshCount();
  $("gallery-title").focus();
  return failed === 0;
}

function deleteOne(imageId) {
  const item = items.get(imageId);
  const verb = isProblem(item) ? "Remove" : "Delete";
  return deleteMany([imageId], `${verb} “${item.filename}”? This cannot be undone.`);
}

function onGridClick(event) {
  const target = event.target.closest("[data-action]");
  if (!target) return;
  const imageId = target.closest("li.tile").dataset.id;
  if (target.dataset.action === "open") {
    if (grid.classList.contains("selecting")) toggleSelected(imageId);
    else viewer.open(imageId);
  } else if (target.dataset.action === "delete") {
    deleteOne(imageId);
  } else if (target.dataset.action === "select") {
    toggleSelected(imageId, target.checked);
  }
}

function toggleSelected(imageId, on = !selected.has(imageId)) {
  if (on) selected.add(imageId);
  else selected.delete(imageId);
  const box = tileOf(imageId)?.querySelector(".tile-check");
  if (box) box.checked = on;
  afterChange();
}

function wireSelection() {
  const mode = $("select-mode");
  mode.addEventListener("click", () => {
    const on = mode.getAttribute("aria-pressed") !== "true";
    mode.setAttribute("aria-pressed", String(on));
    grid.classList.toggle("selecting", on);
    if (!on) { selected.clear(); grid.querySelectorAll(".tile-check").forEach((b) => { b.checked = false; }); }
    afterChange();
  });
  $("clear-selection").addEventListener("click", () => {
    for (const imageId of [...selected]) toggleSelected(imageId, false);
  });
  $("delete-selected").addEventListener("click", () => {
    const ids = [...selected];
    deleteMany(ids, `Delete ${plural(ids.length, "photo")}? This cannot be undone.`);
  });
}

function wireFilters() {
  const all = $("filter-all");
  const problems = $("filter-problems");
  const choose = async (onlyProblems) => {
    showProblems = onlyProblems;
    all.setAttribute("aria-pressed", String(!onlyProblems));
    problems.setAttribute("aria-pressed", String(onlyProblems));
    // Every failed item, not only the loaded pages, so "Remove all" means all.
    while (onlyProblems && nextCursor) await loadPage();
    afterChange();
  };
  all.addEventListener("click", () => choose(false));
  problems.addEventListener("click", () => choose(true));
  $("remove-problems").addEventListener("click", () => {
    const ids = [...items.values()].filter(isProblem).map((item) => item.imageId);
    deleteMany(ids, `Remove ${plural(ids.length, "failed photo")}? This cannot be undone.`);
  });
}

function wireUploads(config) {
  const input = $("file-input");
  const zone = $("dropzone");
  queue = new UploadQueue($("uploads"), $("uploads-bar"), config, {
    onStored: (imageId) => refreshItem(imageId, null, "sorted"),
    onDuplicate: (ticket) => refreshItem(ticket.imageId, null, "sorted"),
    onCancelled: (imageId) => refreshItem(imageId, null, "sorted"),
  });
  const start = (files) => { if (files.length) queue.add(files); };
  $("cancel-all").addEventListener("click", () => queue.cancelAll());
  $("clear-uploads").addEventListener("click", () => queue.clearSettled());
  $("toggle-uploads").addEventListener("click", () => queue.toggleFold());
  input.accept = config.acceptedTypes.join(",");
  input.addEventListener("change", () => { start([...input.files]); input.value = ""; });
  // The whole window takes drops, so a near miss never navigates away to the file.
  window.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("dragging"); });
  window.addEventListener("dragleave", (event) => { if (!event.relatedTarget) zone.classList.remove("dragging"); });
  window.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    start([...event.dataTransfer.files]);
  });
  window.addEventListener("beforeunload", (event) => {
    if (!queue.active) return;
    event.preventDefault();
    event.returnValue = ""; // older browsers need it set to show the prompt
  });
  window.addEventListener("pagehide", () => queue.abandon());
  const kinds = config.acceptedTypes.map((t) => t.replace("image/", "").toUpperCase());
  $("limits").textContent = `${kinds.join(", ")} · up to ${formatBytes(config.maxUploadBytes)} each`;
}

const viewer = new Viewer({
  items,
  order: () => [...grid.children]
    .filter((tile) => tile.dataset.status === "done" && tile.offsetParent !== null)
    .map((tile) => tile.dataset.id),
  onDelete: (imageId) => deleteOne(imageId),
});

async function main() {
  grid.addEventListener("click", onGridClick);
  grid.addEventListener("change", onGridClick);
  $("load-more").addEventListener("click", loadPage);
  wireSelection();
  wireFilters();
  const config = await api("GET", "/api/config");
  wireUploads(config);
  await Promise.all([loadPage(), refreshCount()]);
}

main().catch((error) => { status.textContent = error.message; });
