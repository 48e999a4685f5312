#!/bin/bash
# bench_explain.sh - Grad-CAM per image and occlusion per image (patch 24,
# stride 8 and 4; full batched recompute and incremental) on the 3x128x128
# seed architecture, against PyTorch CPU (2 threads; Grad-CAM by autograd,
# occlusion as a batched loop of full forwards like Captum) and ONNX Runtime
# (onnxruntime-node 1.20.1, CPU, 2 threads, batched full forwards).
# Writes bench/RESULTS_explain.md (a section for bench/RESULTS.md).
#
# usage: bench/bench_explain.sh [WORKDIR]     (default /tmp/interp_bench)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/interp_bench}
PY=/usr/bin/python3
mkdir -p "$W"
cd "$ROOT"
make --no-print-directory build/libinterp.a >/dev/null

# the model: the seed architecture with fixed random weights (speed does not
# depend on the weights), and a 128x128 image
[ -s "$W/seed128.onnx" ] || $PY bench/bench_explain.py --make-model "$W/seed128.onnx" 2>/dev/null

cc -std=c11 -D_GNU_SOURCE -O2 -I. bench/bench_explain.c build/libinterp.a \
    $(pkg-config --libs openblas lapacke fftw3f libpng libjpeg libprotobuf-c) -lm -fopenmp \
    -o "$W/bench_explain"
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
echo "interp ..." >&2
"$W/bench_explain" "$W/seed128.onnx" "$W/seed128.png" >"$W/interp.json"
echo "PyTorch ..." >&2
$PY bench/bench_explain.py --torch "$W/seed128.onnx" 2>/dev/null >"$W/torch.json"

# ONNX Runtime from npm (CPU build inside the package)
if [ ! -d "$W/ort/node_modules/onnxruntime-node" ]; then
    mkdir -p "$W/ort"
    (cd "$W/ort" && npm install onnxruntime-node@1.20.1 --ignore-scripts >/dev/null 2>&1) || true
fi
if [ -d "$W/ort/node_modules/onnxruntime-node" ]; then
    echo "ONNX Runtime ..." >&2
    NODE_PATH="$W/ort/node_modules" node bench/ort_occlusion.js "$W/seed128.onnx" >"$W/ort.json"
else
    echo '{}' >"$W/ort.json"
fi

$PY - "$W" >bench/RESULTS_explain.md <<'EOF'
import json, os, platform, sys
w = sys.argv[1]
I = json.load(open(os.path.join(w, "interp.json")))
T = json.load(open(os.path.join(w, "torch.json")))
O = json.load(open(os.path.join(w, "ort.json")))
ms = lambda v: "%.1f ms" % (v * 1e3) if v < 1 else "%.2f s" % v
cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
load = open("/proc/loadavg").read().split()[0]
print("## Explanations (Grad-CAM, occlusion)\n")
print("3x128x128 seed architecture (3 conv blocks 32-64-64, BN, ReLU, max-pool; dense "
      "16384-128-2), one image, class 1. Best of several runs (median in brackets). "
      "%s, %d logical CPUs, load average %s at the start; interp with OpenBLAS 2 threads, "
      "PyTorch %s with 2 threads, ONNX Runtime %s (onnxruntime-node, CPU, 2 intra-op threads). "
      "Occlusion: patch 24, fill 0.5, batch 64; stride 8 = 196 copies, stride 4 = 729."
      % (cpu[0] if cpu else platform.machine(), os.cpu_count(), load, T.get("torch", "?"), O.get("ort", "n/a")))
print()
print("| task | interp full | interp incremental | PyTorch | ONNX Runtime | incremental vs interp full | vs PyTorch | vs ONNX Runtime |")
print("|---|---|---|---|---|---|---|---|")
g = I["gradcam_s"]
print("| Grad-CAM per image | %s (%s) | | %s (%s) | | | %.1fx | |" % (ms(g[0]), ms(g[1]), ms(T["gradcam_s"][0]), ms(T["gradcam_s"][1]), T["gradcam_s"][0] / g[0]))
for s in (8, 4):
    f, inc, t = I["occlusion_s%d_full_s" % s], I["occlusion_s%d_incremental_s" % s], T["occlusion_s%d_s" % s]
    o = O.get("occlusion_s%d_s" % s)
    print("| occlusion stride %d | %s (%s) | %s (%s) | %s (%s) | %s | %.1fx | %.1fx | %s |" % (
        s, ms(f[0]), ms(f[1]), ms(inc[0]), ms(inc[1]), ms(t[0]), ms(t[1]),
        "%s (%s)" % (ms(o[0]), ms(o[1])) if o else "n/a", f[0] / inc[0], t[0] / inc[0],
        "%.1fx" % (o[0] / inc[0]) if o else "n/a"))
if "forward_s" in O:
    print("\nONNX Runtime single-image forward: %s (median %s)." % (ms(O["forward_s"][0]), ms(O["forward_s"][1])))
print("Incremental multiply-adds per copy / full forward: %.3f (stride 8), %.3f (stride 4)."
      % (I["cost_ratio_s8"], I["cost_ratio_s4"]))
EOF
cat bench/RESULTS_explain.md
bench/results.sh
