#!/bin/bash
# web_node.sh - the unit-level check of the WebAssembly build (make web) in
# node: tests/web/node_check.js runs the fixture models through
# build/web-obj/interp_wasm.{js,wasm} and through the native INTERP, and
# requires the same probabilities and Grad-CAM maps (1e-5) and occlusion maps
# (1e-4), and a message, not a trap, for every hostile model fixture.
#
# usage: tests/web_node.sh [INTERP]        (default ./interp)
#
# Without node or without the build (emscripten missing: `make web` installs
# it) the check is SKIPPED loudly and exits 1, so that CI cannot pass it
# silently; INTERP_ALLOW_SKIP=1 makes a skip exit 0.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
I=$(cd "$(dirname "${1:-./interp}")" && pwd)/$(basename "${1:-./interp}")

skip() {
    echo "################################################################" >&2
    echo "## web_node: SKIPPED: $*" >&2
    echo "## The WebAssembly build was NOT checked against the native one." >&2
    echo "## make web installs emscripten (scripts/deps.sh web) and builds it." >&2
    echo "################################################################" >&2
    echo "0 passed, 0 failed, 1 skipped"
    [ "${INTERP_ALLOW_SKIP:-0}" = 1 ] && exit 0
    exit 1
}

command -v node >/dev/null || skip "node not found"
[ -f "$ROOT/build/web-obj/interp_wasm.js" ] && [ -f "$ROOT/build/web-obj/interp_wasm.wasm" ] ||
    skip "build/web-obj/interp_wasm.js is missing (run make web)"
[ -x "$I" ] || { echo "web_node: $I is not executable; build it first" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
node "$ROOT/tests/web/node_check.js" "$I" "$WORK"
