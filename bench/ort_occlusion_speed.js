// ort_occlusion_speed.js - the ONNX Runtime side of the occlusion rows of
// bench/bench_speed.sh: occlusion of the same input interp gets, as batched
// full forwards (patch 24, fill 0.5, batches of 64 copies, CPU execution
// provider, 2 intra-op threads), REPS times after a warm-up; wall and process
// CPU seconds of each run. Prints one JSON object.
//   NODE_PATH=DIR/node_modules node ort_occlusion_speed.js MODEL INPUT.bin STRIDE REPS
const fs = require('fs');
const ort = require('onnxruntime-node');

function grid(n, P, S) {
  const pos = [];
  for (let y = 0; y + P <= n; y += S) pos.push(y);
  if (pos[pos.length - 1] + P < n) pos.push(n - P);
  return pos;
}

(async () => {
  const [model, input, stride, reps] = process.argv.slice(2);
  const S = parseInt(stride, 10), R = parseInt(reps, 10);
  const sess = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 2, interOpNumThreads: 1, executionProviders: ['cpu'],
    graphOptimizationLevel: 'all'});
  const raw = fs.readFileSync(input);
  const C = 3, H = 128, P = 24, item = C * H * H, B = 64;
  const x = new Float32Array(raw.buffer, raw.byteOffset, item);
  const ys = grid(H, P, S), copies = [];
  for (const y of ys) for (const x0 of ys) copies.push([y, x0]);
  const run = async () => {
    const out = [];
    for (let b = 0; b < copies.length; b += B) {
      const n = Math.min(B, copies.length - b);
      const buf = new Float32Array(n * item);
      for (let i = 0; i < n; i++) {
        buf.set(x, i * item);
        const [y0, x0] = copies[b + i];
        for (let c = 0; c < C; c++)
          for (let y = y0; y < y0 + P; y++)
            buf.fill(0.5, i * item + (c * H + y) * H + x0, i * item + (c * H + y) * H + x0 + P);
      }
      const feeds = {};
      feeds[sess.inputNames[0]] = new ort.Tensor('float32', buf, [n, C, H, H]);
      const r = await sess.run(feeds);
      out.push(r[sess.outputNames[0]].data[0]);
    }
    return out;
  };
  await run(); // warm-up
  const t = [], cpu = [];
  for (let i = 0; i < R; i++) {
    const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
    await run();
    t.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
  }
  console.log(JSON.stringify({copies: copies.length, times_s: t, cpu_s: cpu,
                              ort: require('onnxruntime-node/package.json').version}));
})();
