#!/bin/bash
# bench_shard.sh - sharded runs (issue 18) on this machine:
#   embed  `interp embed` of 10,000 images (128x128 RGB PNGs made from
#          Fashion-MNIST by bench/make_bench_data.py, the full-size seed model)
#          as 1, 2 and 4 shards under GNU parallel, plus the merge; the rounds
#          interleave the configurations so that they share the machine's load,
#          and each merged run is compared byte for byte with the unsharded one.
#   tsne   the t-SNE of 1,000,000 points (bench_tsne.sh's 20-Gaussian mixture,
#          1,000,000 x 50) by sample and shards: map SAMPLE points, add the
#          other points with `--add --shard K/ADD_SHARDS` under GNU parallel,
#          merge; against one t-SNE of all points (reused from an earlier run
#          when its map is there, FULL=0 skips it): time, peak memory, and the
#          10-NN preservation and 10-NN label accuracy of 10,000 added points
#          (bench/shard_eval.py).
# The 1-minute load average is recorded beside every figure; a figure taken
# above load 1 is marked "loaded": rerun the script on an idle machine for
# figures that time the code rather than the neighbours.
#
# usage: bench/bench_shard.sh   (SECTIONS="embed tsne"; writes bench/RESULTS_shard.md
#                                and regathers bench/RESULTS.md; work files in bench/work/shard)
#   ROUNDS=2 IMAGES=10000 SAMPLE=50000 ADD_SHARDS=4 ADD_JOBS=2 ADD_ITERS=250 FULL=1
#   NPTS=1000000 (fewer for a quick trial of the script: NPTS=20000 SAMPLE=5000 IMAGES=200)
#   INTERP=PATH (default ./interp, copied to the work folder so rebuilds do not touch a run)
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
W=bench/work/shard
D=bench/data
OUT=bench/RESULTS_shard.md
SECTIONS=${SECTIONS:-"embed tsne"}
ROUNDS=${ROUNDS:-2}
IMAGES=${IMAGES:-10000}
SAMPLE=${SAMPLE:-50000}
ADD_SHARDS=${ADD_SHARDS:-4}
ADD_JOBS=${ADD_JOBS:-2}
ADD_ITERS=${ADD_ITERS:-250}
FULL=${FULL:-1}
NPTS=${NPTS:-1000000}
MODEL=bench/work/seed128_full.onnx
IMG=bench/work/images$IMAGES
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} # see bench_tsne.sh
mkdir -p "$W" "$D"
[ -x /usr/bin/time ] || apt-get install -y -q time >/dev/null
command -v parallel >/dev/null || ./scripts/deps.sh
make -s interp
cp "${INTERP:-./interp}" "$W/interp"
# what ran, recorded per section (a later run of one section keeps the other's)
stamp() { echo "$(date -u +%F) at commit $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- . ':!bench/RESULTS*.md' 2>/dev/null || echo ' (with uncommitted changes)')" >"$1"; }
I=$W/interp
has() { [[ " $SECTIONS " == *" $1 "* ]]; }
. bench/settle.sh # settle: wait for the load to fall below 1 before a timed run
load1() { cut -d' ' -f1 /proc/loadavg; }
loaded() { awk -v l="$1" 'BEGIN { print (l > 1.0) ? "loaded" : "idle" }'; }
now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# cpu FILE: user + system seconds from a /usr/bin/time -f '%U %S' file
cpu() { awk 'END { printf "%.1f", $1 + $2 }' "$1"; }

