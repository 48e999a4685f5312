#!/usr/bin/python3
"""tsne_sklearn.py X.npy OUT.npy THREADS - scikit-learn's TSNE at interp's
settings (perplexity 30, exaggeration 12 for 250 iterations, 1000 in all,
learning rate max(N/48, 200): scikit-learn's "auto", PCA init), for
bench_tsne.sh. Prints JSON."""
import json, os, sys, time
t0 = time.time()
import numpy as np
from sklearn.manifold import TSNE
x = np.load(sys.argv[1]).astype(np.float32)
n = len(x)
ts = TSNE(n_components=2, perplexity=30.0, early_exaggeration=12.0,
          learning_rate=max(n / 48.0, 200.0), n_iter=1000, init="pca",
          method="barnes_hut", angle=0.5, random_state=0, n_jobs=int(sys.argv[3]))
y = ts.fit_transform(x).astype(np.float32)
np.save(sys.argv[2], y)
print(json.dumps({"time_s": time.time() - t0, "sklearn_kl": float(ts.kl_divergence_)}))
