// The gallery page: newest-first grid with "Load more", live status (polling items that are
// still processing), lightbox, delete, sign-out and the upload area.
import { api, formatBytes } from "./api.js";
import { renderTile } from "./tiles.js";
import { uploadFiles } from "./upload.js";

const PAGE_SIZE = 24;
const POLL_MS = 1000;
const grid = document.getElementById("grid");
const empty = document.getElementById("empty");
const loadMore = document.getElementById("load-more");
const status = document.getElementById("gallery-status");
const items = new Map(); // imageId -> latest item
let nextCursor = null;
let pollTimer = null;

function tileOf(imageId) {
  return grid.querySelector(`li[data-id="${CSS.escape(imageId)}"]`);
}

function showItem(item, where = "append") {
  items.set(item.imageId, item);
  const fresh = renderTile(item);
  const old = tileOf(item.imageId);
  if (old) old.replaceWith(fresh);
  else if (where === "sorted") insertSorted(fresh);
  else grid.append(fresh);
  empty.hidden = items.size > 0;
  if (item.status === "processing") schedulePoll();
}

// New uploads land in newest-first order: imageIds are time-ordered, so they sort as strings.
function insertSorted(tile) {
  const older = [...grid.children].find((other) => other.dataset.id < tile.dataset.id);
  grid.insertBefore(tile, older || null);
}

function forget(imageId) {
  items.delete(imageId);
  tileOf(imageId)?.remove();
  empty.hidden = items.size > 0;
}

async function loadPage() {
  loadMore.disabled = true;
  try {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (nextCursor) query.set("cursor", nextCursor);
    const page = await api("GET", `/api/images?${query}`);
    for (const item of page.items) {
      if (!items.has(item.imageId)) showItem(item);
    }
    nextCursor = page.nextCursor;
    status.textContent = "";
  } catch (error) {
    status.textContent = error.message;
  }
  loadMore.hidden = !nextCursor;
  loadMore.disabled = false;
  empty.hidden = items.size > 0;
}

// Ask again about every item still processing, about once a second, until none is left.
function schedulePoll() {
  if (pollTimer === null) pollTimer = setTimeout(pollProcessing, POLL_MS);
}

async function pollProcessing() {
  const waiting = [...items.values()].filter((item) => item.status === "processing");
  await Promise.all(waiting.map(async (item) => {
    try {
      const latest = await api("GET", `/api/images/${encodeURIComponent(item.imageId)}`);
      if (latest.status !== item.status) showItem(latest);
    } catch (error) {
      if (error.status === 404) forget(item.imageId);
    }
  }));
  pollTimer = null;
  if ([...items.values()].some((item) => item.status === "processing")) schedulePoll();
}

async function openLightbox(imageId) {
  // Fetch afresh: the signed URLs in the page may have expired since it loaded.
  const item = await api("GET", `/api/images/${encodeURIComponent(imageId)}`);
  if (!item.urls) return;
  const dialog = document.getElementById("lightbox");
  const img = document.getElementById("lightbox-img");
  const note = document.getElementById("lightbox-note");
  note.hidden = true;
  img.onerror = () => { if (img.getAttribute("src")) note.hidden = false; };
  img.alt = item.filename;
  img.src = item.urls.original;
  document.getElementById("lightbox-title").textContent = item.filename;
  document.getElementById("lightbox-open").href = item.urls.original;
  dialog.showModal();
}

async function deleteImage(imageId, button) {
  const item = items.get(imageId);
  if (!window.confirm(`Delete “${item.filename}”? This cannot be undone.`)) return;
  button.disabled = true;
  try {
    await api("DELETE", `/api/images/${encodeURIComponent(imageId)}`);
    forget(imageId);
    status.textContent = `Deleted ${item.filename}.`;
    document.getElementById("gallery-title").focus();
  } catch (error) {
    button.disabled = false;
    status.textContent = error.message;
  }
}

function onGridClick(event) {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const imageId = button.closest("li.tile").dataset.id;
  if (button.dataset.action === "open") {
    openLightbox(imageId).catch((error) => { status.textContent = error.message; });
  } else if (button.dataset.action === "delete") {
    deleteImage(imageId, button);
  }
}

function wireLightbox() {
  const dialog = document.getElementById("lightbox");
  const close = () => dialog.close();
  document.getElementById("lightbox-close").addEventListener("click", close);
  dialog.addEventListener("click", (event) => { if (event.target === dialog) close(); });
  dialog.addEventListener("close", () => { document.getElementById("lightbox-img").removeAttribute("src"); });
}

async function onUploaded(imageId) {
  try {
    showItem(await api("GET", `/api/images/${encodeURIComponent(imageId)}`), "sorted");
  } catch (error) {
    status.textContent = error.message;
  }
}

function wireUploads(config) {
  const input = document.getElementById("file-input");
  const zone = document.getElementById("dropzone");
  const list = document.getElementById("uploads");
  const clear = document.getElementById("clear-uploads");
  const start = async (files) => {
    if (!files.length) return;
    await uploadFiles(files, list, config, onUploaded);
    clear.hidden = !list.querySelector('[data-state="done"], [data-state="error"]');
  };
  clear.addEventListener("click", () => {
    list.querySelectorAll('[data-state="done"], [data-state="error"]').forEach((row) => row.remove());
    clear.hidden = true;
  });
  input.accept = config.acceptedTypes.join(",");
  input.addEventListener("change", () => { start([...input.files]); input.value = ""; });
  // The whole window takes drops, so a near miss never navigates away to the file.
  window.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  window.addEventListener("dragleave", (event) => {
    if (!event.relatedTarget) zone.classList.remove("dragging");
  });
  window.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    start([...event.dataTransfer.files]);
  });
  const kinds = config.acceptedTypes.map((t) => t.replace("image/", "").toUpperCase());
  document.getElementById("limits").textContent =
    `or choose them from your device · ${kinds.join(", ")} · up to ${formatBytes(config.maxUploadBytes)} each`;
}

async function signOut() {
  try {
    await api("POST", "/api/logout");
  } finally {
    window.location.assign("/signin");
  }
}

async function main() {
  document.getElementById("signout").addEventListener("click", signOut);
  grid.addEventListener("click", onGridClick);
  loadMore.addEventListener("click", loadPage);
  wireLightbox();
  const config = await api("GET", "/api/config");
  wireUploads(config);
  await loadPage();
}

main().catch((error) => { status.textContent = error.message; });
