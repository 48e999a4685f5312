#!/bin/bash
# bench_web.sh - the browser app's timings (issue 16) in headless Chromium:
# interp's WebAssembly build (make web: one thread, WASM SIMD) and the anchor,
# ONNX Runtime Web (npm onnxruntime-web, WASM SIMD backend, one thread) running
# occlusion as batched full forwards, both served by one local static server
# (python3 -m http.server on 127.0.0.1) to the same browser, in alternating
# rounds. Model: the 3x128x128 seed architecture (conv 32-64-64 + BN, dense
# 128; bench/bench_explain.py --make-model), one 128x128 image, occlusion
# patch 24 / stride 8 (196 copies). Writes bench/RESULTS_web.md (medians over
# every round's runs, the load average of each round) and bench/RESULTS.md.
#
# usage: bench/bench_web.sh [WORKDIR] [ROUNDS] [REPS]   (default /tmp/interp_bench_web 3 5)
# The machine must be idle for absolute figures: rounds started above load
# average 1 are marked in the table; re-run it on an idle machine.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/interp_bench_web}
ROUNDS=${2:-3}
REPS=${3:-5}
PY=/usr/bin/python3
ORT_VERSION=1.20.1
CHROME=${CHROMIUM:-$(command -v chromium || command -v chromium-browser)}
mkdir -p "$W/site"
cd "$ROOT"
make --no-print-directory interp web >/dev/null

# the model and the image
[ -s "$W/seed128.onnx" ] || $PY bench/bench_explain.py --make-model "$W/seed128.onnx" >/dev/null 2>&1
# ONNX Runtime Web from npm, unpacked in build/ (never committed)
ORT=build/bench-web/ort-$ORT_VERSION
if [ ! -f "$ORT/dist/ort.wasm.min.js" ]; then
    mkdir -p "$ORT"
    (cd "$ORT" && npm pack "onnxruntime-web@$ORT_VERSION" >/dev/null 2>&1 &&
        tar xzf "onnxruntime-web-$ORT_VERSION.tgz" --strip-components=1)
fi
# the served folder: interp's site, ONNX Runtime Web's files, the bench page
rm -rf "$W/site" && mkdir -p "$W/site/ort"
cp -r build/web "$W/site/interp"
cp "$ORT"/dist/ort.wasm.min.js "$ORT"/dist/ort-wasm-simd-threaded.mjs \
    "$ORT"/dist/ort-wasm-simd-threaded.wasm "$W/site/ort/"
cp bench/web_ort.html bench/web_ort.js "$W/seed128.onnx" "$W/seed128.png" "$W/site/"

PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$PY -m http.server "$PORT" --bind 127.0.0.1 --directory "$W/site" >"$W/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null' EXIT
sleep 1

# the command line's numbers on the same files, for the record
./interp predict "$W/seed128.onnx" "$W/seed128.png" --json --quiet >"$W/cli_predict.json"

$PY bench/web_bench.py "$CHROME" "http://127.0.0.1:$PORT" "$W/seed128.onnx" "$W/seed128.png" \
    "$ROUNDS" "$REPS" >"$W/web.json"

$PY - "$W/web.json" "$ORT_VERSION" "$ROUNDS" "$REPS" >bench/RESULTS_web.md <<'PYEOF'
import json, statistics, subprocess, sys
d = json.load(open(sys.argv[1]))
ortv, rounds, reps = sys.argv[2], sys.argv[3], sys.argv[4]
med = statistics.median
def allv(tool, key):
    return [v for r in d["rounds"] for v in r[tool]["times"][key]]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
loads = [x for r in d["rounds"] for x in (r["load_interp"], r["load_ort"], r["load_end"])]
print("## The browser app: interp's WebAssembly build against ONNX Runtime Web (bench/bench_web.sh)")
print()
print("Seed architecture at 3x128x128 (conv 32-64-64 with BN, ReLU, max-pool; dense 16384-128-2; "
      "fixed random weights), one 128x128 image, in headless %s on %s (%s logical CPUs). "
      "interp: `make web` (emscripten 3.1.6, `-O3 -msimd128`, one thread, in the page's Web Worker; "
      "occlusion incremental, batch 16). ONNX Runtime Web %s (npm onnxruntime-web, WASM SIMD backend, "
      "`numThreads = 1`, graph optimisation on) in a page of its own, occlusion as batched full "
      "forwards (batch 64) as the reference demo does. Both pages from one local static server, "
      "%s alternating rounds of %s runs each; medians over all runs." %
      (d["browser"], cpu, subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
       ortv, rounds, reps))
print()
busy = max(loads) > 1
print("Load average (1 min) during the rounds: %.2f to %.2f.%s" % (min(loads), max(loads),
      " **Runs above load 1 are marked with \\*: the machine was shared, so absolute times are "
      "inflated; the ratios, measured side by side, mean more. Re-run on an idle machine.**" if busy else ""))
print()
print("| step | interp (WASM) | ONNX Runtime Web | ratio | target |")
print("|---|---|---|---|---|")
rows = [("model load", "load", "< 200 ms"), ("prediction (one forward)", "predict", "< 30 ms"),
        ("Grad-CAM", "gradcam", "< 60 ms"), ("occlusion, patch 24 / stride 8", "occlusion", "< 1.5 s")]
for name, key, target in rows:
    a = med(allv("interp", key))
    b = med(allv("ort", key)) if key != "gradcam" else None
    ratio = "%.1fx" % (b / a) if b else "(ONNX Runtime has no gradients)"
    fmt = lambda v: ("%.0f ms" % v) if v < 1000 else ("%.2f s" % (v / 1000))
    print("| %s | %s | %s | %s | %s |" % (name, fmt(a), fmt(b) if b else "-", ratio, target))
print()
print("interp's engine start (worker + WebAssembly instantiation, once per page): %.0f ms (median). "
      "ONNX Runtime's model load includes its session set-up; its first creation also loads its "
      "11 MB wasm." % med([r["interp"]["engine_start"] for r in d["rounds"]]))
print()
print("| round | load at start (interp / ORT / end) | interp occlusion median | ORT occlusion median | ratio |")
print("|---|---|---|---|---|")
for r in d["rounds"]:
    a, b = med(r["interp"]["times"]["occlusion"]), med(r["ort"]["times"]["occlusion"])
    mark = " \\*" if max(r["load_interp"], r["load_ort"], r["load_end"]) > 1 else ""
    print("| %d%s | %.2f / %.2f / %.2f | %.0f ms | %.0f ms | %.1fx |" %
          (r["round"], mark, r["load_interp"], r["load_ort"], r["load_end"], a, b, b / a))
print()
print("Requests to anything but the local server during the runs: %s." %
      (d["foreign_requests"] or "none"))
print()
print("Threads: both ran on one thread, as a `file://` page must (WebAssembly threads need "
      "SharedArrayBuffer, which needs the COOP/COEP headers of a cross-origin-isolated page). "
      "Served with those headers, a `-pthread` build could run the engine's own thread pool "
      "(core/model.c: row tiles of each conv, column blocks of each dense layer) on every core; "
      "and since occlusion copies are independent, several workers, each holding the model, could "
      "share the patches without any shared memory, from `file://` too. On this 2-core machine "
      "either could at best halve the times; neither is measured here.")
PYEOF
bench/results.sh
echo "bench/RESULTS_web.md:" >&2
cat bench/RESULTS_web.md >&2
