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
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
I=$(cd "$(dirname "${1:-./interp}")" && pwd)/$(basename "${1:-./interp}")
shift || true
FILES=("$@")
[ ${#FILES[@]} -gt 0 ] || FILES=("$ROOT"/tests/*.tests)
F=$ROOT/fixtures
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export I F LC_ALL=C

passed=0 failed=0 skipped=0

fail() {
    echo "FAIL [$file:$line0] $name: $*"
    failed=$((failed + 1))
}

run_case() {
    [ -n "$run" ] || return
    if [ -n "$needs" ] && ! sh -c "$needs" >/dev/null 2>&1; then
        skipped=$((skipped + 1))
        echo "skip [$file:$line0] $name (needs: $needs)"
        return
    fi
    T=$WORK/case$((passed + failed + skipped))
    mkdir -p "$T"
    export T
    (cd "$ROOT" && timeout 120 bash -c "$run") >"$T/.stdout" 2>"$T/.stderr"
    local got=$? ok=1
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
    [ $ok = 1 ] && passed=$((passed + 1))
}

reset_case() {
    name="" run="" exit_code="" lines="" needs="" line0=$lineno
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
