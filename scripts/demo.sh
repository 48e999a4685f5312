#!/bin/bash
# demo.sh - the whole study of the bundled Fashion-MNIST model on 300 of its
# test images (fixtures/demo/: one folder per class), as one web page.
# usage: scripts/demo.sh [./interp]
set -euo pipefail
I=${1:-./interp}
OUT=demo-out
rm -rf "$OUT"
"$I" report fixtures/models/fmnist.onnx fixtures/demo -o "$OUT"
echo
echo "demo: the report is at file://$(cd "$OUT" && pwd)/index.html"
