#!/bin/bash
# browser_web.sh - the browser app (make web) in headless Chromium:
# tests/web/browser_check.py chooses models, class names and images through
# the page's file inputs, reads the page's top-5, Grad-CAM and occlusion maps
# and compares them with `interp predict/gradcam/occlusion` on the same files
# (probabilities to 1e-5, maps to 1e-4 of their maximum, for PNG and for JPEG:
# Chromium's libjpeg-turbo decodes the fixture JPEGs to the same pixels as
# interp's); feeds it one hostile file of
# each kind (not a model, a truncated model, an image that does not decode,
# a 20000x20000 PNG, a model over the page's memory budget) and requires a
# message, a single live worker and a page that still works; and requires that
# no request left the page after it loaded (DevTools Network events, the
# worker's included).
#
# usage: tests/browser_web.sh [INTERP]        (default ./interp)
#
# Without chromium, python3 or the build (make web), the test is SKIPPED
# loudly and exits 1; INTERP_ALLOW_SKIP=1 makes a skip exit 0.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
I=$(cd "$(dirname "${1:-./interp}")" && pwd)/$(basename "${1:-./interp}")
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)

skip() {
    echo "################################################################" >&2
    echo "## browser_web: SKIPPED: $*" >&2
    echo "## The browser app was NOT checked in a browser." >&2
    echo "## make check installs chromium and emscripten and builds it." >&2
    echo "################################################################" >&2
    echo "0 passed, 0 failed, 1 skipped"
    [ "${INTERP_ALLOW_SKIP:-0}" = 1 ] && exit 0
    exit 1
}

CHROME=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROME" ] && [ -x "$CHROME" ] || skip "chromium not found${CHROMIUM:+ at $CHROMIUM}"
[ -n "$PY" ] || skip "python3 not found (drives chromium)"
[ -f "$ROOT/build/web/index.html" ] && [ -f "$ROOT/build/web/worker.js" ] ||
    skip "build/web/ is missing (run make web)"
[ -x "$I" ] || { echo "browser_web: $I is not executable; build it first" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# the hostile files and the class names
ls "$ROOT/fixtures/demo" >"$WORK/classes.txt"
: >"$WORK/empty.txt"
cp "$ROOT/fixtures/models/images/rgb/00_group0.png" "$WORK/not_a_model.onnx"
head -c 300000 "$ROOT/fixtures/models/rgb.onnx" >"$WORK/truncated.onnx"
{ head -c 40 "$ROOT/fixtures/models/images/rgb/00_group0.png"; head -c 2000 /dev/zero | tr '\0' 'x'; } \
    >"$WORK/undecodable.png"
"$PY" - "$WORK/huge.png" <<'PYEOF'
# a 20000 x 20000 1-bit gray PNG: 50 MB of pixels in ~50 KB of file
import struct, sys, zlib
w = h = 20000
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
row = b"\0" + b"\0" * ((w + 7) // 8)
z = zlib.compressobj(9)
data = b"".join(z.compress(row) for _ in range(h)) + z.flush()
with open(sys.argv[1], "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)) +
            chunk(b"IDAT", data) + chunk(b"IEND", b""))
PYEOF
"$PY" "$ROOT/tests/web/browser_check.py" "$CHROME" "$I" "$WORK"
