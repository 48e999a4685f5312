/* prototypes.h - per-class prototypes of an embedding: the centroid, the
 * members nearest to it (typical examples), the farthest (atypical ones,
 * often mislabelled) and the medoid.
 *
 *     struct proto_params pp = proto_params_default();   // k 3, euclidean
 *     struct prototypes *pr = prototypes_compute(x, n, d, labels, n, nclasses, &pp);
 *     if (!pr) ... error_message() ...
 *     for (size_t c = 0; c < pr->nclasses; c++)
 *         printf("class %zu: medoid %lld, nearest %lld\n", c,
 *                (long long)pr->cls[c].medoid, (long long)pr->cls[c].near[0]);
 *     prototypes_free(pr);
 *
 * Distances: euclidean ||x - y||, or cosine 1 - x.y / (|x| |y|) (a zero
 * vector has cosine similarity 0 with everything, as scikit-learn's
 * cosine_distances treats it). The centroid is the mean of the members under
 * both metrics. Ties are broken by the lower row index everywhere.
 *
 * The medoid is exact: the member minimising the sum of its distances to the
 * other members of its class. Cost per class of m members: m^2 D multiply-adds
 * through float32 sgemm in blocks of `block` rows (memory block x m floats),
 * then the few members whose sum is within the sgemm rounding bound of the
 * best are re-summed in double to pick the winner, so float32 rounding never
 * changes the answer. 47 classes of 1,150 members at D = 128: ~8 GFLOP; one
 * class of 7,000 at D = 784: ~77 GFLOP (set proto_params.medoid = 0 to skip).
 *
 * Documented edge cases: a class with one member has that member as nearest,
 * farthest (distance 0) and medoid. A class with fewer than k members lists
 * all of them. A class with no member (an id below nclasses that never
 * occurs) has count 0, no nearest/farthest, medoid -1 and a NaN centroid.
 */
#ifndef INTERP_PROTOTYPES_H
#define INTERP_PROTOTYPES_H

#include <stddef.h>
#include <stdint.h>

#include "../core/progress.h"

enum proto_metric { PROTO_EUCLIDEAN, PROTO_COSINE };

struct proto_params {
    size_t k;                 /* nearest and farthest per class (default 3) */
    enum proto_metric metric; /* default PROTO_EUCLIDEAN */
    int medoid;               /* compute the medoid (default 1) */
    size_t block;             /* medoid: rows per sgemm block (default 256) */
    const struct progress *progress;
};
struct proto_params proto_params_default(void);

struct proto_class {
    size_t count;                 /* members */
    size_t n_near, n_far;         /* min(k, count) each */
    int64_t *near, *far;          /* row indices: nearest first / farthest first */
    double *near_dist, *far_dist; /* their distances to the centroid */
    int64_t medoid;               /* row index; -1 without members or medoid = 0 */
    double medoid_sum;            /* its sum of distances to the other members */
};

struct prototypes {
    size_t nclasses, d, k;
    enum proto_metric metric;
    double *centroids;       /* nclasses x d (NaN rows for empty classes) */
    struct proto_class *cls; /* nclasses */
};

/* Prototypes of x (n x d, row-major float32) grouped by labels[nlabels]
 * (ids in 0..nclasses-1). ERR_INPUT when nlabels != n ("N labels for M
 * rows"), n or d is 0, k is 0, a label is out of range (naming the row), or
 * x holds NaN/Inf (naming row and column). Owned result (prototypes_free). */
struct prototypes *prototypes_compute(const float *x, size_t n, size_t d, const int32_t *labels,
                                      size_t nlabels, size_t nclasses,
                                      const struct proto_params *p);
void prototypes_free(struct prototypes *pr); /* NULL is a no-op */

/* "euclidean" / "cosine" -> the metric; -1 when unknown. */
int proto_metric_parse(const char *name);
const char *proto_metric_name(enum proto_metric m);

#endif
