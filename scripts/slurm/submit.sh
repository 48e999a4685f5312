#!/bin/bash
# submit.sh - embeds DATA with MODEL as an N-task Slurm job array and merges
# the parts in a job that starts when every task has succeeded
# (--dependency=afterok). Prints the two job ids.
#
# usage: scripts/slurm/submit.sh MODEL DATA OUT N [sbatch options...]
#   e.g. scripts/slurm/submit.sh net.onnx /shared/data/test /shared/run 16 --partition=cpu
#   INTERP=/path/to/interp, BATCH (default 64), THREADS (default: the task's CPUs)
# The merged result lands in OUT/merged (the files one `interp embed` writes);
# then: interp report MODEL DATA --from OUT/merged -o OUT/report
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
MODEL=$1 DATA=$2 OUT=$3 N=$4
shift 4
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT/logs"
export MODEL DATA OUT SHARDS=$N
array=$(sbatch --parsable --array=0-$((N - 1)) --output="$OUT/logs/embed-%a.out" \
    --export=ALL "$@" "$HERE/embed_array.sbatch")
array=${array%%;*}
merge=$(sbatch --parsable --dependency=afterok:"$array" --output="$OUT/logs/merge.out" \
    --export=ALL "$@" "$HERE/merge.sbatch")
echo "embed array job $array (tasks 0-$((N - 1))), merge job ${merge%%;*}"
