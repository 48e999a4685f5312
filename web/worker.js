// worker.js - the page's Web Worker: runs interp's WebAssembly module
// (interp_wasm.js, concatenated before this file by `make web` into one
// function the page starts from a Blob URL). It loads the model, decodes each
// image (PNG/JPEG/WebP with the browser's decoders, BMP/GIF with interp's),
// and answers with the prediction, the Grad-CAM map and the occlusion map,
// each with its overlay drawn as `interp gradcam/occlusion` draws it.
// The page terminates this worker to cancel work; it never waits on it.
/* global createInterp, INTERP_WASM_BASE64 */
'use strict';

let M = null;
let limits = {budget: 1 << 30, maxPixels: 50e6};

function post(msg, transfer) {
  self.postMessage(msg, transfer || []);
}

// the wasm bytes, from the base64 that `make web` put before this code
function wasmBytes() {
  const s = atob(INTERP_WASM_BASE64), b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

const ready = createInterp({
  wasmBinary: wasmBytes(),
  print: () => {},
  printErr: () => {},
  onAbort: (what) => post({type: 'fatal', message: 'the engine stopped: ' + what}),
}).then((mod) => {
  M = mod;
  const cm = {};
  const buf = M._malloc(768);
  for (const name of ['jet', 'coolwarm', 'viridis']) {
    const nm = cstr(name);
    M._web_colormap(nm, buf);
    M._free(nm);
    cm[name] = M.HEAPU8.slice(buf, buf + 768);
  }
  M._free(buf);
  post({type: 'ready', colormaps: cm});
});

// ---- small helpers over the module's memory
function cstr(s) {
  const n = s.length * 3 + 1, p = M._malloc(n);
  M.stringToUTF8 ? M.stringToUTF8(s, p, n) : writeUtf8(s, p, n);
  return p;
}
function writeUtf8(s, p, n) {
  const b = new TextEncoder().encode(s);
  M.HEAPU8.set(b.subarray(0, n - 1), p);
  M.HEAPU8[p + Math.min(b.length, n - 1)] = 0;
}
function lastJson() {
  return JSON.parse(M.UTF8ToString(M._web_json()));
}
function lastError() {
  return M.UTF8ToString(M._web_error());
}
function floats(ptr, n) {
  return M.HEAPF32.slice(ptr / 4, ptr / 4 + n);
}
function withBytes(bytes, fn) {
  const u8 = new Uint8Array(bytes), p = M._malloc(u8.length || 1);
  M.HEAPU8.set(u8, p);
  try {
    return fn(p, u8.length);
  } finally {
    M._free(p);
  }
}
const now = () => performance.now();

// ---- image headers: the size before anything is decoded
function u16be(b, i) { return (b[i] << 8) | b[i + 1]; }
function u32be(b, i) { return ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]); }
function u16le(b, i) { return b[i] | (b[i + 1] << 8); }
function u24le(b, i) { return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16); }
function u32le(b, i) { return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0; }

// -> {format, w, h} (w, h 0 when the header does not say), or null
function imageHeader(b) {
  if (b.length >= 24 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47)
    return {format: 'PNG', w: u32be(b, 16), h: u32be(b, 20)};
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) {
    for (let i = 2; i + 9 < b.length;) { // markers up to the first SOFn
      if (b[i] !== 0xff) { i++; continue; }
      const m = b[i + 1];
      if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7) || m === 0xff) { i += m === 0xff ? 1 : 2; continue; }
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc)
        return {format: 'JPEG', w: u16be(b, i + 7), h: u16be(b, i + 5)};
      i += 2 + u16be(b, i + 2);
    }
    return {format: 'JPEG', w: 0, h: 0};
  }
  if (b.length >= 30 && String.fromCharCode(...b.subarray(0, 4)) === 'RIFF' &&
      String.fromCharCode(...b.subarray(8, 12)) === 'WEBP') {
    const kind = String.fromCharCode(...b.subarray(12, 16));
    if (kind === 'VP8X') return {format: 'WebP', w: u24le(b, 24) + 1, h: u24le(b, 27) + 1};
    if (kind === 'VP8L') {
      const v = u32le(b, 21);
      return {format: 'WebP', w: (v & 0x3fff) + 1, h: ((v >> 14) & 0x3fff) + 1};
    }
    if (kind === 'VP8 ') return {format: 'WebP', w: u16le(b, 26) & 0x3fff, h: u16le(b, 28) & 0x3fff};
    return {format: 'WebP', w: 0, h: 0};
  }
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return {format: 'BMP', w: 0, h: 0};
  if (b.length >= 6 && String.fromCharCode(...b.subarray(0, 3)) === 'GIF') return {format: 'GIF', w: 0, h: 0};
  return null;
}

