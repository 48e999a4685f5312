// app.js - the page of interp's browser app: files in (chosen or dropped),
// results out. All computing happens in a Web Worker running interp's
// WebAssembly module (worker.js); this file only keeps the page, the worker's
// life (a new image or a new setting while it works replaces it: that is how
// work is cancelled) and the drawings. Nothing is sent anywhere.
/* global interpWorkerMain */
'use strict';

const $ = (id) => document.getElementById(id);

// ---- limits (a test or a small device can lower them: ?budget=64M&max-pixels=1e6)
function parseSize(s) {
  const m = /^([0-9.e+]+)\s*([kmg]?)i?b?$/i.exec(s || '');
  if (!m) return NaN;
  return parseFloat(m[1]) * ({'': 1, k: 1024, m: 1 << 20, g: 1 << 30}[m[2].toLowerCase()]);
}
const query = new URLSearchParams(location.search);
const limits = {
  budget: parseSize(query.get('budget')) || 1024 * 1024 * 1024,
  maxPixels: Number(query.get('max-pixels')) || 50e6,
};

function formatBytes(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + ' GiB';
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
  if (n >= 1024) return (n / 1024).toFixed(1) + ' KiB';
  return n + ' bytes';
}

// ---- state, readable by tests (window.interp)
const state = {
  ready: false,     // the worker has started once
  model: null,      // {name, summary}
  names: null,      // class names from the text file
  images: [],       // File objects
  current: -1,      // index of the shown image
  result: null,     // {name, top, probs, gradcam, occlusion}
  busy: false,
  done: 0,          // jobs finished (each image or setting change is one)
  errors: [],       // messages shown, in order
  timings: {},
};
window.interp = state;

let worker = null, workerUrl = null, colormaps = null, jobId = 0, modelBytes = null;
let workerBusy = false; // the worker is computing (a new job must replace it)
let benchResolve = null;

// ---- messages to the person
function say(text) {
  $('status').textContent = text;
}
function alarm(text) {
  const a = $('alert');
  a.textContent = text;
  a.hidden = !text;
  if (text) state.errors.push(text);
}
function pageMessage(msg) { // the command line's flags mean nothing here
  return String(msg).replace(/ ?\((?:raise|lower) it with --max-[a-z-]+\)/g, " (the page's memory budget)")
    .replace(/--max-(memory|pixels)/g, "the page's limit");
}

// ---- the worker
function startWorker() {
  if (worker) worker.terminate();
  if (!workerUrl)
    workerUrl = URL.createObjectURL(new Blob(['(' + interpWorkerMain.toString() + ')()'],
                                             {type: 'text/javascript'}));
  worker = new Worker(workerUrl);
  state.workerStarted = performance.now();
  worker.onmessage = (e) => onMessage(e.data);
  worker.onerror = (e) => {
    e.preventDefault();
    fatal(e.message || 'the worker failed');
  };
  worker.postMessage({type: 'init', budget: limits.budget, maxPixels: limits.maxPixels});
  workerBusy = false;
}

// Replaces a busy worker (cancelling its work) and reloads the model into the
// new one; the caller then posts its job.
function freshWorker() {
  if (!workerBusy && worker) return;
  startWorker();
  if (modelBytes) worker.postMessage({type: 'model', bytes: modelBytes.slice(0), name: state.model.name, quiet: true});
}

function fatal(message) {
  const wasLoading = state.loadingModel;
  alarm(pageMessage(message) + (wasLoading ? '' : ' — the page has restarted its engine; choose another file.'));
  if (wasLoading) { modelBytes = null; state.model = null; }
  state.loadingModel = false;
  state.busy = false;
  startWorker();
  if (modelBytes) worker.postMessage({type: 'model', bytes: modelBytes.slice(0), name: state.model.name, quiet: true});
  state.done++;
  say('Ready.');
}

function options() {
  return {
    layer: $('layer').value,
    method: $('method').value,
    cls: Number($('cls').value),
    patch: Math.max(1, Math.floor(Number($('patch').value) || 24)),
    stride: Math.max(1, Math.floor(Number($('stride').value) || 8)),
  };
}

