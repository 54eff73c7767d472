// One gallery tile per catalog item. Filenames only ever reach the page through textContent
// and attributes set from JS, never as HTML.
import { placeholderURL } from "./thumbhash.js";

const LABELS = { processing: "Processing", done: "Ready", failed: "Failed" };
export const SIZES = "(max-width: 440px) 46vw, (max-width: 720px) 31vw, 220px";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function thumbnail(item) {
  const open = el("button", "tile-media tile-open");
  open.type = "button";
  open.dataset.action = "open";
  open.setAttribute("aria-label", `Open ${item.filename}`);
  const img = document.createElement("img");
  img.alt = item.filename;
  img.decoding = "async";
  img.loading = "lazy";
  img.sizes = SIZES;
  img.srcset = `${item.urls.thumb200} 200w, ${item.urls.thumb400} 400w`;
  img.src = item.urls.thumb200;
  const hint = item.placeholder && placeholderURL(item.placeholder);
  if (hint) {
    // Shown behind the thumbnail until it paints (CSSOM, so the CSP allows it).
    open.style.backgroundImage = `url("${hint}")`;
    img.addEventListener("load", () => { open.style.backgroundImage = ""; }, { once: true });
  }
  open.append(img);
  return open;
}

function pending(item) {
  const box = el("div", "tile-media tile-pending");
  if (item.status === "processing") {
    box.append(el("span", "spinner"));
  } else {
    box.append(el("span", "failed-mark", "!"));
  }
  return box;
}

// A fresh <li> for `item` (replace the old one when its status changes).
export function renderTile(item) {
  const tile = el("li", "tile");
  tile.dataset.id = item.imageId;
  tile.dataset.status = item.status;
  const ready = item.status === "done" && item.urls;
  tile.append(ready ? thumbnail(item) : pending(item));

  const meta = el("div", "tile-meta");
  const name = el("p", "tile-name", item.filename);
  name.title = item.filename;
  const badge = el("span", `badge badge-${item.status}`, LABELS[item.status] || item.status);
  const remove = el("button", "tile-delete", "Delete");
  remove.type = "button";
  remove.dataset.action = "delete";
  remove.setAttribute("aria-label", `Delete ${item.filename}`);
  const row = el("div", "tile-row");
  row.append(badge, remove);
  meta.append(name, row);
  if (item.status === "failed") {
    meta.append(el("p", "tile-error", item.error || "Could not make thumbnails."));
  }
  tile.append(meta);
  return tile;
}