# ---------------------------------------------------------------- embed
if has embed; then
    [ -s "$MODEL" ] || $PY bench/make_bench_data.py --model "$MODEL"
    [ "$(find "$IMG" -name '*.png' 2>/dev/null | wc -l)" -ge "$IMAGES" ] ||
        $PY bench/make_bench_data.py --images "$IMG" --count "$IMAGES"
    E=$W/embed
    mkdir -p "$E"
    : >"$E/runs.tsv"
    stamp "$E/stamp"
    # configurations: name shards threads-per-shard jobs-at-once
    CONFIGS=("1x1 1 1 1" "1x2 1 2 1" "2x1 2 1 2" "4x1 4 1 2" "4x1j4 4 1 4")
    for r in $(seq "$ROUNDS"); do
        for cfg in "${CONFIGS[@]}"; do
            read -r name S T J <<<"$cfg"
            rm -rf "$E/$name"
            settle
            l0=$(load1)
            t0=$(now)
            if [ "$S" = 1 ]; then
                /usr/bin/time -f '%U %S' -o "$E/$name.cpu" \
                    "$I" embed "$MODEL" "$IMG" --threads "$T" -o "$E/$name/merged" --quiet >/dev/null
                wall=$(since "$t0")
                merge=0
            else
                /usr/bin/time -f '%U %S' -o "$E/$name.cpu" \
                    parallel --will-cite -j "$J" "$I" embed "$MODEL" "$IMG" --shard {}/"$S" \
                    --threads "$T" -o "$E/$name/parts/{}" --quiet ::: $(seq 0 $((S - 1))) >/dev/null
                wall=$(since "$t0")
                t1=$(now)
                "$I" merge "$E/$name"/parts/* -o "$E/$name/merged" --quiet >/dev/null
                merge=$(since "$t1")
            fi
            same=yes
            if [ "$name" != 1x1 ]; then
                for f in "$E/1x1/merged"/*; do
                    cmp -s "$f" "$E/$name/merged/$(basename "$f")" || same=no
                done
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$r" "$S" "$T" "$J" "$wall" \
                "$(cpu "$E/$name.cpu")" "$merge" "$l0 / $(load1)" "$same" >>"$E/runs.tsv"
            echo "embed $name round $r: ${wall}s (merge ${merge}s), load $l0, same bytes as 1x1: $same"
        done
    done
fi

# ---------------------------------------------------------------- t-SNE of 1,000,000 points
if has tsne; then
    T1=$W/tsne$([ "$NPTS" = 1000000 ] || echo "$NPTS")
    mkdir -p "$T1"
    stamp "$T1/stamp"
    tag=$([ "$NPTS" = 1000000 ] && echo 1m || echo "$NPTS")
    X=$D/mix${tag}_50.npy
    LAB=$D/mix${tag}_labels.npy
    [ -s "$X" ] && [ -s "$LAB" ] || $PY - "$X" "$LAB" "$NPTS" <<'PYEOF'
import sys, numpy as np
# bench_tsne.sh's mixture(1000000, 50, 20, 2), keeping its component labels
n, dim, k, seed = int(sys.argv[3]), 50, 20, 2
r = np.random.default_rng(seed)
c = r.normal(0, 4, (k, dim)).astype(np.float32)
lab = r.integers(0, k, n)
out = np.empty((n, dim), np.float32)
for s in range(0, n, 100000):
    out[s:s+100000] = c[lab[s:s+100000]] + r.standard_normal((min(100000, n - s), dim), dtype=np.float32)
np.save(sys.argv[1], out)
np.save(sys.argv[2], lab.astype(np.int32))
PYEOF
    $PY - "$X" "$T1" "$SAMPLE" <<'PYEOF'
import sys, numpy as np
x = np.load(sys.argv[1], mmap_mode="r"); out = sys.argv[2]; m = int(sys.argv[3])
pick = np.sort(np.random.default_rng(1).choice(len(x), m, replace=False))
rest = np.setdiff1d(np.arange(len(x)), pick)
np.save(out + "/sample_rows.npy", pick); np.save(out + "/rest_rows.npy", rest)
np.save(out + "/sample.npy", np.ascontiguousarray(x[pick])); np.save(out + "/rest.npy", np.ascontiguousarray(x[rest]))
PYEOF
    settle
    l0=$(load1)
    t0=$(now)
    /usr/bin/time -f '%U %S %M' -o "$T1/map.time" "$I" tsne "$T1/sample.npy" --threads 2 --seed 1 \
        -o "$T1/map" --json --quiet >"$T1/map.json"
    map_s=$(since "$t0")
    map_load="$l0 / $(load1)"
    settle
    l0=$(load1)
    t0=$(now)
    rm -rf "$T1/add"
    /usr/bin/time -f '%U %S %M' -o "$T1/add.time" \
        parallel --will-cite -j "$ADD_JOBS" "$I" tsne "$T1/sample.npy" --add "$T1/rest.npy" --to "$T1/map" \
        --iters "$ADD_ITERS" --shard {}/"$ADD_SHARDS" --threads 1 -o "$T1/add/{}" --json --quiet \
        ::: $(seq 0 $((ADD_SHARDS - 1))) >"$T1/add.json"
    add_s=$(since "$t0")
    add_load="$l0 / $(load1)"
    t0=$(now)
    "$I" merge "$T1"/add/* -o "$T1/added" --quiet >/dev/null
    merge_s=$(since "$t0")
    # the whole map: the sample's coordinates and the added ones at their rows
    $PY - "$T1" <<'PYEOF'
import sys, numpy as np
d = sys.argv[1]
pick = np.load(d + "/sample_rows.npy"); rest = np.load(d + "/rest_rows.npy")
y = np.empty((len(pick) + len(rest), 2), np.float32)
y[pick] = np.load(d + "/map/tsne.npy"); y[rest] = np.load(d + "/added/tsne.npy")
np.save(d + "/sample_add.npy", y)
PYEOF
    FULLMAP=$T1/full/tsne.npy
    [ -s "$FULLMAP" ] || [ "$NPTS" != 1000000 ] ||
        FULLMAP=bench/work/i1m_fft_it1000.1/tsne.npy # bench_tsne.sh's, same data
    full_s="" full_load="" full_note=""
    if [ -s "$FULLMAP" ]; then
        full_note="reused $FULLMAP"
    elif [ "$FULL" = 1 ]; then
        FULLMAP=$T1/full/tsne.npy
        settle
        l0=$(load1)
        t0=$(now)
        /usr/bin/time -f '%U %S %M' -o "$T1/full.time" "$I" tsne "$X" --threads 2 --seed 1 \
            -o "$T1/full" --json --quiet >"$T1/full.json"
        full_s=$(since "$t0")
        full_load="$l0 / $(load1)"
    fi
    maps="$T1/sample_add.npy"
    [ -s "$FULLMAP" ] && maps="$maps $FULLMAP"
    $PY bench/shard_eval.py "$X" "$LAB" "$T1/rest_rows.npy" $maps >"$T1/eval.jsonl"
    cat "$T1/eval.jsonl"
    {
        echo "map_s=$map_s"; echo "map_load='$map_load'"; echo "add_s=$add_s"; echo "add_load='$add_load'"
        echo "merge_s=$merge_s"; echo "full_s='$full_s'"; echo "full_load='$full_load'"
        echo "full_note='$full_note'"; echo "fullmap='$FULLMAP'"
        echo "T1='$T1'"
    } >"$W/tsne_figures.sh"
fi

# ---------------------------------------------------------------- RESULTS_shard.md
{
    echo "## Sharded runs: GNU parallel, and t-SNE by sample and shards"
    echo
    echo "\`bench/bench_shard.sh\`, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'));"
    echo "each section says when and at which commit it ran. Load = the 1-minute load"
    echo "average when a run started / when it ended; **a row marked \"loaded\" was measured"
    echo "above load 1** (the machine was shared): its times are inflated and it should be"
    echo "rerun on an idle machine (\`bench/bench_shard.sh\` again)."
    if [ -s "$W/embed/runs.tsv" ]; then
        echo
        echo "### \`interp embed\` of $IMAGES images in 1, 2 and 4 shards"
        echo
        echo "Run on $(cat "$W/embed/stamp" 2>/dev/null)."
        echo
        echo "The full-size seed model (3x128x128 input, three conv blocks, dense 16384-128-2) on"
        echo "$IMAGES 128x128 RGB PNGs (bench/make_bench_data.py: Fashion-MNIST test images,"
        echo "upscaled, colourised, in 2 class folders), batch 64. Configurations: SxT = S shards"
        echo "of T threads each, J at once under \`parallel -j J\`; 1xT is one \`interp embed\`"
        echo "without --shard. Wall = all shards (for S > 1, then \`interp merge\`: its own"
        echo "column); CPU = user + system of every process. \"same\" = the merged files equal"
        echo "the 1x1 run's byte for byte."
        echo
        echo "| config | round | shards | threads | jobs | wall s | images/s | CPU s | merge s | load (start / end) | | same |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
        while IFS=$'\t' read -r name r S T J wall cpu merge ld same; do
            ips=$(awk -v n="$IMAGES" -v w="$wall" 'BEGIN { printf "%.1f", n / w }')
            echo "| $name | $r | $S | $T | $J | $wall | $ips | $cpu | $merge | $ld | $(loaded "${ld%% *}") | $same |"
        done <"$W/embed/runs.tsv"
        echo
        echo "Medians over the rounds:"
        echo
        echo "| config | wall s | images/s | speed-up over 1x1 | CPU s | merge s |"
        echo "|---|---|---|---|---|---|"
        base=$(awk -F'\t' '$1 == "1x1" {print $6}' "$W/embed/runs.tsv" | median)
        for name in 1x1 1x2 2x1 4x1 4x1j4; do
            w=$(awk -F'\t' -v n="$name" '$1 == n {print $6}' "$W/embed/runs.tsv" | median)
            [ -n "$w" ] || continue
            c=$(awk -F'\t' -v n="$name" '$1 == n {print $7}' "$W/embed/runs.tsv" | median)
            m=$(awk -F'\t' -v n="$name" '$1 == n {print $8}' "$W/embed/runs.tsv" | median)
            awk -v n="$name" -v w="$w" -v b="$base" -v c="$c" -v m="$m" -v i="$IMAGES" \
                'BEGIN { printf "| %s | %.1f | %.1f | %.2f | %.1f | %.1f |\n", n, w, i / w, b / w, c, m }'
        done
        echo
        echo "What this shows and what it does not: on 2 cores, shards are processes that share"
        echo "nothing, so two single-threaded shards use both cores with no synchronisation and"
        echo "should take the wall time of 1x1 down towards half, at the same CPU time (the model"
        echo "is loaded once per shard, a fraction of a second); 1x2 (one process, two threads)"
        echo "is the in-process alternative. 4 shards on 2 cores cannot go faster than 2: \"4x1\""
        echo "runs them 2 at a time (the cost of more, smaller parts), \"4x1j4\" all at once"
        echo "(oversubscribed). The merge reads and rewrites the arrays (tens of MB here) and"
        echo "costs well under a second. Not shown: more than one machine (the point of"
        echo "sharding — each extra host adds its cores; the only shared step is the merge),"
        echo "a shared file system's contention when many hosts read images at once, or the"
        echo "start-up latency of a Slurm array. Under load the figures mostly measure the"
        echo "neighbours: compare CPU seconds, and rerun idle."
    fi
    if [ -s "$W/tsne_figures.sh" ]; then
        # shellcheck disable=SC1091
        . "$W/tsne_figures.sh"
        echo
        echo "### t-SNE of $NPTS points by sample and shards"
        echo
        echo "Run on $(cat "$T1/stamp" 2>/dev/null)."
        echo
        echo "$NPTS x 50 points (bench_tsne.sh's mixture of 20 Gaussians). A uniform sample of"
        echo "$SAMPLE points is mapped by \`interp tsne --threads 2\` (1000 iterations); the other"
        echo "$((NPTS - SAMPLE)) are placed with \`interp tsne sample.npy --add rest.npy --to map"
        echo "--iters $ADD_ITERS --shard K/$ADD_SHARDS --threads 1\`, $ADD_JOBS shards at a time under"
        echo "GNU parallel, then \`interp merge\`. Quality: for 10,000 random added points, their"
        echo "10 exact nearest neighbours in 50-D among all $NPTS, against their 10 nearest"
        echo "in the 2-D map (bench/shard_eval.py): the share found (10-NN preservation) and"
        echo "whether the map neighbours' majority label is the point's (10-NN accuracy); the"
        echo "same points in one t-SNE of all $NPTS points for comparison."
        echo
        echo "| step | wall s | CPU s | peak RSS MiB | load (start / end) | |"
        echo "|---|---|---|---|---|---|"
        rd() { awk '{ printf "%.1f | %.0f", $1 + $2, $3 / 1024 }' "$1"; }
        echo "| map the $SAMPLE-point sample | $map_s | $(rd "$T1/map.time") | $map_load | $(loaded "${map_load%% *}") |"
        echo "| add $((NPTS - SAMPLE)) points in $ADD_SHARDS shards | $add_s | $(rd "$T1/add.time") | $add_load | $(loaded "${add_load%% *}") |"
        echo "| merge | $merge_s | | | | |"
        tot=$(awk -v a="$map_s" -v b="$add_s" -v c="$merge_s" 'BEGIN { printf "%.1f", a + b + c }')
        echo "| **sample + add, in all** | **$tot** | | | | |"
        if [ -n "$full_s" ]; then
            echo "| one t-SNE of all $NPTS points | $full_s | $(rd "$T1/full.time") | $full_load | $(loaded "${full_load%% *}") |"
        elif [ -n "$full_note" ]; then
            echo "| one t-SNE of all $NPTS points | (not rerun: $full_note; bench/RESULTS_tsne.md times it) | | | | |"
        fi
        echo
        echo "(The peak RSS of the add is GNU parallel's largest child: one shard.)"
        echo
        echo "| map | points evaluated | 10-NN preservation | 10-NN accuracy | KL of the t-SNE run |"
        echo "|---|---|---|---|---|"
        $PY - "$T1/eval.jsonl" "$T1" <<'PYEOF'
import json, os, sys
def kl(path):
    try:
        return "%.3f (%s)" % (json.load(open(path))["kl_divergence"], os.path.basename(path))
    except (OSError, KeyError, ValueError):
        return "-"
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["map"].endswith("sample_add.npy"):
        what, k = "sample + added (this run)", kl(sys.argv[2] + "/map.json") + ", the sample's map"
    else:
        what, k = "one t-SNE of all points", kl(sys.argv[2] + "/full.json")
    print("| %s | %d added points | %.4f | %.4f | %s |" % (what, r["queries"], r["nn10_preservation"], r["knn10_accuracy"], k))
PYEOF
        echo
        echo "The mixture's 20 components are far apart (centres ~40 apart, each point ~10 from"
        echo "its component's others), so a map that separates them scores a 10-NN accuracy"
        echo "near 1 and one that does not near 1/20 = 0.05; within a component the 50-D"
        echo "neighbours are noise, which keeps 10-NN preservation low in any 2-D map."
        $PY - "$T1/eval.jsonl" "$T1/full/kl.csv" <<'PYEOF'
import csv, json, sys
full = [json.loads(l) for l in open(sys.argv[1]) if not l.split('"map": "')[1].split('"')[0].endswith("sample_add.npy")]
if full and full[0]["knn10_accuracy"] < 0.5:
    try:
        kl = {int(r["iteration"]): float(r["kl"]) for r in csv.DictReader(open(sys.argv[2]))}
        trace = ", ".join("%d: %.2f" % (i, kl[i]) for i in (250, 300, 500, 1000) if i in kl)
    except OSError:
        trace = "no kl.csv"
    print("\nOn this run the t-SNE of all points did not separate the components: its KL")
    print("(estimated) rose when the exaggeration ended and had not come back down by the")
    print("last iteration (%s), a problem of the one-shot map at this size, not of the" % trace)
    print("sample-plus-add path.")
PYEOF
    fi
} >"$OUT"
bench/results.sh
echo "wrote $OUT"
