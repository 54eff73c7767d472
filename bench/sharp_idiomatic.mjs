// sharp's idiomatic thumbnail code: one sharp(buffer).resize(w) pipeline per width (so the
// original is decoded once per width). Used only by `python -m imgdrop.bench`.
// Install (once): cd bench/node && npm install sharp
// Usage: node bench/sharp_idiomatic.mjs REPEAT FILE...  -> JSON lines {file, ms: [...], bytes}
// (or {file, error} for a file sharp cannot read)
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), "node", "x.js"));
const sharp = require("sharp");
sharp.concurrency(Number(process.env.SHARP_CONCURRENCY || 1));
sharp.cache(false); // every upload is new; a cache would flatter repeated runs

const SAME = new Set(["jpeg", "png", "webp", "gif"]);

async function thumbnails(buffer) {
  const { format } = await sharp(buffer).metadata();
  const out = SAME.has(format) ? format : "jpeg";
  const made = await Promise.all([400, 200].map((width) =>
    sharp(buffer).rotate().resize({ width, withoutEnlargement: true }).toFormat(out).toBuffer()));
  return made.reduce((sum, b) => sum + b.length, 0);
}

const [repeat, ...files] = process.argv.slice(2);
for (const file of files) {
  const buffer = readFileSync(file);
  let bytes;
  try {
    bytes = await thumbnails(buffer); // warm-up
  } catch (err) { // e.g. HEIC: sharp's prebuilt libvips has no HEVC decoder
    console.log(JSON.stringify({ file, error: String(err.message || err).split("\n")[0] }));
    continue;
  }
  const ms = [];
  for (let i = 0; i < Number(repeat); i++) {
    const t0 = process.hrtime.bigint();
    bytes = await thumbnails(buffer);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  console.log(JSON.stringify({ file, ms, bytes, rss: process.resourceUsage().maxRSS * 1024 }));
}