function onMessage(m) {
  switch (m.type) {
  case 'ready':
    colormaps = m.colormaps;
    state.ready = true;
    state.engineStart = performance.now() - state.workerStarted; // worker + wasm instantiation
    break;
  case 'init': break;
  case 'model':
    if (m.quiet && m.ok) break;
    state.loadingModel = false;
    workerBusy = false;
    state.busy = false;
    if (!m.ok) {
      modelBytes = null;
      state.model = null;
      $('model').hidden = true;
      alarm(pageMessage(m.error));
      say('No model loaded.');
      state.done++;
      return;
    }
    state.model.summary = m.summary;
    state.timings.load = m.ms;
    showModel(m.summary);
    say(`Model loaded in ${m.ms.toFixed(0)} ms.`);
    state.done++;
    if (state.images.length) runImage(state.current >= 0 ? state.current : 0);
    break;
  case 'image':
    if (m.id !== jobId) return;
    showOriginal(m);
    break;
  case 'predict':
    if (m.id !== jobId) return;
    state.timings.predict = m.ms;
    showTop(m.probs);
    break;
  case 'gradcam':
    if (m.id !== jobId) return;
    state.timings.gradcam = m.result.ms;
    state.result.gradcam = m.result;
    showMap('gradcam', m.result);
    say('Grad-CAM done; occlusion running…');
    break;
  case 'progress':
    if (m.id !== jobId) return;
    $('occ-progress').max = m.total;
    $('occ-progress').value = m.done;
    break;
  case 'occlusion':
    if (m.id !== jobId) return;
    state.timings.occlusion = m.result.ms;
    state.result.occlusion = m.result;
    showMap('occlusion', m.result);
    break;
  case 'done':
    if (m.id !== jobId) return;
    workerBusy = false;
    state.busy = false;
    state.done++;
    showTimings();
    say('Done.');
    break;
  case 'error':
    if (m.id !== jobId) return;
    workerBusy = false;
    state.busy = false;
    state.done++;
    alarm(pageMessage(m.message));
    if (m.stage === 'image') $('results').hidden = true;
    say('Ready.');
    break;
  case 'bench':
    if (benchResolve) benchResolve(m.times);
    benchResolve = null;
    workerBusy = false;
    state.busy = false;
    break;
  case 'fatal':
    fatal(m.message);
    break;
  }
}

// ---- files in
async function setModel(file) {
  alarm('');
  if (file.size > limits.budget) {
    alarm(`${file.name}: ${formatBytes(file.size)}, more than the page's memory budget of ${formatBytes(limits.budget)}`);
    return;
  }
  say(`Loading ${file.name}…`);
  let bytes;
  try {
    bytes = await file.arrayBuffer();
  } catch (e) {
    alarm(`${file.name}: cannot be read (${e.message})`);
    return;
  }
  modelBytes = bytes;
  state.model = {name: file.name, summary: null};
  state.result = null;
  $('results').hidden = true;
  startWorker(); // replaces the worker whatever it was doing
  state.loadingModel = true;
  workerBusy = true;
  state.busy = true;
  worker.postMessage({type: 'model', bytes: bytes.slice(0), name: file.name});
}

async function setClasses(file) {
  const text = await file.text();
  const names = text.split(/\r?\n/);
  while (names.length && names[names.length - 1].trim() === '') names.pop();
  state.names = names;
  if (state.model && state.model.summary) {
    const k = state.model.summary.classes;
    if (names.length !== k) {
      alarm(`${file.name}: ${names.length} class names for a model with ${k} classes; showing numbers`);
      state.names = null;
    }
    fillClasses(state.model.summary);
    if (state.result && state.result.probs) showTop(state.result.probs);
  }
}

function setImages(files) {
  alarm('');
  state.images = Array.from(files);
  const ul = $('image-list');
  ul.textContent = '';
  state.images.forEach((f, i) => {
    const li = document.createElement('li'), b = document.createElement('button');
    b.type = 'button';
    b.textContent = f.name;
    b.addEventListener('click', () => runImage(i));
    li.appendChild(b);
    ul.appendChild(li);
  });
  $('images').hidden = state.images.length < 2;
  if (!state.images.length) return;
  if (!state.model || !state.model.summary) {
    say('Choose a model to explain the images.');
    state.current = 0;
    return;
  }
  runImage(0);
}

async function runImage(i) {
  if (!state.model || !state.model.summary || i < 0 || i >= state.images.length) return;
  alarm('');
  state.busy = true; // from now until this job's last answer
  state.current = i;
  document.querySelectorAll('#image-list button').forEach((b, k) =>
    b.setAttribute('aria-current', k === i ? 'true' : 'false'));
  const f = state.images[i];
  let bytes;
  try {
    bytes = await f.arrayBuffer();
  } catch (e) {
    alarm(`${f.name}: cannot be read (${e.message})`);
    state.busy = false;
    state.done++;
    return;
  }
  freshWorker();
  workerBusy = true;
  const id = ++jobId;
  state.result = {name: f.name, top: null, probs: null, gradcam: null, occlusion: null};
  state.timings = {load: state.timings.load};
  $('result-name').textContent = f.name;
  $('occ-progress').value = 0;
  say(`Explaining ${f.name}…`);
  worker.postMessage({type: 'image', id, bytes, name: f.name, opts: options()}, [bytes]);
}

function rerun() {
  if (state.current >= 0 && state.result && state.result.probs) runImage(state.current);
}

