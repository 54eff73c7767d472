// The viewer: the 400 px thumbnail (or the placeholder) at once, the original fetched behind
// it with a progress bar; previous/next by buttons, arrow keys and swipe; download, delete and
// the photo's details.
import { api, formatBytes } from "./api.js";
import { placeholderURL } from "./thumbhash.js";

const $ = (id) => document.getElementById(id);
const SWIPE_PX = 50;

export class Viewer {
  constructor({ items, order, onDelete }) {
    this.items = items; // Map imageId -> item
    this.order = order; // () => imageIds of viewable items, in gallery order
    this.onDelete = onDelete; // async (imageId) => boolean
    this.dialog = $("viewer");
    this.img = $("viewer-img");
    this.loading = $("viewer-loading");
    this.progress = $("viewer-progress");
    this.note = $("viewer-note");
    this.current = null;
    this.xhr = null;
    this.objectUrl = null;
    this.wire();
  }

  wire() {
    $("viewer-close").addEventListener("click", () => this.dialog.close());
    $("viewer-prev").addEventListener("click", () => this.step(-1));
    $("viewer-next").addEventListener("click", () => this.step(1));
    $("viewer-delete").addEventListener("click", () => this.remove());
    this.dialog.addEventListener("click", (event) => { if (event.target === this.dialog) this.dialog.close(); });
    this.dialog.addEventListener("close", () => this.stopLoading());
    // On the document: a button that becomes disabled (the last photo) drops the focus.
    document.addEventListener("keydown", (event) => {
      if (!this.dialog.open) return;
      if (event.key === "ArrowLeft") { event.preventDefault(); this.step(-1); }
      if (event.key === "ArrowRight") { event.preventDefault(); this.step(1); }
    });
    let startX = null;
    const stage = $("viewer-stage");
    stage.addEventListener("pointerdown", (event) => { startX = event.clientX; });
    stage.addEventListener("pointerup", (event) => {
      if (startX === null) return;
      const dx = event.clientX - startX;
      startX = null;
      if (Math.abs(dx) >= SWIPE_PX) this.step(dx < 0 ? 1 : -1);
    });
  }

  open(imageId) {
    this.show(imageId);
    if (!this.dialog.open) this.dialog.showModal();
  }

  step(delta) {
    const ids = this.order();
    const at = ids.indexOf(this.current);
    const next = ids[at + delta];
    if (next) this.show(next);
  }

  show(imageId) {
    const item = this.items.get(imageId);
    if (!item) return;
    this.stopLoading();
    this.current = imageId;
    this.note.hidden = true;
    $("viewer-title").textContent = item.filename;
    this.img.alt = item.filename;
    // At once: the 400 px thumbnail the gallery has probably cached, else the placeholder.
    this.img.src = item.urls?.thumb400 || (item.placeholder && placeholderURL(item.placeholder)) || "";
    this.img.dataset.stage = "preview";
    this.details(item);
    this.navState();
    this.loadOriginal(item);
  }

  navState() {
    const ids = this.order();
    const at = ids.indexOf(this.current);
    $("viewer-prev").disabled = at <= 0;
    $("viewer-next").disabled = at < 0 || at >= ids.length - 1;
    $("viewer-position").textContent = at >= 0 ? `${at + 1} of ${ids.length}` : "";
  }

  details(item) {
    const rows = [
      ["Dimensions", item.width && item.height ? `${item.width} × ${item.height} px` : "—"],
      ["Size", formatBytes(item.bytes || 0)],
      ["Type", (item.format || item.contentType.replace("image/", "")).toUpperCase()],
      ["Uploaded", new Date(item.createdAt).toLocaleString()],
    ];
    const list = $("viewer-details");
    list.replaceChildren(...rows.map(([term, value]) => {
      const pair = document.createElement("div");
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = value;
      pair.append(dt, dd);
      return pair;
    }));
  }

  // The signed URLs in the listing may be old: ask for fresh ones, then fetch with progress.
  async loadOriginal(item) {
    this.loading.hidden = false;
    this.progress.removeAttribute("value");
    let fresh = item;
    try {
      fresh = await api("GET", `/api/images/${encodeURIComponent(item.imageId)}`);
    } catch {
      // keep the listing's URLs
    }
    if (this.current !== item.imageId || !fresh.urls) return;
    $("viewer-download").href = fresh.urls.original;
    $("viewer-download").setAttribute("download", fresh.filename);
    const xhr = new XMLHttpRequest();
    this.xhr = xhr;
    xhr.open("GET", fresh.urls.original);
    xhr.responseType = "blob";
    xhr.addEventListener("progress", (event) => {
      if (event.lengthComputable) this.progress.value = event.loaded / event.total;
    });
    xhr.addEventListener("load", () => {
      if (xhr.status !== 200) return this.fallback(fresh);
      return this.swapIn(URL.createObjectURL(xhr.response));
    });
    xhr.addEventListener("error", () => this.fallback(fresh)); // e.g. a store without CORS
    this.progress.max = 1;
    xhr.send();
  }

  swapIn(url) {
    const probe = new Image();
    probe.onload = () => {
      this.objectUrl = url;
      this.img.src = url;
      this.img.dataset.stage = "original";
      this.loading.hidden = true;
    };
    probe.onerror = () => { // HEIC and friends: the browser cannot draw it; keep the preview
      URL.revokeObjectURL(url);
      this.loading.hidden = true;
      this.note.hidden = false;
    };
    probe.src = url;
  }

  fallback(item) {
    this.xhr = null;
    this.swapIn(item.urls.original);
  }

  stopLoading() {
    if (this.xhr) this.xhr.abort();
    this.xhr = null;
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = null;
  }

  async remove() {
    const ids = this.order();
    const at = ids.indexOf(this.current);
    const gone = this.current;
    if (!(await this.onDelete(gone))) return;
    const left = this.order();
    const next = left[Math.min(at, left.length - 1)];
    if (next && next !== gone) this.show(next);
    else this.dialog.close();
  }
}
