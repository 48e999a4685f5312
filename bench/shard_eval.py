#!/usr/bin/python3
"""shard_eval.py X.npy LABELS.npy ROWS.npy MAP.npy... - how well the points
listed in ROWS sit in each map of all of X (bench_shard.sh: the map of a sample
plus the rest added in shards, against a t-SNE of all points at once).

For Q of the ROWS (a seeded random choice, --queries, default 10,000): their 10
exact nearest neighbours in X among all N points (brute force in blocks,
numpy's float32 sgemm), their 10 nearest in each 2-D map among all N (scipy's cKDTree),
and per map: 10-NN preservation (the mean share of the high-dimensional
neighbours found among the map's) and 10-NN label accuracy (the majority label
of the map neighbours equals the point's label). The same figures as
bench/tsne_eval.py, restricted to the chosen points so that 1,000,000-point
maps are affordable. One JSON line per map."""
import argparse
import json
import time

import numpy as np
from scipy.spatial import cKDTree


def exact_knn(x, q_idx, k, block=64):
    """The k nearest rows of x to each x[q_idx] (the point itself left out):
    |x_j|^2 - 2 q.x_j ranks the rows as |q - x_j|^2 does (float32 sgemm)."""
    xs = (x.astype(np.float64) ** 2).sum(1).astype(np.float32)
    out = np.empty((len(q_idx), k), np.int64)
    for s in range(0, len(q_idx), block):
        qi = q_idx[s:s + block]
        d = xs[None, :] - 2.0 * (x[qi] @ x.T)
        d[np.arange(len(qi)), qi] = np.inf
        part = np.argpartition(d, k, axis=1)[:, :k]
        order = np.take_along_axis(d, part, 1).argsort(1)
        out[s:s + block] = np.take_along_axis(part, order, 1)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("x")
    ap.add_argument("labels")
    ap.add_argument("rows")
    ap.add_argument("maps", nargs="+")
    ap.add_argument("--queries", type=int, default=10000)
    ap.add_argument("--k", type=int, default=10)
    a = ap.parse_args()
    x = np.load(a.x, mmap_mode="r")
    x = np.ascontiguousarray(x, dtype=np.float32)
    lab = np.load(a.labels)
    rows = np.load(a.rows)
    rng = np.random.default_rng(1)
    q = np.sort(rng.choice(rows, size=min(a.queries, len(rows)), replace=False))
    t0 = time.time()
    hi = exact_knn(x, q, a.k)
    t_hi = time.time() - t0
    for path in a.maps:
        y = np.load(path).astype(np.float64)
        assert y.shape[0] == x.shape[0], (path, y.shape, x.shape)
        _, lo = cKDTree(y).query(y[q], k=a.k + 1)
        lo = np.array([[j for j in r if j != i][:a.k] for r, i in zip(lo, q)])
        pres = float(np.mean([len(set(h) & set(l)) / a.k for h, l in zip(hi, lo)]))
        votes = np.array([np.bincount(lab[r], minlength=lab.max() + 1).argmax() for r in lo])
        acc = float(np.mean(votes == lab[q]))
        print(json.dumps({"map": path, "queries": int(len(q)), "nn10_preservation": pres,
                          "knn10_accuracy": acc, "exact_knn_s": round(t_hi, 1)}), flush=True)


if __name__ == "__main__":
    main()