// ---- drawing
function showModel(s) {
  $('model').hidden = false;
  const dl = $('summary');
  dl.textContent = '';
  const rows = [
    ['file', state.model.name], ['format', s.source],
    ['input', `${s.input.name} ${s.input.shape} (${s.input.layout}, ${s.input.c} channel${s.input.c > 1 ? 's' : ''}, ${s.input.h}x${s.input.w})`],
    ['output', `${s.output} ${s.output_shape}`], ['classes', String(s.classes)],
    ['parameters', s.parameters.toLocaleString('en')],
    ['pixels', s.raw_pixels ? `0..255 (${s.raw_pixels_why})` : '0..1'],
    ['Grad-CAM layer', s.cam_layer || 'none (no 4-D layer)'],
  ];
  for (const [k, v] of rows) {
    const dt = document.createElement('dt'), dd = document.createElement('dd');
    dt.textContent = k;
    dd.textContent = v;
    dl.append(dt, dd);
  }
  const sel = $('layer');
  sel.textContent = '';
  for (const l of s.layers) {
    const o = document.createElement('option');
    o.value = l.name;
    o.textContent = `${l.name} ${l.shape}${l.name === s.cam_layer ? ' (default)' : ''}`;
    o.selected = l.name === s.cam_layer;
    sel.appendChild(o);
  }
  if (state.names && state.names.length !== s.classes) {
    alarm(`${state.names.length} class names for a model with ${s.classes} classes; showing numbers`);
    state.names = null;
  }
  fillClasses(s);
}

function className(k) {
  return state.names ? state.names[k] : `class ${k}`;
}

function fillClasses(s) {
  const sel = $('cls'), keep = sel.value;
  sel.textContent = '';
  const o = document.createElement('option');
  o.value = '-1';
  o.textContent = 'the predicted class';
  sel.appendChild(o);
  for (let k = 0; k < s.classes; k++) {
    const c = document.createElement('option');
    c.value = String(k);
    c.textContent = `${k}: ${className(k)}`;
    sel.appendChild(c);
  }
  sel.value = keep && Number(keep) < s.classes ? keep : '-1';
}

function showOriginal(m) {
  $('results').hidden = false;
  const cv = $('original');
  cv.width = m.w;
  cv.height = m.h;
  cv.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(m.rgba), m.w, m.h), 0, 0);
  cv.setAttribute('aria-label', `${state.result.name}, ${m.w} x ${m.h} pixels`);
  // small images are enlarged on screen: show their pixels, not a blur
  for (const id of ['original', 'gradcam', 'occlusion'])
    $(id).classList.toggle('small-image', Math.max(m.w, m.h) < 160);
  state.result.size = [m.h, m.w];
  for (const k of ['gradcam', 'occlusion']) {
    const c = $(k);
    c.width = m.w;
    c.height = m.h;
    c.getContext('2d').clearRect(0, 0, m.w, m.h);
    $(k + '-cap').textContent = k === 'gradcam' ? 'Grad-CAM: computing…' : 'Occlusion: waiting…';
  }
}

function showTop(probs) {
  state.result.probs = Array.from(probs);
  const order = state.result.probs.map((p, k) => [p, k]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  state.result.top = order.slice(0, 5).map(([p, k]) => ({class: k, probability: p}));
  const tb = $('top5').tBodies[0];
  tb.textContent = '';
  state.result.top.forEach((t, i) => {
    const tr = tb.insertRow();
    tr.insertCell().textContent = String(i + 1);
    tr.insertCell().textContent = `${t.class}: ${className(t.class)}`;
    const td = tr.insertCell();
    td.textContent = t.probability.toFixed(6);
    td.className = 'num';
  });
}

function drawBar(cv, r) {
  const table = colormaps[r.cmap], h = cv.clientHeight > 40 ? cv.clientHeight : 256;
  const ctx = cv.getContext('2d');
  cv.width = 84;
  cv.height = Math.max(120, Math.min(512, r.size ? r.size[0] : h));
  const bh = cv.height - 20;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, cv.width, cv.height);
  for (let y = 0; y < bh; y++) {
    const t = 1 - (y + 0.5) / bh, i = Math.min(255, Math.max(0, Math.floor(t * 256))) * 3;
    ctx.fillStyle = `rgb(${table[i]},${table[i + 1]},${table[i + 2]})`;
    ctx.fillRect(2, 10 + y, 14, 1);
  }
  ctx.fillStyle = '#000';
  ctx.font = '10px sans-serif';
  const fmt = (v) => Number(v.toPrecision(3)).toString();
  ctx.fillText(fmt(r.vmax), 19, 14);
  ctx.fillText(fmt((r.vmin + r.vmax) / 2), 19, 10 + bh / 2 + 3);
  ctx.fillText(fmt(r.vmin), 19, 10 + bh);
  cv.setAttribute('aria-label', `colour scale from ${fmt(r.vmin)} (bottom) to ${fmt(r.vmax)} (top)`);
}

