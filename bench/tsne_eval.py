#!/usr/bin/python3
"""tsne_eval.py X.npy LABELS.npy Y.npy... - the same quality figures for every
map (bench_tsne.sh): exact KL(P||Q) with P from the exact 90 nearest neighbours
in X (perplexity 30, bisection to 1e-5, symmetrised / 2N: fixtures/make_tsne.py's
definition), Q the Student-t kernel over all pairs (chunked, O(N^2)); 10-NN
preservation; leave-one-out 10-NN label accuracy in the map. One JSON line per map."""
import json, sys
import numpy as np
from sklearn.neighbors import NearestNeighbors

def knn(x, k):
    nn = NearestNeighbors(n_neighbors=k + 1, algorithm="auto", n_jobs=2).fit(x)
    d, i = nn.kneighbors(x)
    return d[:, 1:] ** 2, i[:, 1:]

def joint_p(x, perp=30.0):
    k = int(3 * perp)
    d, idx = knn(x, k)
    d = d - d[:, :1]
    n = len(x); target = np.log(perp)
    beta = np.ones(n); lo = np.full(n, -np.inf); hi = np.full(n, np.inf)
    for _ in range(200):
        p = np.exp(-d * beta[:, None]); s = p.sum(1)
        h = np.log(s) + beta * (d * p).sum(1) / s
        if np.abs(h - target).max() < 1e-5: break
        up = h > target
        lo[up] = beta[up]; beta[up] = np.where(np.isinf(hi[up]), beta[up] * 2, (beta[up] + hi[up]) / 2)
        dn = ~up
        hi[dn] = beta[dn]; beta[dn] = np.where(np.isinf(lo[dn]), beta[dn] / 2, (beta[dn] + lo[dn]) / 2)
    p = np.exp(-d * beta[:, None]); p /= p.sum(1, keepdims=True)
    from scipy.sparse import csr_matrix
    P = csr_matrix((p.ravel(), idx.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))
    P = (P + P.T) / (2 * n)
    return P.tocoo()

def kl(P, y, chunk=2000):
    y = y.astype(np.float64); n = len(y); z = 0.0
    sq = (y ** 2).sum(1)
    for s in range(0, n, chunk):
        d2 = sq[s:s + chunk, None] + sq[None, :] - 2 * y[s:s + chunk] @ y.T
        z += (1.0 / (1.0 + np.maximum(d2, 0))).sum() - min(chunk, n - s)
    d2 = ((y[P.row] - y[P.col]) ** 2).sum(1)
    v = P.data
    return float((v * (np.log(v) + np.log1p(d2))).sum() + np.log(z))

x = np.load(sys.argv[1]).astype(np.float32)
lab = np.load(sys.argv[2])
P = joint_p(x)
_, hi = knn(x, 10)
for path in sys.argv[3:]:
    y = np.load(path)
    _, lo = knn(y, 10)
    pres = float(np.mean([len(set(a) & set(b)) / 10.0 for a, b in zip(hi, lo)]))
    votes = np.array([np.bincount(lab[r], minlength=lab.max() + 1).argmax() for r in lo])
    acc = float(np.mean(votes == lab))
    print(json.dumps({"map": path, "kl": kl(P, y), "nn10_preservation": pres, "knn10_accuracy": acc}), flush=True)
