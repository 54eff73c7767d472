// One gallery tile per catalog item. Filenames only ever reach the page through textContent
// and attributes set from JS, never as HTML.
import { sentence } from "./api.js";
import { placeholderURL } from "./thumbhash.js";

export const SIZES = "(max-width: 440px) 46vw, (max-width: 720px) 31vw, 220px";
const NEVER_ARRIVED = "The file never arrived.";

// What the badge says and the reason shown under a settled-but-not-done tile.
export function describe(item) {
  if (item.status === "processing") return { label: "Processing", reason: "" };
  if (item.status === "done") return { label: "Ready", reason: "" };
  if (item.errorCode === "cancelled") return { label: "Cancelled", reason: "You cancelled this upload." };
  if (item.errorCode === "interrupted" || /never arrived/i.test(item.error || "")) {
    return { label: "Interrupted", reason: NEVER_ARRIVED };
  }
  return { label: "Failed", reason: sentence(item.error || "The thumbnails could not be made.") };
}

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
  img.loading = "lazy"; // the gallery makes the first row eager
  img.sizes = SIZES;
  img.srcset = `${item.urls.thumb200} 200w, ${item.urls.thumb400} 400w`;
  img.src = item.urls.thumb200;
  if (item.width && item.height) {
    img.width = item.width;
    img.height = item.height;
  }
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
    box.setAttribute("aria-hidden", "true");
  } else {
    box.append(el("span", "failed-mark", "!"));
  }
  return box;
}

function selector(item) {
  const label = el("label", "tile-select");
  const box = document.createElement("input");
  box.type = "checkbox";
  box.className = "tile-check";
  box.dataset.action = "select";
  box.setAttribute("aria-label", `Select ${item.filename}`);
  label.append(box);
  return label;
}

// A fresh <li> for `item` (replace the old one when its status changes).
export function renderTile(item) {
  const tile = el("li", "tile");
  tile.dataset.id = item.imageId;
  tile.dataset.status = item.status;
  const { label, reason } = describe(item);
  tile.dataset.kind = label.toLowerCase();
  const ready = item.status === "done" && item.urls;
  tile.append(ready ? thumbnail(item) : pending(item), selector(item));

  const meta = el("div", "tile-meta");
  const name = el("p", "tile-name", item.filename);
  name.title = item.filename;
  const badge = el("span", `badge badge-${item.status}`, label);
  const settledBad = item.status === "failed";
  const remove = el("button", "tile-delete", settledBad ? "Remove" : "Delete");
  remove.type = "button";
  remove.dataset.action = "delete";
  remove.setAttribute("aria-label", `${settledBad ? "Remove" : "Delete"} ${item.filename}`);
  const row = el("div", "tile-row");
  row.append(badge, remove);
  meta.append(name, row);
  if (reason) {
    const why = el("p", "tile-error", reason);
    why.title = reason; // the full text when the tile clamps it to two lines
    meta.append(why);
  }
  tile.append(meta);
  return tile;
}
