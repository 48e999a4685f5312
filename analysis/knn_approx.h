/* knn_approx.h - approximate k nearest neighbours for large N: a forest of
 * random-projection trees (Dasgupta & Freund 2008; the splits of Annoy: the
 * hyperplane halfway between two random points) gives each point candidates
 * from its leaves, then rounds of neighbour-of-neighbour refinement (NN-descent,
 * Dong, Charikar & Li 2011) improve the lists until few entries change.
 *
 *     struct knn_approx_params kp = knn_approx_params_default();
 *     kp.seed = 1;
 *     struct knn *nn = knn_approx(x, n, d, 90, &kp, progress);
 *     // as knn_exact: nn->idx (n x k), nn->dist2 (double, exact for those pairs)
 *     knn_free(nn);
 *
 * For locality the search runs on a copy of x renumbered in the first tree's
 * leaf order, and each refinement step gathers its candidates, then fetches
 * their rows a few ahead of the distances (x is read at random otherwise):
 * 200,000 x 50 (a 20-Gaussian mixture, 2 threads) 93 s -> 31 s -> 23 s.
 *
 * Deterministic for a seed: each tree draws from its own generator seeded by
 * (seed, tree), and every refinement round reads the previous round's lists
 * only and writes each point's own list, so the thread count does not matter.
 * Recall measured on Fashion-MNIST PCA-50 (bench/RESULTS_tsne.md, tests).
 */
#ifndef INTERP_KNN_APPROX_H
#define INTERP_KNN_APPROX_H

#include <stddef.h>
#include <stdint.h>

#include "../core/progress.h"
#include "knn.h"

struct knn_approx_params {
    int trees;        /* random-projection trees: 6 */
    size_t leaf_size; /* points per leaf at most: 0 = max(k, 64) */
    int rounds;       /* refinement rounds at most: 10 */
    size_t expand;    /* a neighbour contributes its nearest `expand` neighbours: 12 */
    double delta;     /* stop when fewer than delta * n * k entries change: 0.001 */
    uint64_t seed;    /* trees' random splits */
    int threads;      /* OpenMP threads, 0 = default; the result does not depend on it */
};
struct knn_approx_params knn_approx_params_default(void);

/* Approximate k nearest neighbours of each row of x (n x d float32), self
 * excluded, ascending by (distance, index); dist2 holds the exact squared
 * distances (double) of the pairs found. Errors as knn_exact (ERR_INPUT for
 * k < 1, k > n - 1, NaN/Inf naming the row; ERR_FAIL when out of memory).
 * Memory beyond x: a copy of x in the first tree's leaf order (the search
 * runs on it, for locality) and n * (18 k + 9 trees + 4 threads + 8) bytes
 * while searching (two generations of lists: indices, float distances, new
 * flags), then n * (21 k + 8) bytes while the result (12 k: int32 + double)
 * is filled; at n = 1e6, d = 50, k = 90 about 2.1 GB at the peak.
 * nn->order: the first tree's leaf order (knn.h). Owned result, free with
 * knn_free. */
struct knn *knn_approx(const float *x, size_t n, size_t d, size_t k,
                       const struct knn_approx_params *p, const struct progress *progress);

#endif
