// The upload queue: checks each file against the server's limits, asks POST /api/uploads for a
// presigned form, then posts the bytes straight to the blob store with per-file progress.
import { api, formatBytes } from "./api.js";

const BY_EXTENSION = {
  jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", webp: "image/webp",
  gif: "image/gif", avif: "image/avif", heic: "image/heic", heif: "image/heic",
  tif: "image/tiff", tiff: "image/tiff",
};
const ALIASES = { "image/jpg": "image/jpeg", "image/heif": "image/heic" };
const PARALLEL = 3;

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
    return `${type || "This file type"} is not accepted.`;
  }
  if (file.size === 0) return "The file is empty.";
  if (file.size > config.maxUploadBytes) {
    return `${formatBytes(file.size)} is over the ${formatBytes(config.maxUploadBytes)} limit.`;
  }
  return "";
}

function uploadRow(file) {
  const row = document.createElement("li");
  row.className = "upload";
  const name = document.createElement("span");
  name.className = "upload-name";
  name.textContent = file.name;
  const size = document.createElement("span");
  size.className = "upload-size";
  size.textContent = formatBytes(file.size);
  const progress = document.createElement("progress");
  progress.max = 100;
  progress.value = 0;
  progress.setAttribute("aria-label", `Upload progress of ${file.name}`);
  const state = document.createElement("span");
  state.className = "upload-state";
  state.textContent = "Waiting…";
  row.append(name, size, progress, state);
  return { row, progress, state };
}

function setState(view, text, kind) {
  view.state.textContent = text;
  view.row.dataset.state = kind;
}

// Multipart POST of the signed fields (in order) then `file`, reporting progress; 2xx = stored.
function postForm(upload, file, onProgress) {
  return new Promise((resolve, reject) => {
    const data = new FormData();
    for (const [key, value] of Object.entries(upload.fields)) data.append(key, value);
    data.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", upload.url);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress((100 * event.loaded) / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else reject(new Error(storeError(xhr)));
    });
    xhr.addEventListener("error", () => reject(new Error("The upload was interrupted.")));
    xhr.send(data);
  });
}

// Our local store answers {"error": {...}}; S3 answers XML with a <Message>.
function storeError(xhr) {
  try {
    return JSON.parse(xhr.responseText).error.message;
  } catch {
    const match = /<Message>([^<]*)<\/Message>/.exec(xhr.responseText || "");
    return match ? match[1] : `The upload failed (${xhr.status}).`;
  }
}

async function uploadOne(file, view, config, onUploaded) {
  const problem = checkFile(file, config);
  if (problem) {
    setState(view, problem, "error");
    return;
  }
  try {
    setState(view, "Starting…", "active");
    const ticket = await api("POST", "/api/uploads", {
      filename: file.name, contentType: contentTypeOf(file), size: file.size,
    });
    setState(view, "Uploading…", "active");
    await postForm(ticket.upload, file, (pct) => { view.progress.value = pct; });
    view.progress.value = 100;
    setState(view, "Uploaded", "done");
    onUploaded(ticket.imageId);
  } catch (error) {
    setState(view, error.message, "error");
  }
}

// Queue `files`, at most PARALLEL at a time; `onUploaded(imageId)` fires as each one lands.
export async function uploadFiles(files, list, config, onUploaded) {
  const views = Array.from(files, (file) => ({ file, ...uploadRow(file) }));
  list.prepend(...views.map((view) => view.row));
  const jobs = views.map((view) => () => uploadOne(view.file, view, config, onUploaded));
  const workers = Array.from({ length: Math.min(PARALLEL, jobs.length) }, async () => {
    while (jobs.length) await jobs.shift()();
  });
  await Promise.all(workers);
}
