// ThumbHash decoder (after Evan Wallace's reference, https://evanw.github.io/thumbhash/, MIT):
// turns the catalog's base64 `placeholder` into a tiny blurred data: URL shown while loading.

function aspectRatio(hash) {
  const header = hash[3];
  const hasAlpha = hash[2] & 0x80;
  const isLandscape = hash[4] & 0x80;
  const lx = isLandscape ? (hasAlpha ? 5 : 7) : header & 7;
  const ly = isLandscape ? header & 7 : hasAlpha ? 5 : 7;
  return lx / ly;
}

function readHeader(hash) {
  const h24 = hash[0] | (hash[1] << 8) | (hash[2] << 16);
  const h16 = hash[3] | (hash[4] << 8);
  const hasAlpha = h24 >> 23;
  const isLandscape = h16 >> 15;
  return {
    lDc: (h24 & 63) / 63, pDc: ((h24 >> 6) & 63) / 31.5 - 1, qDc: ((h24 >> 12) & 63) / 31.5 - 1,
    lScale: ((h24 >> 18) & 31) / 31, pScale: ((h16 >> 3) & 63) / 63,
    qScale: ((h16 >> 9) & 63) / 63, hasAlpha,
    lx: Math.max(3, isLandscape ? (hasAlpha ? 5 : 7) : h16 & 7),
    ly: Math.max(3, isLandscape ? h16 & 7 : hasAlpha ? 5 : 7),
    aDc: hasAlpha ? (hash[5] & 15) / 15 : 1, aScale: (hash[5] >> 4) / 15,
  };
}

function readFactors(hash, hd) {
  const start = hd.hasAlpha ? 6 : 5;
  let index = 0;
  const channel = (nx, ny, scale) => {
    const ac = [];
    for (let cy = 0; cy < ny; cy++) {
      for (let cx = cy ? 0 : 1; cx * ny < nx * (ny - cy); cx++, index++) {
        const nibble = (hash[start + (index >> 1)] >> ((index & 1) << 2)) & 15;
        ac.push((nibble / 7.5 - 1) * scale);
      }
    }
    return ac;
  };
  return {
    l: channel(hd.lx, hd.ly, hd.lScale), p: channel(3, 3, hd.pScale * 1.25),
    q: channel(3, 3, hd.qScale * 1.25), a: hd.hasAlpha ? channel(5, 5, hd.aScale) : [],
  };
}

// Sum one channel's AC terms at a pixel (triangle of nx by ny frequencies).
function sumAC(ac, nx, ny, fx, fy) {
  let total = 0;
  for (let cy = 0, j = 0; cy < ny; cy++) {
    for (let cx = cy ? 0 : 1; cx * ny < nx * (ny - cy); cx++, j++) {
      total += ac[j] * fx[cx] * fy[cy] * 2;
    }
  }
  return total;
}

function toRGBA(hash) {
  const hd = readHeader(hash);
  const ac = readFactors(hash, hd);
  const ratio = aspectRatio(hash);
  const w = Math.round(ratio > 1 ? 32 : 32 * ratio);
  const h = Math.round(ratio > 1 ? 32 / ratio : 32);
  const rgba = new Uint8ClampedArray(w * h * 4);
  const n = Math.max(hd.lx, hd.ly, hd.hasAlpha ? 5 : 3);
  for (let y = 0, i = 0; y < h; y++) {
    const fy = Array.from({ length: n }, (_, c) => Math.cos((Math.PI / h) * (y + 0.5) * c));
    for (let x = 0; x < w; x++, i += 4) {
      const fx = Array.from({ length: n }, (_, c) => Math.cos((Math.PI / w) * (x + 0.5) * c));
      const l = hd.lDc + sumAC(ac.l, hd.lx, hd.ly, fx, fy);
      const p = hd.pDc + sumAC(ac.p, 3, 3, fx, fy);
      const q = hd.qDc + sumAC(ac.q, 3, 3, fx, fy);
      const a = hd.hasAlpha ? hd.aDc + sumAC(ac.a, 5, 5, fx, fy) : 1;
      const b = l - (2 / 3) * p;
      const r = (3 * l - b + q) / 2;
      rgba.set([255 * r, 255 * (r - q), 255 * b, 255 * a], i);
    }
  }
  return { w, h, rgba };
}

// A PNG data: URL for a base64 ThumbHash, or "" if it cannot be decoded.
export function placeholderURL(base64) {
  try {
    const hash = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const { w, h, rgba } = toRGBA(hash);
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    canvas.getContext("2d").putImageData(new ImageData(rgba, w, h), 0, 0);
    return canvas.toDataURL();
  } catch {
    return "";
  }
}
