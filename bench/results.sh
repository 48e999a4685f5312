#!/bin/sh
# results.sh - gathers the sections the benchmark scripts wrote
# (bench/RESULTS_<area>.md) into bench/RESULTS.md, in a fixed order.
# Each bench script runs it last; run it by hand after editing a section.
cd "$(dirname "$0")" || exit 1
{
    echo "# interp benchmarks"
    echo
    echo "Each section below is written by its script in bench/ (the command is in the section),"
    echo "with interp and the peer (scikit-learn from Debian's python3-sklearn, PyTorch on CPU,"
    echo "ONNX Runtime from onnxruntime-node) run side by side in the same script. Times are"
    echo "medians of several runs unless a section says otherwise; memory is the peak resident"
    echo "set from /usr/bin/time -v. The development machine has 2 cores and was shared with"
    echo "other work while these ran: each section gives the load average, and the ratios"
    echo "(measured side by side) mean more than the absolute times."
    for area in speed engine explain web tsne pca report shard trust; do
        [ -f "RESULTS_$area.md" ] || continue
        echo
        cat "RESULTS_$area.md"
    done
} >RESULTS.md.tmp && mv RESULTS.md.tmp RESULTS.md
