#!/bin/bash
# check_slurm.sh - `make check-slurm`: a real Slurm on this machine. Installs
# Debian's slurm-wlm and munge when missing (scripts/deps.sh slurm), starts a
# one-node cluster whose every file lives in a temporary folder (munge key and
# socket, slurm.conf naming this host, state and spool folders, logs), submits
# scripts/slurm/embed_array.sbatch as a 4-task job array over fixtures/demo
# and scripts/slurm/merge.sbatch after it (--dependency=afterok), waits with a
# bounded timeout, and compares the merged files byte for byte with one
# unsharded `interp embed`. Every daemon it started is stopped on exit, by
# its pid (trap), and the folder removed.
#
# usage: scripts/check_slurm.sh [INTERP]      (default ./interp)
#   TIMEOUT=S    seconds to wait for the cluster and then for the jobs (default 180)
#   KEEP=1       keep the temporary folder (logs) and say where it is
# Needs root (the daemons run as root here, as in a container); exit 0 when the
# merged run equals the unsharded one, 1 otherwise, 77 when it cannot run here.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
I=$(cd "$(dirname "${1:-./interp}")" && pwd)/$(basename "${1:-./interp}")
TIMEOUT=${TIMEOUT:-180}
N=4
t_start=$(date +%s.%N)
say() { echo "check-slurm: $*"; }
elapsed() { awk -v a="$(date +%s.%N)" -v b="$t_start" 'BEGIN { printf "%.1f", a - b }'; }

[ "$(id -u)" = 0 ] || { say "needs root (it starts slurmctld, slurmd and munged)"; exit 77; }
[ -x "$I" ] || { say "no binary $I (make interp)"; exit 1; }
command -v slurmctld >/dev/null && command -v munged >/dev/null || ./scripts/deps.sh slurm ||
    { say "could not install slurm-wlm and munge"; exit 77; }

W=$(mktemp -d /tmp/interp-slurm.XXXXXX)
chmod 711 "$W" # munged wants its socket's folders searchable by all
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do # up to 10 s each, then SIGKILL
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    done
    if [ -n "${KEEP:-}" ]; then say "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# the pid a daemon wrote to FILE (waits up to 10 s for it)
pid_of() {
    for _ in $(seq 100); do
        [ -s "$1" ] && { cat "$1"; return 0; }
        sleep 0.1
    done
    return 1
}

# ---- munge: a key of our own and a socket in W
mungekey -c -k "$W/munge.key" || { say "mungekey failed"; exit 1; }
munged --key-file="$W/munge.key" --socket="$W/munge.sock" --pid-file="$W/munged.pid" \
    --log-file="$W/munged.log" --seed-file="$W/munged.seed" ||
    { say "munged did not start"; cat "$W/munged.log"; exit 1; }
PIDS+=("$(pid_of "$W/munged.pid")")

# ---- slurm.conf: one node, this host; free ports
HOST=$(hostname -s)
port() { # a TCP port nobody listens on
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 20000))
        ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && { echo "$p"; return; }
    done
    echo 6817
}
mkdir -p "$W/state" "$W/spool" "$W/out"
cat >"$W/slurm.conf" <<EOF
ClusterName=interpcheck
SlurmctldHost=$HOST
SlurmctldPort=$(port)
SlurmdPort=$(port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$W/munge.sock
CredType=cred/munge
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
NodeName=$HOST CPUs=$(nproc) State=UNKNOWN
PartitionName=check Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$W/slurm.conf

slurmctld -f "$SLURM_CONF" -i || { say "slurmctld did not start"; cat "$W/slurmctld.log"; exit 1; }
PIDS+=("$(pid_of "$W/slurmctld.pid")")
slurmd -f "$SLURM_CONF" || { say "slurmd did not start"; cat "$W/slurmd.log"; exit 1; }
PIDS+=("$(pid_of "$W/slurmd.pid")")

deadline=$(( $(date +%s) + TIMEOUT ))
until [ "$(sinfo -h -n "$HOST" -o %T 2>/dev/null)" = idle ]; do
    if [ "$(date +%s)" -gt "$deadline" ]; then
        say "the node did not become idle in ${TIMEOUT}s: $(sinfo -h -o '%T %E' 2>&1)"
        tail -20 "$W/slurmctld.log" "$W/slurmd.log"
        exit 1
    fi
    sleep 0.5
done
say "one-node cluster up on $HOST ($(nproc) CPUs) after $(elapsed)s"

# ---- the array job and the dependent merge, as a user submits them
OUT=$W/out
export MODEL=$ROOT/fixtures/models/fmnist.onnx DATA=$ROOT/fixtures/demo OUT INTERP=$I THREADS=1
t_jobs=$(date +%s.%N)
ids=$(scripts/slurm/submit.sh "$MODEL" "$DATA" "$OUT" "$N" --cpus-per-task=1) ||
    { say "submission failed"; exit 1; }
say "$ids"
array=$(echo "$ids" | sed -n 's/^embed array job \([0-9]*\).*/\1/p')
merge=$(echo "$ids" | sed -n 's/.*merge job \([0-9]*\)$/\1/p')
state() { scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | sort -u | tr '\n' ' '; }
deadline=$(( $(date +%s) + TIMEOUT ))
while :; do
    s=$(state "$merge")
    case "$s" in
    *COMPLETED*) break ;;
    *FAILED* | *CANCELLED* | *TIMEOUT* | *NODE_FAIL* | *OUT_OF_MEMORY*)
        say "merge job $merge: $s; array: $(state "$array")"
        tail -5 "$OUT"/logs/*.out
        exit 1 ;;
    esac
    if [ "$(date +%s)" -gt "$deadline" ]; then
        say "jobs not done in ${TIMEOUT}s: array $(state "$array"), merge $s"
        squeue 2>&1 | head
        exit 1
    fi
    sleep 0.5
done
jobs_s=$(awk -v a="$(date +%s.%N)" -v b="$t_jobs" 'BEGIN { printf "%.1f", a - b }')
say "array $array ($N tasks) and merge $merge completed in ${jobs_s}s"

# ---- the same as one unsharded run?
"$I" embed "$MODEL" "$DATA" -o "$W/one" --quiet >/dev/null || exit 1 # all cores; the tasks ran 1 thread
status=0
[ "$(ls "$W/one")" = "$(ls "$OUT/merged")" ] || { say "merged files: $(ls "$OUT/merged")"; status=1; }
for f in "$W"/one/*; do
    cmp "$f" "$OUT/merged/$(basename "$f")" || status=1
done
[ "$(ls -d "$OUT"/parts/* | wc -l)" = $N ] || status=1
if [ $status = 0 ]; then
    say "PASS: the merged $N-shard Slurm run equals one interp embed, byte for byte ($(elapsed)s in all)"
else
    say "FAIL: the merged run differs from one interp embed"
fi
exit $status