// Decodes an image: {w, h, rgba} with interp holding its pixels; throws an
// Error whose message is for the page.
async function decodeImage(bytes, name) {
  const b = new Uint8Array(bytes);
  if (!b.length) throw new Error(`${name}: empty file`);
  const hd = imageHeader(b);
  if (!hd) throw new Error(`${name}: not a PNG, JPEG, WebP, BMP or GIF image`);
  if (hd.w * hd.h > limits.maxPixels)
    throw new Error(`${name}: the ${hd.format} image is ${hd.w} x ${hd.h} = ` +
                    `${(hd.w * hd.h).toLocaleString('en')} pixels, more than the page's limit of ` +
                    `${limits.maxPixels.toLocaleString('en')}`);
  if (hd.format === 'BMP' || hd.format === 'GIF') { // interp's own decoders
    const nm = cstr(name);
    const rc = withBytes(bytes, (p, n) => M._web_image_decode(p, n, nm));
    M._free(nm);
    if (rc) throw new Error(lastError());
    const d = lastJson(), out = M._malloc(d.w * d.h * 4);
    M._web_image_rgba(out);
    const rgba = M.HEAPU8.slice(out, out + d.w * d.h * 4);
    M._free(out);
    return {w: d.w, h: d.h, rgba};
  }
  let bmp;
  try {
    bmp = await createImageBitmap(new Blob([bytes]), {
      colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'none'});
  } catch (e) {
    throw new Error(`${name}: the ${hd.format} image does not decode (${e.message || e})`);
  }
  const w = bmp.width, h = bmp.height;
  if (w * h > limits.maxPixels) {
    bmp.close();
    throw new Error(`${name}: ${w} x ${h} pixels, more than the page's limit`);
  }
  const cv = new OffscreenCanvas(w, h), ctx = cv.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  const rgba = ctx.getImageData(0, 0, w, h).data;
  // the channels interp's decoder would give: gray when R = G = B everywhere,
  // no alpha when it is opaque everywhere
  let gray = true, opaque = true;
  for (let i = 0; i < rgba.length && (gray || opaque); i += 4) {
    if (rgba[i] !== rgba[i + 1] || rgba[i] !== rgba[i + 2]) gray = false;
    if (rgba[i + 3] !== 255) opaque = false;
  }
  const c = gray ? (opaque ? 1 : 2) : (opaque ? 3 : 4), n = w * h;
  const pix = new Uint8Array(n * c);
  for (let i = 0; i < n; i++) {
    if (c === 1) pix[i] = rgba[4 * i];
    else if (c === 2) { pix[2 * i] = rgba[4 * i]; pix[2 * i + 1] = rgba[4 * i + 3]; }
    else for (let k = 0; k < c; k++) pix[c * i + k] = rgba[4 * i + k];
  }
  const rc = withBytes(pix.buffer, (p) => M._web_image_set(p, h, w, c));
  if (rc) throw new Error(`${name}: ${lastError()}`);
  return {w, h, rgba: new Uint8Array(rgba.buffer.slice(0))};
}

// ---- the explanations
function overlay(d, cmap, vmin, vmax, img) {
  const out = M._malloc(img.w * img.h * 4), nm = cstr(cmap);
  M._web_overlay(d.imap, d.ih, d.iw, nm, vmin, vmax, 0.5, out);
  const rgba = M.HEAPU8.slice(out, out + img.w * img.h * 4);
  M._free(out);
  M._free(nm);
  return rgba;
}

function mapResult(d, cmap, vmin, vmax, img, ms) {
  const r = Object.assign({}, d, {ms, cmap, vmin, vmax});
  r.lmap = d.lmap ? floats(d.lmap, d.lh * d.lw) : null;
  r.imap = floats(d.imap, d.ih * d.iw);
  r.overlay = overlay(d, cmap, vmin, vmax, img);
  return r;
}

