/* knn_recall.c - recall of the approximate 90-NN search (knn_approx.h) against
 * the exact one (knn.h) on an N x D .npy, with both timings: for
 * bench/RESULTS_tsne.md. Build (from the repository root, after make):
 *   cc -O2 -fopenmp -Ibuild/gen bench/knn_recall.c build/libinterp.a \
 *      $(pkg-config --libs openblas lapacke fftw3f libpng libjpeg libprotobuf-c) -lm -o
 * build/knn_recall usage: build/knn_recall X.npy [K [THREADS [SEED]]]
 */
#include <stdio.h>
#include <stdlib.h>

#include "../analysis/knn.h"
#include "../analysis/knn_approx.h"
#include "../core/array.h"
#include "../core/error.h"
#include "../core/util.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: knn_recall X.npy [K [THREADS [SEED]]]\n");
        return 2;
    }
    size_t k = argc > 2 ? (size_t)atoi(argv[2]) : 90;
    int threads = argc > 3 ? atoi(argv[3]) : 2;
    struct array_opts o = array_opts_default();
    struct array *x = array_load(argv[1], &o, DT_F32);
    if (!x) {
        fprintf(stderr, "knn_recall: %s\n", error_message());
        return 1;
    }
    size_t n = array_rows(x), d = array_cols(x);
    struct knn_approx_params kp = knn_approx_params_default();
    kp.threads = threads;
    kp.seed = argc > 4 ? (uint64_t)atoll(argv[4]) : 1;
    double t0 = now_seconds();
    struct knn *ap = knn_approx(x->data, n, d, k, &kp, NULL);
    double ta = now_seconds() - t0;
    t0 = now_seconds();
    struct knn *ex = knn_exact(x->data, n, d, k, threads, NULL);
    double te = now_seconds() - t0;
    if (!ap || !ex) {
        fprintf(stderr, "knn_recall: %s\n", error_message());
        return 1;
    }
    /* a found neighbour counts when it is no farther than the exact k-th (ties) */
    size_t hit = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < k; t++)
            hit += ap->dist2[i * k + t] <= ex->dist2[i * k + k - 1];
    printf("{\"n\": %zu, \"d\": %zu, \"k\": %zu, \"threads\": %d, \"recall\": %.5f, "
           "\"approx_s\": %.2f, \"exact_s\": %.2f}\n",
           n, d, k, threads, (double)hit / (double)(n * k), ta, te);
    knn_free(ap);
    knn_free(ex);
    array_free(x);
    return 0;
}
