#!/bin/bash
# demo.sh - runs interp on the bundled fixtures and says where the results are.
# usage: scripts/demo.sh ./interp
set -euo pipefail
I=${1:-./interp}
OUT=demo-out
rm -rf "$OUT"
mkdir -p "$OUT"

echo "== a matrix written by numpy, described and converted"
"$I" convert fixtures/arrays/f4_le_C_v1.npy
"$I" convert fixtures/arrays/f4_le_C_v1.npy -o "$OUT/matrix.csv"

echo "== images decoded and resized as a 128x128 RGB model would see them"
"$I" image fixtures/images/*.png --size 128x128 --rgb -o "$OUT/images"

echo
echo "demo: results in $OUT/"
