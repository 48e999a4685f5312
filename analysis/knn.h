/* knn.h - exact k nearest neighbours of every row of a float matrix.
 *
 * Squared Euclidean distances through blocked sgemm (|x|^2 + |y|^2 - 2 x.y),
 * the k + a few smallest kept per row with a bounded heap, then refined with
 * distances recomputed directly in double, so the result equals a brute-force
 * double-precision search (ties broken by the smaller index). Self excluded.
 *
 *     struct knn *nn = knn_exact(x, n, d, 90, threads, progress);
 *     if (!nn) ... error_message() ...
 *     int32_t j = nn->idx[i * nn->k + 0];    // nearest neighbour of row i
 *     double d2 = nn->dist2[i * nn->k + 0];  // its squared distance
 *     knn_free(nn);
 */
#ifndef INTERP_KNN_H
#define INTERP_KNN_H

#include <stddef.h>
#include <stdint.h>

#include "../core/progress.h"

struct knn {
    size_t n, k;
    int32_t *idx;  /* n x k neighbour indices, nearest first (owned) */
    double *dist2; /* n x k squared Euclidean distances, ascending (owned) */
    uint32_t *order; /* NULL, or the search's locality order of the points
                        (order[q]: the q-th point; knn_approx: its first tree's
                        leaf order, where neighbours lie close) (owned) */
};

/* A candidate neighbour j at distance d, and the order every kNN result is
 * in: ascending distance, ties by smaller index (a qsort comparator). */
struct knn_cand {
    double d;
    int32_t j;
};
int knn_cand_cmp(const void *a, const void *b);

/* The k nearest neighbours of each of the n rows of x (n x d, row-major
 * float32), self excluded, in ascending distance, ties by smaller index.
 * threads: OpenMP threads for the per-row work (0 = the OpenMP default);
 * the result does not depend on it. progress may be NULL ("kNN" stage).
 * Errors: ERR_INPUT when k < 1, k > n - 1, n > INT32_MAX, or x holds NaN/Inf
 * (naming the row); ERR_FAIL/ERR_INPUT from big_alloc when too large.
 * Owned result, free with knn_free. */
struct knn *knn_exact(const float *x, size_t n, size_t d, size_t k, int threads,
                      const struct progress *progress);

/* The k nearest rows of the reference xr (n x d) to each of the m rows of xq
 * (m x d), same search and ordering as knn_exact (no row skipped): an owned
 * m x k result. Errors: ERR_INPUT for k < 1, k > n, NaN/Inf (naming the set
 * and row). */
struct knn *knn_query(const float *xr, size_t n, const float *xq, size_t m, size_t d, size_t k,
                      int threads, const struct progress *progress);

/* An empty result of n x k for callers that fill it themselves (big_alloc);
 * NULL + error when too large. */
struct knn *knn_new(size_t n, size_t k);
void knn_free(struct knn *nn); /* NULL is a no-op */

/* Squared Euclidean distance of two d-vectors, accumulated in double. */
double knn_dist2(const float *a, const float *b, size_t d);

#endif