function showMap(kind, r) {
  const [h, w] = state.result.size;
  const cv = $(kind);
  cv.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(r.overlay.buffer), w, h), 0, 0);
  r.size = [h, w];
  drawBar($(kind + '-bar'), r);
  const cls = `${r.class}: ${className(r.class)}`;
  const what = kind === 'gradcam'
    ? `${r.method === 'gradcam++' ? 'Grad-CAM++' : 'Grad-CAM'} of ${cls} (p = ${r.probability.toFixed(4)}) at ${r.layer}`
    : `Occlusion of ${cls}: drop in probability under a ${options().patch}px patch; red = the region supports the class`;
  $(kind + '-cap').textContent = what + (r.flag !== 'none' ? ` — ${r.flag}: ${r.reason}` : '');
  cv.setAttribute('aria-label', what);
}

function showTimings() {
  const t = state.timings, f = (v) => (v === undefined ? '–' : v.toFixed(0) + ' ms');
  $('timings').textContent = `model load ${f(t.load)}, prediction ${f(t.predict)}, ` +
    `Grad-CAM ${f(t.gradcam)}, occlusion ${f(t.occlusion)}`;
}

// ---- downloads
function stem(name) {
  return name.replace(/\.[^.]*$/, '');
}

function download(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// A float32 C-order .npy (format 1.0), as numpy writes it.
function npyBlob(data, shape) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = new Uint8Array(10 + header.length);
  pre.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 255, header.length >> 8]);
  for (let i = 0; i < header.length; i++) pre[10 + i] = header.charCodeAt(i);
  return new Blob([pre, new Float32Array(data)], {type: 'application/octet-stream'});
}

function fileBase(kind, r) {
  const method = kind === 'gradcam' ? r.method : 'occlusion';
  return `${stem(state.result.name)}.c${r.class}.${method}`;
}

function downloadPng(kind) {
  const r = state.result && state.result[kind];
  if (!r) return;
  const src = $(kind), bar = $(kind + '-bar');
  const cv = document.createElement('canvas');
  cv.width = src.width + bar.width;
  cv.height = Math.max(src.height, bar.height);
  const ctx = cv.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, cv.width, cv.height);
  ctx.drawImage(src, 0, 0);
  ctx.drawImage(bar, src.width, 0);
  cv.toBlob((b) => download(b, fileBase(kind, r) + '.overlay.png'), 'image/png');
}

function downloadNpy(kind) {
  const r = state.result && state.result[kind];
  if (!r) return;
  download(npyBlob(r.imap, [r.ih, r.iw]), fileBase(kind, r) + '.input.npy');
}

// ---- wiring
function sortFiles(files) {
  const out = {model: null, classes: null, images: []};
  for (const f of files) {
    const ext = (f.name.match(/\.([^.]+)$/) || ['', ''])[1].toLowerCase();
    if (['onnx', 'keras', 'h5', 'hdf5'].includes(ext)) out.model = f;
    else if (ext === 'txt') out.classes = f;
    else out.images.push(f);
  }
  return out;
}

async function takeFiles(files) {
  const s = sortFiles(files);
  if (s.classes) await setClasses(s.classes);
  if (s.images.length) {
    state.images = [];
    setImages(s.images);
  }
  if (s.model) await setModel(s.model);
}

function init() {
  startWorker();
  $('model-file').addEventListener('change', (e) => e.target.files[0] && setModel(e.target.files[0]));
  $('image-files').addEventListener('change', (e) => setImages(e.target.files));
  $('classes-file').addEventListener('change', (e) => e.target.files[0] && setClasses(e.target.files[0]));
  for (const id of ['layer', 'method', 'cls', 'patch', 'stride'])
    $(id).addEventListener('change', rerun);
  for (const k of ['gradcam', 'occlusion']) {
    $(k + '-png').addEventListener('click', () => downloadPng(k));
    $(k + '-npy').addEventListener('click', () => downloadNpy(k));
  }
  const drop = $('drop');
  document.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  document.addEventListener('dragleave', () => drop.classList.remove('over'));
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer && e.dataTransfer.files.length) takeFiles(e.dataTransfer.files);
  });
  say('Choose a model and one or more images.');
}

// Timings of prediction, Grad-CAM and occlusion on the shown image, reps
// times each, measured in the worker (bench/bench_web.sh).
window.interpBench = (reps) => new Promise((resolve) => {
  benchResolve = resolve;
  workerBusy = true;
  state.busy = true;
  worker.postMessage({type: 'bench', id: jobId, reps, opts: options()});
});

init();
