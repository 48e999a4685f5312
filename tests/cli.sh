#!/bin/bash
# cli.sh - runs the command-line cases of tests/*.tests against the real binary.
#
# usage: tests/cli.sh [INTERP] [CASEFILE...]      (default: ./interp tests/*.tests)
#
# A case is a block of "key: value" lines, blocks separated by blank lines:
#   name:   what the case shows
#   run:    a shell command; $I is the binary, $T a fresh empty folder, $F fixtures/
#   exit:   the expected exit status (default 0)
#   stdout: an extended regex that some line of stdout must match (may repeat)
#   stderr: an extended regex that some line of stderr must match (may repeat)
#   lines:  the exact number of stderr lines, or "any" (default 1 when exit is 2)
#   check:  a shell command that must succeed afterwards (may repeat)
#   needs:  a command that must exist, else the case is skipped (e.g. python3-numpy)
# Prints one line per failure and, last, "N passed, N failed, N skipped".
#
# Environment:
#   INTERP_WRAP  a command that runs the binary, e.g. for memcheck
#                INTERP_WRAP='valgrind -q --error-exitcode=99 --leak-check=full
#                --errors-for-leak-kinds=definite' (make check-valgrind); $I is
#                then a small script that execs it, so cases need no change
#   CLI_TIMEOUT  seconds one case may take (default 120; 600 under INTERP_WRAP)
#   CLI_FILTER   an extended regex: only cases whose name matches run
#   CLI_TIMES    when set, prints "time SECONDS [file:line] name" for each case
#   CLI_KEEP     a folder: each case's $T (its outputs, .stdout, .stderr) is
#                copied to CLI_KEEP/<file>_<line>/, for comparing the outputs
#                of two builds (scripts/compare_outputs.sh)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
I=$(cd "$(dirname "${1:-./interp}")" && pwd)/$(basename "${1:-./interp}")
shift || true
FILES=("$@")
[ ${#FILES[@]} -gt 0 ] || FILES=("$ROOT"/tests/*.tests)
F=$ROOT/fixtures
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CASE_TIMEOUT=${CLI_TIMEOUT:-120}
if [ -n "${INTERP_WRAP:-}" ]; then
    # exec keeps one process, so exit statuses and signals reach the case as they are
    printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$INTERP_WRAP" "$I" >"$WORK/interp"
    chmod +x "$WORK/interp"
    I=$WORK/interp
    CASE_TIMEOUT=${CLI_TIMEOUT:-600}
fi
export I F LC_ALL=C

passed=0 failed=0 skipped=0

fail() {
    echo "FAIL [$file:$line0] $name: $*"
}

run_case() {
    [ -n "$run" ] || return
    if [ -n "${CLI_FILTER:-}" ] && ! [[ "$name" =~ $CLI_FILTER ]]; then
        return
    fi
    if [ -n "$needs" ] && ! sh -c "$needs" >/dev/null 2>&1; then
        skipped=$((skipped + 1))
        echo "skip [$file:$line0] $name (needs: $needs)"
        return
    fi
    T=$WORK/case$((passed + failed + skipped))
    mkdir -p "$T"
    export T
    local t0=$EPOCHREALTIME
    (cd "$ROOT" && timeout "$CASE_TIMEOUT" bash -c "$run") >"$T/.stdout" 2>"$T/.stderr"
    local got=$? ok=1
    [ -n "${CLI_TIMES:-}" ] &&
        awk -v a="$EPOCHREALTIME" -v b="$t0" -v n="[$file:$line0] $name" 'BEGIN { printf "time %.2f %s\n", a - b, n }'
    local want=${exit_code:-0}
    if [ "$got" != "$want" ]; then
        fail "exit $got, expected $want; stderr: $(head -c 300 "$T/.stderr")"
        ok=0
    fi
    local re
    for re in "${stdouts[@]}"; do
        grep -Eq -- "$re" "$T/.stdout" || { fail "stdout does not match /$re/: $(head -c 300 "$T/.stdout")"; ok=0; }
    done
    for re in "${stderrs[@]}"; do
        grep -Eq -- "$re" "$T/.stderr" || { fail "stderr does not match /$re/: $(head -c 300 "$T/.stderr")"; ok=0; }
    done
    local want_lines=$lines
    [ -z "$want_lines" ] && [ "$want" = 2 ] && want_lines=1
    if [ -n "$want_lines" ] && [ "$want_lines" != any ]; then
        local n
        n=$(wc -l <"$T/.stderr")
        [ "$n" = "$want_lines" ] || { fail "$n stderr lines, expected $want_lines: $(head -c 300 "$T/.stderr")"; ok=0; }
    fi
    for c in "${checks[@]}"; do
        (cd "$ROOT" && bash -c "$c") >/dev/null 2>&1 || { fail "check failed: $c"; ok=0; }
    done
    if [ -n "${CLI_KEEP:-}" ]; then
        local keep="$CLI_KEEP/$(basename "$file" .tests)_$line0"
        rm -rf "$keep" && mkdir -p "$CLI_KEEP" && cp -a "$T" "$keep"
    fi
    if [ $ok = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

reset_case() {
    name="" run="" exit_code="" lines="" needs="" line0=$((lineno + 1))
    stdouts=() stderrs=() checks=()
}

for file in "${FILES[@]}"; do
    lineno=0
    reset_case
    while IFS= read -r l || [ -n "$l" ]; do
        lineno=$((lineno + 1))
        case "$l" in
        "#"*) continue ;;
        "")
            run_case
            reset_case
            line0=$((lineno + 1))
            continue ;;
        esac
        key=${l%%:*}
        val=${l#*:}
        val=${val# }
        case "$key" in
        name) name=$val ;;
        run) run=$val ;;
        exit) exit_code=$val ;;
        stdout) stdouts+=("$val") ;;
        stderr) stderrs+=("$val") ;;
        lines) lines=$val ;;
        check) checks+=("$val") ;;
        needs) needs=$val ;;
        *) echo "bad line $file:$lineno: $l"; failed=$((failed + 1)) ;;
        esac
    done <"$file"
    run_case
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
