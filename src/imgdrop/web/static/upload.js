// The upload queue: checks each file, hashes it, asks POST /api/uploads for a presigned form
// (or learns it is a duplicate), posts the bytes straight to the blob store, then follows the
// item through processing. Network errors retry with back-off; cancel settles the item at once.
import { api, ApiError, csrfToken, formatBytes, sentence } from "./api.js";
import { renderRow, renderSummary } from "./upload-view.js";

const BY_EXTENSION = {
  jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", webp: "image/webp",
  gif: "image/gif", avif: "image/avif", heic: "image/heic", heif: "image/heic",
  tif: "image/tiff", tiff: "image/tiff",
};
const ALIASES = { "image/jpg": "image/jpeg", "image/heif": "image/heic" };
const NAMES = {
  "application/pdf": "A PDF document", "text/plain": "A text file", "image/svg+xml": "An SVG drawing",
  "image/bmp": "A BMP image", "application/zip": "A ZIP archive", "video/mp4": "A video",
};
const PARALLEL = 3;
export const RETRY_DELAYS_MS = [500, 1500, 3000];
const SETTLED = new Set(["ready", "failed", "duplicate", "cancelled", "interrupted"]);
const CANCELLABLE = new Set(["waiting", "preparing", "uploading"]);

// Browsers leave `type` empty for some formats (HEIC on most desktops): fall back to the name.
export function contentTypeOf(file) {
  const declared = (file.type || "").toLowerCase();
  if (declared) return ALIASES[declared] || declared;
  const ext = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  return BY_EXTENSION[ext] || "";
}

// A human reason the server would refuse this file, or "" when it looks acceptable.
export function checkFile(file, config) {
  const type = contentTypeOf(file);
  if (!config.acceptedTypes.includes(type)) {
    const what = NAMES[type] || "This kind of file";
    const kinds = config.acceptedTypes.map((t) => t.replace("image/", "").toUpperCase());
    return `${what} is not a photo imgdrop can use. Choose ${kinds.join(", ")} files.`;
  }
  if (file.size === 0) return "The file is empty.";
  if (file.size > config.maxUploadBytes) {
    return `It is ${formatBytes(file.size)}; the limit is ${formatBytes(config.maxUploadBytes)}.`;
  }
  return "";
}

