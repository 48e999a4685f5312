// web_ort.js - the anchor of bench/bench_web.sh: ONNX Runtime Web (npm
// onnxruntime-web, its WASM SIMD backend, one thread) in the same headless
// Chromium as interp's page, doing what the reference browser demo does:
// occlusion of one 3x128x128 image as batched full forwards of the occluded
// copies (patch 24, stride 8, fill 0.5, batch 64; 196 copies), plus session
// creation and one plain forward. Query: ?model=URL&image=URL&reps=N.
// The result lands in window.ortResult (and the page text).
/* global ort */
'use strict';

function grid(n, P, S) {
  const pos = [];
  for (let y = 0; y + P <= n; y += S) pos.push(y);
  if (pos[pos.length - 1] + P < n) pos.push(n - P);
  return pos;
}

async function imageTensor(url, H, W) {
  const bmp = await createImageBitmap(await (await fetch(url)).blob(),
    {colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
  const cv = new OffscreenCanvas(W, H), ctx = cv.getContext('2d');
  ctx.drawImage(bmp, 0, 0, W, H);
  const d = ctx.getImageData(0, 0, W, H).data, x = new Float32Array(3 * H * W);
  for (let i = 0; i < H * W; i++)
    for (let c = 0; c < 3; c++) x[c * H * W + i] = d[4 * i + c] / 255;
  return x;
}

async function occlusion(sess, inName, x, P, S, batch) {
  const H = 128, C = 3, item = C * H * H;
  const ys = grid(H, P, S), copies = [];
  for (const y of ys) for (const x0 of ys) copies.push([y, x0]);
  let sum = 0;
  for (let b = 0; b < copies.length; b += batch) {
    const n = Math.min(batch, copies.length - b), buf = new Float32Array(n * item);
    for (let i = 0; i < n; i++) {
      buf.set(x, i * item);
      const [y0, x0] = copies[b + i];
      for (let c = 0; c < C; c++)
        for (let y = y0; y < y0 + P; y++)
          buf.fill(0.5, i * item + (c * H + y) * H + x0, i * item + (c * H + y) * H + x0 + P);
    }
    const r = await sess.run({[inName]: new ort.Tensor('float32', buf, [n, C, H, H])});
    sum += r[sess.outputNames[0]].data[0];
  }
  return {copies: copies.length, sum};
}

async function main() {
  const q = new URLSearchParams(location.search), reps = Number(q.get('reps') || 5);
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.simd = true;
  ort.env.wasm.wasmPaths = new URL('ort/', location.href).href;
  const model = new Uint8Array(await (await fetch(q.get('model'))).arrayBuffer());
  const x = await imageTensor(q.get('image'), 128, 128);
  const t = {load: [], predict: [], occlusion: []};
  let sess = null;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    sess = await ort.InferenceSession.create(model, {executionProviders: ['wasm'],
                                                     graphOptimizationLevel: 'all'});
    t.load.push(performance.now() - t0);
  }
  const inName = sess.inputNames[0];
  const one = new ort.Tensor('float32', x, [1, 3, 128, 128]);
  await sess.run({[inName]: one}); // warm-up
  for (let i = 0; i < reps * 4; i++) {
    const t0 = performance.now();
    await sess.run({[inName]: one});
    t.predict.push(performance.now() - t0);
  }
  let occ = null;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    occ = await occlusion(sess, inName, x, 24, 8, 64);
    t.occlusion.push(performance.now() - t0);
  }
  window.ortResult = {times: t, copies: occ.copies, version: ort.env.versions ? ort.env.versions.web : '?'};
  document.getElementById('out').textContent = JSON.stringify(window.ortResult);
}

main().catch((e) => {
  window.ortResult = {error: String(e && e.stack || e)};
  document.getElementById('out').textContent = 'error: ' + e;
});
