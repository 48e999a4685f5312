// ort_engine.js - the ONNX Runtime side of bench/bench_engine.sh: forward
// throughput of one model at a batch size on the same inputs interp sees
// (CPU execution provider, 2 intra-op threads). Prints one JSON object.
//   NODE_PATH=DIR/node_modules node ort_engine.js MODEL INPUTS.bin BATCH REPS [LOGITS_OUT.bin]
// INPUTS.bin: k items of C*H*W float32; a batch of B takes items i mod k.
const fs = require('fs');
const ort = require('onnxruntime-node');

(async () => {
  const [model, inputs, batch, reps, logitsOut] = process.argv.slice(2);
  const B = parseInt(batch, 10), R = parseInt(reps, 10);
  const sess = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 2, interOpNumThreads: 1, executionProviders: ['cpu'],
    graphOptimizationLevel: 'all'});
  const raw = fs.readFileSync(inputs);
  const all = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const item = 3 * 128 * 128, k = Math.floor(all.length / item);
  const x = new Float32Array(B * item);
  for (let i = 0; i < B; i++) x.set(all.subarray((i % k) * item, (i % k + 1) * item), i * item);
  const feeds = {};
  feeds[sess.inputNames[0]] = new ort.Tensor('float32', x, [B, 3, 128, 128]);
  const first = await sess.run(feeds); // warm-up: half a second of runs, as bench_engine.c
  for (const w0 = process.hrtime.bigint(); process.hrtime.bigint() - w0 < 500000000n;)
    await sess.run(feeds);
  if (logitsOut) {
    const out = first[sess.outputNames[0]].data;
    fs.writeFileSync(logitsOut, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
  }
  // CPU time (user + system of the whole process, all threads) over the whole
  // loop, the same share for each run, as bench_engine.c (spinning threads
  // are charged at the scheduler's ticks, not per run)
  const t = [], cpu = [], c0 = process.cpuUsage();
  for (let i = 0; i < R; i++) {
    const t0 = process.hrtime.bigint();
    await sess.run(feeds);
    t.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const c = process.cpuUsage(c0);
  for (let i = 0; i < R; i++) cpu.push((c.user + c.system) / 1e6 / R);
  console.log(JSON.stringify({batch: B, ort: require('onnxruntime-node/package.json').version,
                              times_s: t, cpu_s: cpu}));
})();
