// ThumbHash placeholders of Library tiles: an <img data-thumbhash="..."> that has
// not loaded yet shows its blurred ThumbHash as a background until it has.
//
// A decoder of our own, not the `thumbhash` npm package: the project has no npm
// build, and only decoding is needed here, in about fifty lines. It is the
// browser twin of media_processing/thumbhash.py's to_image(), which encoded the
// hash (Evan Wallace's format: an average colour and a few DCT terms of
// luminance, two colour channels and alpha, 4 bits each), and follows it step by step.
(function () {
  "use strict";

  const SIDE = 32;

  function decode(hash) {
    const data = Uint8Array.from(atob(hash), (c) => c.charCodeAt(0));
    const header24 = data[0] | (data[1] << 8) | (data[2] << 16);
    const header16 = data[3] | (data[4] << 8);
    const hasAlpha = header24 >> 23 !== 0;
    const landscape = header16 >> 15 !== 0;
    const lxRaw = landscape ? (hasAlpha ? 5 : 7) : header16 & 7;
    const lyRaw = landscape ? header16 & 7 : hasAlpha ? 5 : 7;
    const lx = Math.max(3, lxRaw);
    const ly = Math.max(3, lyRaw);
    const lDc = (header24 & 63) / 63;
    const pDc = ((header24 >> 6) & 63) / 31.5 - 1;
    const qDc = ((header24 >> 12) & 63) / 31.5 - 1;
    const lScale = ((header24 >> 18) & 31) / 31;
    const pScale = ((header16 >> 3) & 63) / 63;
    const qScale = ((header16 >> 9) & 63) / 63;
    const aDc = hasAlpha ? (data[5] & 15) / 15 : 1;
    const aScale = hasAlpha ? (data[5] >> 4) / 15 : 0;
    const start = hasAlpha ? 6 : 5;
    let index = 0;

    function read(nx, ny, scale) {
      const terms = [];
      for (let cy = 0; cy < ny; cy++) {
        for (let cx = cy ? 0 : 1; cx * ny < nx * (ny - cy); cx++, index++) {
          const nibble = (data[start + (index >> 1)] >> ((index & 1) << 2)) & 15;
          terms.push((nibble / 7.5 - 1) * scale);
        }
      }
      return terms;
    }
    // As the reference decoder does, colour is boosted by 1.25 to make up for quantisation.
    const lAc = read(lx, ly, lScale);
    const pAc = read(3, 3, pScale * 1.25);
    const qAc = read(3, 3, qScale * 1.25);
    const aAc = hasAlpha ? read(5, 5, aScale) : [];

    function sum(ac, nx, ny, fx, fy) {
      let total = 0;
      for (let cy = 0, j = 0; cy < ny; cy++) {
        for (let cx = cy ? 0 : 1; cx * ny < nx * (ny - cy); cx++, j++) total += ac[j] * fx[cx] * fy[cy];
      }
      return total;
    }

    const ratio = lxRaw / lyRaw;
    const w = Math.round(ratio > 1 ? SIDE : SIDE * ratio);
    const h = Math.round(ratio > 1 ? SIDE / ratio : SIDE);
    const pixels = new Uint8ClampedArray(w * h * 4);
    const fx = [];
    const fy = [];
    for (let y = 0, i = 0; y < h; y++) {
      for (let c = 0; c < Math.max(ly, 5); c++) fy[c] = Math.cos((Math.PI / h) * (y + 0.5) * c) * 2;
      for (let x = 0; x < w; x++, i += 4) {
        for (let c = 0; c < Math.max(lx, 5); c++) fx[c] = Math.cos((Math.PI / w) * (x + 0.5) * c);
        const l = lDc + sum(lAc, lx, ly, fx, fy);
        const p = pDc + sum(pAc, 3, 3, fx, fy);
        const q = qDc + sum(qAc, 3, 3, fx, fy);
        const b = l - (2 / 3) * p;
        const r = (3 * l - b + q) / 2;
        pixels[i] = 255 * r;
        pixels[i + 1] = 255 * (r - q);
        pixels[i + 2] = 255 * b;
        pixels[i + 3] = 255 * (hasAlpha ? aDc + sum(aAc, 5, 5, fx, fy) : 1);
      }
    }
    return new ImageData(pixels, w, h);
  }

  const canvas = document.createElement("canvas");
  function dataUrl(hash) {
    const image = decode(hash);
    canvas.width = image.width;
    canvas.height = image.height;
    canvas.getContext("2d").putImageData(image, 0, 0);
    return canvas.toDataURL();
  }

  function paint(root) {
    if (!(root instanceof Element)) return;
    root.querySelectorAll("img[data-thumbhash]").forEach((img) => {
      if (img.complete && img.naturalWidth) return; // already there (from the cache): nothing to stand in for
      try {
        img.style.backgroundImage = "url(" + dataUrl(img.dataset.thumbhash) + ")";
      } catch (error) {
        return; // a malformed hash only means no placeholder
      }
      const done = () => { img.style.backgroundImage = ""; };
      img.addEventListener("load", done, { once: true });
    });
  }
  htmx.onLoad(paint);
  window.i2vThumbhash = { decode };
})();
