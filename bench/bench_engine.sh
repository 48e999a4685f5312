#!/bin/bash
# bench_engine.sh - the model engine's speed: forward throughput at batch 1
# and 64 on the full-size 3x128x128 seed model, and `interp embed` over 1,000
# images, against ONNX Runtime (onnxruntime-node 1.20.1, CPU, 2 intra-op
# threads) and PyTorch (Debian's python3-torch, 2 threads), run interleaved so
# that all see the same machine load; ONNX Runtime and PyTorch also check
# interp's logits on the same 64 inputs; peak memory of embed over 1,000 and
# 10,000 images (streaming); the profile split (callgrind instruction counts,
# which the load does not change). Writes bench/RESULTS_engine.md.
#
# usage: bench/bench_engine.sh [ROUNDS]      (default 5; work files in bench/work/)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ROUNDS=${1:-5}
PY=/usr/bin/python3
W=bench/work/engine
MODEL=bench/work/seed128_full.onnx
IMAGES=bench/work/images
mkdir -p "$W"
make --no-print-directory interp build/libinterp.a >/dev/null

# ---- inputs: the model (trained as make_models.py --bench-model does) and 1,000 PNGs
[ -s "$MODEL" ] || $PY bench/make_bench_data.py --model "$MODEL"
[ "$(find "$IMAGES" -name '*.png' 2>/dev/null | wc -l)" -ge 1000 ] ||
    $PY bench/make_bench_data.py --images "$IMAGES" --count 1000
# the first 64 images as model inputs (PIL decode, /255: interp's default)
[ -s "$W/x64.bin" ] || $PY - "$IMAGES" "$W/x64.bin" <<'EOF'
import glob, sys
import numpy as np
from PIL import Image
fs = sorted(glob.glob(sys.argv[1] + "/*/*.png"))[:64]
x = np.stack([np.asarray(Image.open(f).convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0
              for f in fs])
x.astype(np.float32).tofile(sys.argv[2])
EOF

# ---- ONNX Runtime from npm (its CPU binary ships inside the package)
if [ ! -d bench/work/node_modules/onnxruntime-node ]; then
    (cd bench/work && npm install onnxruntime-node@1.20.1 --ignore-scripts >/dev/null 2>&1) || true
fi
export NODE_PATH=$ROOT/bench/work/node_modules
HAVE_ORT=0
node -e "require('onnxruntime-node')" 2>/dev/null && HAVE_ORT=1
[ $HAVE_ORT = 1 ] || echo "ONNX Runtime does not load; its columns stay empty" >&2
command -v /usr/bin/time >/dev/null || { echo "need /usr/bin/time (apt-get install -y time)" >&2; exit 1; }

cc -std=c11 -D_GNU_SOURCE -O2 -I. bench/bench_engine.c build/libinterp.a \
    $(pkg-config --libs openblas lapacke fftw3f libpng libjpeg libprotobuf-c) -lm -fopenmp \
    -o "$W/bench_engine"
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
R=$W/runs.jsonl
: >"$R"
load() { cut -d' ' -f1 /proc/loadavg; }
# one measurement: tool batch round command...
meas() {
    local tool=$1 batch=$2 round=$3 l
    shift 3
    l=$(load)
    echo "  $tool batch $batch round $round (load $l)" >&2
    echo "{\"tool\": \"$tool\", \"batch\": $batch, \"round\": $round, \"load\": $l, \"r\": $("$@")}" >>"$R"
}

# ---- forward, interleaved: interp, ONNX Runtime, PyTorch on the same inputs
echo "forward ..." >&2
"$W/bench_engine" "$MODEL" "$W/x64.bin" 64 1 "$W/interp_logits.bin" >/dev/null
[ $HAVE_ORT = 1 ] && node bench/ort_engine.js "$MODEL" "$W/x64.bin" 64 1 "$W/ort_logits.bin" >/dev/null
$PY bench/torch_engine.py --forward "$W/x64.bin" 64 1 "$W/torch_logits.bin" >/dev/null
for round in $(seq 1 "$ROUNDS"); do
    for b in 1 64; do
        reps=$([ $b = 1 ] && echo 20 || echo 3)
        meas interp $b $round "$W/bench_engine" "$MODEL" "$W/x64.bin" $b $reps
        [ $HAVE_ORT = 1 ] && meas ort $b $round node bench/ort_engine.js "$MODEL" "$W/x64.bin" $b $reps
        if [ "$round" -le 3 ]; then # PyTorch is ~10x slower: fewer rounds
            meas torch $b $round $PY bench/torch_engine.py --forward "$W/x64.bin" $b \
                $([ $b = 1 ] && echo 10 || echo 1)
        fi
    done
done

# ---- embed: 1,000 images (interp x3, PyTorch x1), then 10,000 (the 1,000 ten times)
echo "embed ..." >&2
find "$IMAGES" -name '*.png' | sort >"$W/list1k.txt"
for i in 1 2 3 4 5 6 7 8 9 10; do cat "$W/list1k.txt"; done >"$W/list10k.txt"
embed() { # round count list
    local l t
    l=$(load)
    echo "  interp embed $2 (load $l)" >&2
    /usr/bin/time -v ./interp embed "$MODEL" --list "$3" -o "$W/embed$2" --quiet --threads 2 \
        2>"$W/time.txt" >/dev/null
    t=$(awk -F': ' '/Elapsed/ {n = split($2, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; print s}
                    /Maximum resident/ {print $2} /User time/ {print $2} /System time/ {print $2}' "$W/time.txt" | paste -sd' ')
    echo "{\"tool\": \"interp_embed\", \"images\": $2, \"round\": $1, \"load\": $l, \"usr_sys_wall_rss\": \"$t\"}" >>"$R"
}
for round in 1 2 3; do
    embed $round 1000 "$W/list1k.txt"
    if [ $round = 1 ]; then
        l=$(load)
        echo "  torch embed 1000 (load $l)" >&2
        echo "{\"tool\": \"torch_embed\", \"images\": 1000, \"load\": $l, \"r\": $($PY bench/torch_engine.py --embed "$IMAGES")}" >>"$R"
    fi
done
embed 1 10000 "$W/list10k.txt"

# ---- profile split: instructions per function (callgrind), 1 thread, batch 8
echo "profile ..." >&2
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$W/callgrind.out" \
    --toggle-collect=model_forward "$W/bench_engine" "$MODEL" "$W/x64.bin" 8 1 >/dev/null 2>&1
callgrind_annotate --threshold=99.5 "$W/callgrind.out" 2>/dev/null |
    grep -E '^ *[0-9,]+ \(' >"$W/profile.txt" || true

$PY bench/engine_report.py "$W" >bench/RESULTS_engine.md
cat bench/RESULTS_engine.md
bench/results.sh
