#!/bin/bash
# bench_pca.sh - PCA of Fashion-MNIST (70,000 x 784 pixels, k = 50): interp
# against scikit-learn (Debian's python3-sklearn) in the same run, each the
# median of RUNS runs, with peak memory from /usr/bin/time -v.
# usage: bench/bench_pca.sh [RUNS]   (writes bench/RESULTS_pca.md)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
W=bench/work
mkdir -p "$W"
[ -x /usr/bin/time ] || apt-get install -y -q time >/dev/null
make -s interp

X=$W/fmnist70k_784.npy
if [ ! -f "$X" ]; then
    /usr/bin/python3 - "$X" <<'PY'
import sys
sys.path.insert(0, "fixtures")
import numpy as np, fmnist
x, y = fmnist.load()
np.save(sys.argv[1], (x.astype(np.float32) / 255.0))
np.save(sys.argv[1].replace(".npy", "_labels.npy"), y)
PY
fi

# time_run LABEL CMD...: appends "seconds max_rss_kib" of one run to $W/LABEL.runs
time_run() {
    local label=$1
    shift
    /usr/bin/time -v "$@" >/dev/null 2>"$W/$label.time"
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$W/$label.time")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$W/$label.time")
    echo "$wall $rss" >>"$W/$label.runs"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

rm -f "$W"/pca_*.runs
for i in $(seq "$RUNS"); do
    time_run pca_interp ./interp pca "$X" -k 50 --threads 2 --quiet -o "$W/pca-out"
    time_run pca_interp_rand ./interp pca "$X" -k 50 --solver randomized --threads 2 --quiet -o "$W/pca-out-r"
    time_run pca_sklearn env OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 -c "
import numpy as np
from sklearn.decomposition import PCA
x = np.load('$X')
PCA(50, svd_solver='full').fit_transform(x)"
    time_run pca_sklearn_rand env OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 -c "
import numpy as np
from sklearn.decomposition import PCA
x = np.load('$X')
PCA(50, svd_solver='randomized', random_state=0).fit_transform(x)"
done

# The two agree: explained variance ratio of interp vs sklearn (full).
agree=$(/usr/bin/python3 -c "
import numpy as np
from sklearn.decomposition import PCA
x = np.load('$X')
p = PCA(50, svd_solver='full').fit(x)
r = np.load('$W/pca-out/ratio.npy')
print('%.2e' % np.max(np.abs(r - p.explained_variance_ratio_) / p.explained_variance_ratio_))")

row() {
    local label=$1 what=$2
    local t m
    t=$(awk '{print $1}' "$W/$label.runs" | median)
    m=$(awk '{print $2}' "$W/$label.runs" | median)
    printf '| %s | %.2f | %.0f |\n' "$what" "$t" "$(awk -v m="$m" 'BEGIN {print m / 1024}')"
    echo "$t" >"$W/$label.median"
}

ratio() { awk -v a="$(cat "$W/$1.median")" -v b="$(cat "$W/$2.median")" 'BEGIN {print a / b}'; }

{
    echo "## PCA: Fashion-MNIST 70,000 x 784, k = 50, 2 threads"
    echo
    echo "\`bench/bench_pca.sh $RUNS\` on $(date -u +%F), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "(the machine was shared with other work: absolute times are inflated; the ratios compare runs made side by side)."
    echo
    echo "| run | wall s (median of $RUNS) | peak RSS MiB |"
    echo "|---|---|---|"
    row pca_interp "interp pca (covariance + LAPACK dsyevr)"
    row pca_sklearn "scikit-learn PCA(svd_solver='full')"
    row pca_interp_rand "interp pca --solver randomized"
    row pca_sklearn_rand "scikit-learn PCA(svd_solver='randomized')"
    echo
    printf 'Ratio sklearn/interp: full %.1fx, randomized %.1fx. Largest relative difference of the explained variance ratios, interp vs scikit-learn (full): %s. Times include reading the 219 MB .npy and writing the scores and plots.\n' \
        "$(ratio pca_sklearn pca_interp)" "$(ratio pca_sklearn_rand pca_interp_rand)" "$agree"
} >bench/RESULTS_pca.md
cat bench/RESULTS_pca.md
bench/results.sh
