// node_check.js - the WebAssembly build against the native one, in node:
// for each fixture model and image, the class probabilities, the Grad-CAM map
// (at the layer and at the input) and the occlusion map computed by
// build/web-obj/interp_wasm.{js,wasm} equal those of `interp predict`,
// `interp gradcam` and `interp occlusion` (probabilities and Grad-CAM to 1e-5,
// occlusion to 1e-4, each map relative to its largest magnitude). Images are
// decoded here (tests/web/png_decode.js) as the browser decodes them: 8-bit
// pixels handed to web_image_set. Also loads the hostile model fixtures and
// requires an error message from each, and truncated copies of the good ones.
//   node tests/web/node_check.js INTERP WORKDIR
// Prints one line per failure and "N passed, N failed".
'use strict';
const fs = require('fs');
const path = require('path');
const {execFileSync} = require('child_process');
const {decodePng} = require('./png_decode.js');

const ROOT = path.resolve(__dirname, '../..');
const [interp, work] = process.argv.slice(2);
const createInterp = require(path.join(ROOT, 'build/web-obj/interp_wasm.js'));

let passed = 0, failed = 0;
function ok(cond, what) {
  if (cond) passed++;
  else {
    failed++;
    console.log('FAIL ' + what);
  }
}

function readNpy(file) {
  const b = fs.readFileSync(file);
  const hlen = b.readUInt16LE(8), header = b.toString('latin1', 10, 10 + hlen);
  if (!header.includes("'<f4'")) throw new Error(file + ': not float32');
  const shape = /'shape': \(([^)]*)\)/.exec(header)[1].split(',').filter((s) => s.trim()).map(Number);
  const data = new Float32Array(b.buffer.slice(b.byteOffset + 10 + hlen, b.byteOffset + b.length));
  return {shape, data};
}

// worst |a - b| relative to max |b|, and where
function worst(a, b) {
  let m = 0, w = 0, at = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= w)) { w = d; at = i; }
  }
  return {rel: m > 0 ? w / m : w, abs: w, at, max: m};
}

function cli(args) {
  return JSON.parse(execFileSync(interp, args.concat(['--json', '--quiet']), {cwd: ROOT}).toString());
}

