#!/bin/bash
# shard_parallel.sh - embeds DATA with MODEL in N shards run by GNU parallel,
# on this machine or on several over ssh, then merges the parts: the files
# one `interp embed` writes, in OUT/merged.
#
# usage: scripts/shard_parallel.sh MODEL DATA OUT N [interp embed options...]
#   JOBS=J          shards at a time on each machine (default: cores / THREADS)
#   THREADS=T       --threads of each shard (default 1)
#   SSHLOGIN=LIST   run on these machines too: parallel's --sshlogin, e.g.
#                   ":,4/node1,4/node2" (":" is this machine). Every machine
#                   must see interp, MODEL, DATA and OUT at the same paths (a
#                   shared file system): the shards write their parts there.
#   INTERP=PATH     the binary (default: interp on the PATH)
#
# What it runs, in two commands:
#   parallel interp embed MODEL DATA --shard {}/N -o OUT/parts/{} ::: $(seq 0 N-1)
#   interp merge OUT/parts/* -o OUT/merged
# A shard that fails stops the others (--halt now,fail=1); run the script again:
# the finished shards are no-ops, the failed one runs again (no manifest).
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,20p' "$0" >&2; exit 2; }
MODEL=$1 DATA=$2 OUT=$3 N=$4
shift 4
I=${INTERP:-interp}
THREADS=${THREADS:-1}
JOBS=${JOBS:-$(( $(nproc) / THREADS > 0 ? $(nproc) / THREADS : 1 ))}
ssh_opts=()
[ -n "${SSHLOGIN:-}" ] && ssh_opts=(--sshlogin "$SSHLOGIN" --workdir "$PWD")
mkdir -p "$OUT/parts"
parallel --will-cite --halt now,fail=1 --jobs "$JOBS" "${ssh_opts[@]}" \
    "$I" embed "$MODEL" "$DATA" --shard {}/"$N" -o "$OUT/parts/{}" --threads "$THREADS" \
    --quiet "$@" ::: $(seq 0 $((N - 1))) >/dev/null
"$I" merge "$OUT"/parts/* -o "$OUT/merged"