function predict() {
  const t0 = now();
  if (M._web_predict()) throw new Error(lastError());
  const d = lastJson();
  return {probs: floats(d.probs, d.classes), ms: now() - t0};
}

function gradcam(img, o) {
  const t0 = now(), nm = cstr(o.layer || '');
  const rc = M._web_gradcam(nm, o.cls, o.method === 'gradcam++' ? 1 : 0);
  M._free(nm);
  if (rc) throw new Error(lastError());
  const ms = now() - t0, d = lastJson();
  return mapResult(d, 'jet', 0, d.map_max > 0 ? d.map_max : 0, img, ms);
}

function occlusion(img, o, id) {
  let last = 0;
  M.onProgress = (done, total) => {
    const t = now();
    if (t - last > 50 || done === total) {
      last = t;
      post({type: 'progress', id, done, total});
    }
  };
  const t0 = now();
  const rc = M._web_occlusion(o.patch, o.stride, 0.5, o.cls, o.batch || 16);
  M.onProgress = null;
  if (rc) throw new Error(lastError());
  const ms = now() - t0, d = lastJson();
  let a = Math.max(Math.abs(d.map_min), Math.abs(d.map_max));
  if (!isFinite(a)) a = 0;
  return mapResult(d, 'coolwarm', -a, a, img, ms);
}

let image = null; // {w, h, rgba} of the current image

async function explain(id, o) {
  const g = gradcam(image, o);
  post({type: 'gradcam', id, result: g}, [g.imap.buffer, g.overlay.buffer]);
  const oc = occlusion(image, o, id);
  post({type: 'occlusion', id, result: oc}, [oc.imap.buffer, oc.overlay.buffer]);
}

const handlers = {
  init(m) {
    limits = {budget: m.budget, maxPixels: m.maxPixels};
    M._web_limits(m.budget, m.maxPixels);
    post({type: 'init'});
  },
  model(m) {
    image = null;
    const t0 = now(), nm = cstr(m.name);
    const rc = withBytes(m.bytes, (p, n) => M._web_model_load(p, n, nm));
    M._free(nm);
    if (rc) return post({type: 'model', ok: false, error: lastError()});
    post({type: 'model', ok: true, summary: lastJson(), ms: now() - t0});
  },
  async image(m) {
    image = null;
    const t0 = now();
    let img;
    try {
      img = await decodeImage(m.bytes, m.name);
    } catch (e) {
      return post({type: 'error', id: m.id, stage: 'image', message: e.message});
    }
    image = img;
    const rgba = img.rgba.slice(0);
    post({type: 'image', id: m.id, w: img.w, h: img.h, rgba, ms: now() - t0}, [rgba.buffer]);
    const p = predict();
    post({type: 'predict', id: m.id, probs: p.probs, ms: p.ms});
    await explain(m.id, m.opts);
    post({type: 'done', id: m.id});
  },
  async explain(m) {
    if (!image) return post({type: 'error', id: m.id, stage: 'explain', message: 'no image'});
    await explain(m.id, m.opts);
    post({type: 'done', id: m.id});
  },
  // timings of each step on the current image, reps times (bench/bench_web.sh)
  bench(m) {
    const t = {predict: [], gradcam: [], occlusion: []};
    for (let i = 0; i < m.reps; i++) {
      t.predict.push(predict().ms);
      t.gradcam.push(gradcam(image, m.opts).ms);
      t.occlusion.push(occlusion(image, m.opts, m.id).ms);
    }
    post({type: 'bench', id: m.id, times: t});
  },
};

self.onmessage = async (e) => {
  await ready;
  const m = e.data;
  try {
    await handlers[m.type](m);
  } catch (err) {
    // a trap (out of memory, a bug) leaves the module unusable: the page
    // replaces this worker
    const msg = err && err.message ? err.message : String(err);
    if (err instanceof Error && !(err instanceof WebAssembly.RuntimeError) && m.id !== undefined &&
        !/abort/i.test(msg))
      post({type: 'error', id: m.id, stage: m.type, message: msg});
    else
      post({type: 'fatal', message: msg});
  }
};
