#!/bin/bash
# run.sh - runs the libFuzzer targets one after another (in-process, one at a time: the
# machine is shared), each from its committed seeds in fuzz/corpus/<target>/
# plus a working corpus in build-fuzz/corpus/<target>/ that grows between runs
# and is never committed. Crashes, leaks, timeouts and out-of-memory inputs are
# written to fuzz/findings/<target>-*; the exit status is 1 when any target
# found one.
#
# usage: FUZZ_SECONDS=60 [FUZZ_RUNS=N] fuzz/run.sh [TARGET...]
#        (default targets: npy text labels png jpeg webp bmp gif hdf5 zip json namelist onnx keras)
set -u
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
RUNS=${FUZZ_RUNS:-0}
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(npy text labels png jpeg webp bmp gif hdf5 zip json namelist onnx keras)
mkdir -p fuzz/findings
status=0
for t in "${TARGETS[@]}"; do
    bin=build-fuzz/fuzz_$t
    [ -x "$bin" ] || { echo "fuzz: $bin is not built (make fuzz-build)"; status=1; continue; }
    work=build-fuzz/corpus/$t
    mkdir -p "$work"
    dict=()
    [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
    limit=(-max_total_time="$SECONDS_EACH")
    [ "$RUNS" -gt 0 ] && limit=(-runs="$RUNS")
    log=build-fuzz/fuzz_$t.log
    echo "fuzz: $t (${limit[*]}) log in $log"
    # rss_limit_mb: interp's own limits (fuzz_common.h) refuse big inputs far
    # below it; timeout: a single input taking 10 s is a hang to fix.
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$bin" "${limit[@]}" "${dict[@]}" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="fuzz/findings/$t-" \
        "$work" "fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$log" | tr "\n" " " | sed "s/^/fuzz: $t: /"; echo
    if [ $rc != 0 ]; then
        echo "fuzz: $t FOUND a problem (exit $rc); see $log and fuzz/findings/$t-*"
        grep -m3 -E 'ERROR|SUMMARY|runtime error' "$log" | sed "s/^/fuzz: $t: /"
        status=1
    fi
done
exit $status