(async () => {
  const M = await createInterp({
    wasmBinary: fs.readFileSync(path.join(ROOT, 'build/web-obj/interp_wasm.wasm')),
    print: () => {}, printErr: () => {},
  });
  M._web_limits(1 << 30, 100e6);
  const cstr = (s) => {
    const n = Buffer.byteLength(s) + 1, p = M._malloc(n);
    M.stringToUTF8(s, p, n);
    return p;
  };
  const json = () => JSON.parse(M.UTF8ToString(M._web_json()));
  const error = () => M.UTF8ToString(M._web_error());
  const floats = (p, n) => M.HEAPF32.slice(p / 4, p / 4 + n);
  function loadModel(bytes, name) {
    const p = M._malloc(bytes.length || 1), nm = cstr(name);
    M.HEAPU8.set(bytes, p);
    const rc = M._web_model_load(p, bytes.length, nm);
    M._free(p);
    M._free(nm);
    return rc;
  }
  function setImage(file) {
    const im = decodePng(fs.readFileSync(path.join(ROOT, file)));
    const p = M._malloc(im.pix.length);
    M.HEAPU8.set(im.pix, p);
    const rc = M._web_image_set(p, im.h, im.w, im.c);
    M._free(p);
    return rc;
  }

  const cases = [
    {model: 'fixtures/models/fmnist.onnx', images: ['fixtures/models/images/gray/00_class0.png',
      'fixtures/models/images/gray/03_class3.png', 'fixtures/models/images/gray/11_class2_40x36.png']},
    {model: 'fixtures/models/fmnist.onnx', images: ['fixtures/models/images/gray/06_class6.png'],
      cls: 2, layer: '/Relu_1_output_0', method: 'gradcam++'},
    {model: 'fixtures/models/rgb.onnx', images: ['fixtures/models/images/rgb/00_group0.png',
      'fixtures/models/images/rgb/05_group1.png', 'fixtures/models/images/rgb/11_group0_96x96.png']},
    {model: 'fixtures/models/nhwc.onnx', images: ['fixtures/models/images/gray/04_class4.png']},
    {model: 'fixtures/keras/gray_rescale.keras', images: ['fixtures/models/images/gray/01_class1.png']},
    {model: 'fixtures/keras/mixed.keras', images: ['fixtures/models/images/rgb/02_group0.png']},
    {model: 'fixtures/keras/nested.h5', images: ['fixtures/models/images/rgb/07_group1.png']},
    {model: 'fixtures/keras/ref_arch.keras', images: ['fixtures/models/images/rgb/08_group1.png']},
    {model: 'fixtures/keras/ref_arch.h5', images: ['fixtures/models/images/rgb/09_group1.png']},
    {model: 'fixtures/keras/chfirst.h5', images: ['fixtures/models/images/rgb/01_group1.png'], patch: 6, stride: 2},
  ];
  for (const c of cases.filter((c) => fs.existsSync(path.join(ROOT, c.model)))) {
    const tag = `${c.model}`;
    const rc = loadModel(fs.readFileSync(path.join(ROOT, c.model)), path.basename(c.model));
    ok(rc === 0, `${tag}: loads (${rc ? error() : ''})`);
    if (rc) continue;
    const patch = c.patch || 24, stride = c.stride || 8, method = c.method || 'gradcam';
    const cls = c.cls === undefined ? -1 : c.cls;
    const pred = cli(['predict', c.model, ...c.images, '--top', '100']);
    for (const [i, img] of c.images.entries()) {
      const t = `${tag} ${path.basename(img)}`;
      ok(setImage(img) === 0, `${t}: image (${error()})`);
      ok(M._web_predict() === 0, `${t}: predict (${error()})`);
      const d = json(), probs = floats(d.probs, d.classes);
      const want = new Float32Array(d.classes);
      for (const e of pred.images[i].top) want[e.class] = e.probability;
      const w = worst(probs, want);
      ok(w.abs <= 1e-5, `${t}: probabilities within 1e-5 of interp predict (worst ${w.abs.toExponential(2)} at class ${w.at})`);
      // Grad-CAM
      const args = ['gradcam', c.model, img, '-o', path.join(work, 'g'), '--method', method];
      if (c.layer) args.push('--layer', c.layer);
      if (cls >= 0) args.push('--class', String(cls));
      const g = cli(args).maps[0];
      const nm = cstr(c.layer || '');
      ok(M._web_gradcam(nm, cls, method === 'gradcam++' ? 1 : 0) === 0, `${t}: gradcam (${error()})`);
      M._free(nm);
      const gw = json();
      ok(gw.class === g.class && gw.layer === g.layer, `${t}: Grad-CAM class ${gw.class}/${g.class}, layer ${gw.layer}/${g.layer}`);
      for (const [key, ptr, n] of [['layer_npy', gw.lmap, gw.lh * gw.lw], ['input_npy', gw.imap, gw.ih * gw.iw]]) {
        const ref = readNpy(g.files[key]).data, mine = floats(ptr, n);
        ok(ref.length === n, `${t}: Grad-CAM ${key} size ${n} vs ${ref.length}`);
        const e = worst(mine, ref);
        ok(e.rel <= 1e-5, `${t}: Grad-CAM ${key} within 1e-5 of its max ${e.max.toExponential(3)} (worst ${e.rel.toExponential(2)} at ${e.at})`);
      }
      // occlusion
      const oargs = ['occlusion', c.model, img, '-o', path.join(work, 'o'), '--patch', String(patch), '--stride', String(stride)];
      if (cls >= 0) oargs.push('--class', String(cls));
      const o = cli(oargs).maps[0];
      ok(M._web_occlusion(patch, stride, 0.5, cls, 16) === 0, `${t}: occlusion (${error()})`);
      const ow = json();
      ok(ow.class === o.class, `${t}: occlusion class ${ow.class}/${o.class}`);
      for (const [key, ptr, n] of [['layer_npy', ow.lmap, ow.lh * ow.lw], ['input_npy', ow.imap, ow.ih * ow.iw]]) {
        const ref = readNpy(o.files[key]).data, mine = floats(ptr, n);
        const e = worst(mine, ref);
        ok(ref.length === n && e.rel <= 1e-4, `${t}: occlusion ${key} within 1e-4 of its max ${e.max.toExponential(3)} (worst ${e.rel.toExponential(2)} at ${e.at})`);
      }
    }
  }

  // hostile models: every bad fixture gives a message, never a trap; so do
  // truncated copies of the good ones; the next good model still works
  const bad = fs.readdirSync(path.join(ROOT, 'fixtures/models')).filter((f) => /^bad_.*\.onnx$/.test(f));
  for (const f of bad) {
    const rc = loadModel(fs.readFileSync(path.join(ROOT, 'fixtures/models', f)), f);
    ok(rc !== 0 && error().length > 10, `${f}: refused with a message (rc ${rc}: ${error()})`);
  }
  for (const f of ['fixtures/models/rgb.onnx', 'fixtures/keras/mixed.keras', 'fixtures/keras/nested.h5']) {
    const b = fs.readFileSync(path.join(ROOT, f));
    for (const frac of [0.1, 0.5, 0.9, 0.999]) {
      const n = Math.floor(b.length * frac);
      const rc = loadModel(b.subarray(0, n), path.basename(f));
      ok(rc !== 0 && error().length > 10, `${f} cut to ${n} bytes: refused with a message (${error()})`);
    }
  }
  ok(loadModel(fs.readFileSync(path.join(ROOT, 'fixtures/models/rgb.onnx')), 'rgb.onnx') === 0,
     'a good model loads after the hostile ones');
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log('FAIL node_check: ' + (e.stack || e));
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
