// ort_occlusion.js - the ONNX Runtime side of bench/bench_explain.sh: occlusion
// of one 3x128x128 image as batched full forwards (patch 24, stride 8 and 4,
// fill 0.5, batch 64) on the CPU with 2 threads. Prints one JSON object.
//   NODE_PATH=DIR/node_modules node ort_occlusion.js MODEL
const ort = require('onnxruntime-node');

function grid(n, P, S) {
  const pos = [];
  for (let y = 0; y + P <= n; y += S) pos.push(y);
  if (pos[pos.length - 1] + P < n) pos.push(n - P);
  return pos;
}

async function occlusion(sess, x, S, batch) {
  const H = 128, C = 3, P = 24, item = C * H * H;
  const ys = grid(H, P, S), copies = [];
  for (const y of ys) for (const x0 of ys) copies.push([y, x0]);
  const out = [];
  for (let b = 0; b < copies.length; b += batch) {
    const n = Math.min(batch, copies.length - b);
    const buf = new Float32Array(n * item);
    for (let i = 0; i < n; i++) {
      buf.set(x, i * item);
      const [y0, x0] = copies[b + i];
      for (let c = 0; c < C; c++)
        for (let y = y0; y < y0 + P; y++)
          buf.fill(0.5, i * item + (c * H + y) * H + x0, i * item + (c * H + y) * H + x0 + P);
    }
    const r = await sess.run({input: new ort.Tensor('float32', buf, [n, C, H, H])});
    out.push(r.logits.data);
  }
  return out;
}

async function best(f, reps) {
  const t = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    await f();
    t.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  t.sort((a, b) => a - b);
  return [t[0], t[Math.floor(t.length / 2)]];
}

(async () => {
  const sess = await ort.InferenceSession.create(process.argv[2], {
    intraOpNumThreads: 2, interOpNumThreads: 1, executionProviders: ['cpu']});
  const x = new Float32Array(3 * 128 * 128);
  for (let i = 0; i < x.length; i++) x[i] = ((i * 2654435761) % 1000) / 1000;
  const one = async () => sess.run({input: new ort.Tensor('float32', x, [1, 3, 128, 128])});
  await one();
  const res = {ort: require('onnxruntime-node/package.json').version, threads: 2};
  res.forward_s = await best(one, 20);
  await occlusion(sess, x, 8, 64);
  res.occlusion_s8_s = await best(() => occlusion(sess, x, 8, 64), 3);
  res.occlusion_s4_s = await best(() => occlusion(sess, x, 4, 64), 2);
  console.log(JSON.stringify(res));
})();