// Lowercase hex SHA-256 of the file, or null where the browser has no WebCrypto (plain http
// on a LAN address): the server then simply cannot spot duplicates.
async function sha256(file) {
  if (!globalThis.crypto?.subtle) return null;
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// Our local store answers {"error": {...}}; S3 answers XML with a <Message>.
function storeError(xhr) {
  try {
    return sentence(JSON.parse(xhr.responseText).error.message);
  } catch {
    const match = /<Message>([^<]*)<\/Message>/.exec(xhr.responseText || "");
    return match ? sentence(match[1]) : `The store refused the file (${xhr.status}).`;
  }
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

export class UploadQueue {
  constructor(list, summary, config, hooks) {
    this.list = list;
    this.summary = summary;
    this.config = config;
    this.hooks = hooks; // {onStored(imageId), onDuplicate(item), onCancelled(imageId), onChange()}
    this.entries = [];
    this.pending = [];
    this.running = 0;
    this.folded = false;
  }

  add(files) {
    for (const file of files) {
      const entry = { file, state: "waiting", reason: "", loaded: 0, imageId: null, attempt: 0 };
      entry.view = renderRow(entry, this);
      this.entries.push(entry);
      this.list.prepend(entry.view.row);
      this.pending.push(entry);
    }
    this.folded = false;
    this.refresh();
    this.pump();
  }

  get active() {
    return this.entries.some((entry) => !SETTLED.has(entry.state));
  }

  pump() {
    while (this.running < PARALLEL && this.pending.length) {
      const entry = this.pending.shift();
      if (entry.state !== "waiting") continue;
      this.running += 1;
      this.run(entry).finally(() => { this.running -= 1; this.pump(); });
    }
  }

  set(entry, state, reason = "") {
    entry.state = state;
    entry.reason = reason;
    entry.view.update(entry);
    this.refresh();
  }

  refresh() {
    const active = this.active;
    // All settled: fold the list away, unless a row still offers Retry.
    const waitingForRetry = this.entries.some((entry) => entry.state === "interrupted");
    if (this.wasActive && !active && !waitingForRetry) this.folded = true;
    this.wasActive = active;
    renderSummary(this.summary, this.entries, this);
    this.hooks.onChange?.();
  }

  async run(entry) {
    const problem = checkFile(entry.file, this.config);
    if (problem) return this.set(entry, "failed", problem);
    this.set(entry, "preparing");
    try {
      entry.sha256 ??= await sha256(entry.file);
    } catch {
      entry.sha256 = null; // unreadable here: the upload below reports it properly
    }
    for (let attempt = 0; ; attempt += 1) {
      if (entry.state === "cancelled") return undefined;
      const outcome = await this.attempt(entry);
      if (outcome !== "network") return undefined;
      if (attempt >= RETRY_DELAYS_MS.length) {
        return this.set(entry, "interrupted", "The connection dropped, so the file never arrived.");
      }
      if (entry.state === "cancelled") return undefined;
      this.set(entry, "uploading", `Connection lost; trying again in ${RETRY_DELAYS_MS[attempt] / 1000} s…`);
      await sleep(RETRY_DELAYS_MS[attempt]);
    }
  }

  // One try at the whole upload: "done" (the entry is settled or processing) or "network".
  async attempt(entry) {
    let ticket;
    try {
      const body = { filename: entry.file.name, contentType: contentTypeOf(entry.file), size: entry.file.size };
      if (entry.sha256) body.sha256 = entry.sha256;
      if (entry.allowDuplicate) body.allowDuplicate = true;
      ticket = await api("POST", "/api/uploads", body);
    } catch (error) {
      if (error.code === "network") return "network";
      this.set(entry, "failed", error.message);
      return "done";
    }
    entry.imageId = ticket.imageId;
    if (entry.state === "cancelled" && ticket.duplicate) return "done";
    if (ticket.duplicate) {
      this.set(entry, "duplicate");
      this.hooks.onDuplicate?.(ticket);
      return "done";
    }
    if (entry.state === "cancelled") {
      await this.settleOnServer(entry);
      return "done";
    }
    this.set(entry, "uploading");
    const sent = await this.post(entry, ticket.upload);
    if (sent === "stored") {
      this.set(entry, "processing");
      this.hooks.onStored(entry.imageId);
      return "done";
    }
    if (sent === "aborted") return "done";
    if (sent === "network") {
      // The bytes may have arrived before the connection dropped: a 409 from cancel says so.
      // Otherwise the item is discarded: the user cancelled nothing, and the next try (or
      // Retry) makes a new one, so no stale "Cancelled" tile is left per attempt.
      const arrived = await this.settleOnServer(entry, { discard: true });
      if (arrived) {
        this.set(entry, "processing");
        this.hooks.onStored(entry.imageId);
        return "done";
      }
      return "network";
    }
    this.set(entry, "failed", sent.reason);
    return "done";
  }

  // POST the signed fields (in order) then `file`: "stored", "network", "aborted" or {reason}.
  post(entry, upload) {
    return new Promise((resolve) => {
      const data = new FormData();
      for (const [key, value] of Object.entries(upload.fields)) data.append(key, value);
      data.append("file", entry.file);
      const xhr = new XMLHttpRequest();
      entry.xhr = xhr;
      xhr.open("POST", upload.url);
      xhr.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        entry.loaded = Math.min(entry.file.size, (entry.file.size * event.loaded) / event.total);
        entry.view.update(entry);
        renderSummary(this.summary, this.entries, this);
      });
      const done = (outcome) => { entry.xhr = null; resolve(outcome); };
      xhr.addEventListener("load", () => {
        if (xhr.status >= 200 && xhr.status < 300) done("stored");
        else if (xhr.status >= 500) done("network");
        else done({ reason: storeError(xhr) });
      });
      xhr.addEventListener("error", () => done("network"));
      xhr.addEventListener("timeout", () => done("network"));
      xhr.addEventListener("abort", () => done("aborted"));
      xhr.send(data);
    });
  }

  // Tell the server the bytes will not come; true when they had in fact arrived (409).
  // With `discard` the settled item is then deleted (an attempt the client will redo).
  async settleOnServer(entry, { discard = false } = {}) {
    const imageId = entry.imageId;
    if (!imageId) return false;
    try {
      await api("POST", `/api/uploads/${encodeURIComponent(imageId)}/cancel`);
      if (discard) await api("DELETE", `/api/images/${encodeURIComponent(imageId)}`).catch(() => {});
    } catch (error) {
      if (error.status === 409) return true;
      if (error.status === 404 || error.status === 405) {
        // A server without the cancel route: remove the item, so nothing waits for bytes.
        await api("DELETE", `/api/images/${encodeURIComponent(imageId)}`).catch(() => {});
      }
    }
    entry.imageId = null;
    this.hooks.onCancelled?.(imageId);
    return false;
  }

  cancel(entry) {
    if (!CANCELLABLE.has(entry.state)) return;
    const hadItem = Boolean(entry.imageId);
    this.set(entry, "cancelled");
    if (entry.xhr) entry.xhr.abort();
    if (hadItem) this.settleOnServer(entry);
  }

  cancelAll() {
    for (const entry of this.entries) this.cancel(entry);
  }

  retry(entry, options = {}) {
    entry.imageId = null;
    entry.loaded = 0;
    entry.allowDuplicate = Boolean(options.allowDuplicate);
    this.set(entry, "waiting");
    this.pending.push(entry);
    this.folded = false;
    this.pump();
  }

  remove(entry) {
    this.entries = this.entries.filter((other) => other !== entry);
    entry.view.row.remove();
    this.refresh();
  }

  clearSettled() {
    for (const entry of [...this.entries]) if (SETTLED.has(entry.state)) this.remove(entry);
  }

  toggleFold() {
    this.folded = !this.folded;
    this.refresh();
  }

  // The gallery saw an item change: rows that follow it move on from "processing".
  itemChanged(item) {
    for (const entry of this.entries) {
      if (entry.imageId !== item.imageId || entry.state !== "processing") continue;
      if (item.status === "done") this.set(entry, "ready");
      else if (item.status === "failed") this.set(entry, "failed", sentence(item.error || "The thumbnails could not be made."));
    }
  }

  // pagehide: the page is going away, so settle every item whose bytes have not arrived.
  abandon() {
    for (const entry of this.entries) {
      if (!entry.imageId || !["uploading", "preparing"].includes(entry.state)) continue;
      fetch(`/api/uploads/${encodeURIComponent(entry.imageId)}/cancel`, {
        method: "POST", keepalive: true, credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfToken },
      }).catch(() => {});
    }
  }
}

export { ApiError };
