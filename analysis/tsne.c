/* tsne.c - the t-SNE optimiser and its repulsion backends (exact, Barnes-Hut).
 *
 * Gradient descent as van der Maaten & Hinton 2008 (sec. 3.4) with the gains of
 * Jacobs 1988 as in bhtsne and scikit-learn. The optimiser talks to a repulsion
 * backend only through struct tsne_repulsion; the tree lives in sptree.c.
 */
#include "tsne.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/rng.h"
#include "../core/util.h"
#include "fft_grid.h"
#include "knn.h"
#include "pca.h"
#include "sptree.h"

struct tsne_params tsne_params_default(void)
{
    struct tsne_params p = {
        .dims = 2,
        .perplexity = 30.0,
        .iters = 1000,
        .early_exag = 12.0,
        .exag_iters = 250,
        .learning_rate = 0.0,
        .momentum = 0.5,
        .final_momentum = 0.8,
        .method = TSNE_METHOD_AUTO,
        .theta = 0.5,
        .dof = 1.0,
        .knn = AFFINITY_KNN_AUTO,
        .fft_nodes = 0,
        .fft_min_boxes = 0,
        .init = TSNE_INIT_PCA,
        .init_y = NULL,
        .seed = 0,
        .threads = 0,
        .kl_every = 50,
        .progress = NULL,
    };
    return p;
}

const char *tsne_method_name(enum tsne_method m)
{
    switch (m) {
    case TSNE_METHOD_EXACT: return "exact";
    case TSNE_METHOD_BH: return "bh";
    case TSNE_METHOD_FFT: return "fft";
    default: return "auto";
    }
}

/* ---- repulsion backend: exact O(N^2) ---------------------------------------- */

struct exact_state {
    size_t n;
    int dims, nt;
    double dof;
    double *zrow; /* per-point partial Z, summed in index order */
};

static void *exact_create(size_t n, int dims, const struct tsne_params *p)
{
    struct exact_state *s = xcalloc(1, sizeof *s);
    s->n = n;
    s->dims = dims;
    s->nt = util_threads(p ? p->threads : 0);
    s->dof = p ? p->dof : 1.0;
    s->zrow = big_alloc((n ? n : 1) * sizeof *s->zrow, NULL, "t-SNE workspace");
    if (!s->zrow) {
        free(s);
        return NULL;
    }
    return s;
}

static void exact_destroy(void *state)
{
    struct exact_state *s = state;
    if (!s) return;
    free(s->zrow);
    free(s);
}

/* One point's exact sums, the hot loop of the O(N^2) method (UTIL_CLONES:
 * AVX2 + FMA where the CPU has it). j == i adds w = 1 exactly and no
 * force: it is taken back out of z. */
UTIL_CLONES static double exact_row_2d(const double *y, size_t n, size_t i, double *f)
{
    double yi0 = y[2 * i], yi1 = y[2 * i + 1], zi = 0.0, f0 = 0.0, f1 = 0.0;
#pragma omp simd reduction(+ : zi, f0, f1)
    for (size_t j = 0; j < n; j++) {
        double d0 = yi0 - y[2 * j], d1 = yi1 - y[2 * j + 1];
        double w = 1.0 / (1.0 + d0 * d0 + d1 * d1);
        zi += w;
        f0 += w * w * d0;
        f1 += w * w * d1;
    }
    f[0] = f0;
    f[1] = f1;
    return zi - 1.0;
}

UTIL_CLONES static double exact_row_3d(const double *y, size_t n, size_t i, double *f)
{
    double yi0 = y[3 * i], yi1 = y[3 * i + 1], yi2 = y[3 * i + 2];
    double zi = 0.0, f0 = 0.0, f1 = 0.0, f2 = 0.0;
#pragma omp simd reduction(+ : zi, f0, f1, f2)
    for (size_t j = 0; j < n; j++) {
        double d0 = yi0 - y[3 * j], d1 = yi1 - y[3 * j + 1], d2 = yi2 - y[3 * j + 2];
        double w = 1.0 / (1.0 + d0 * d0 + d1 * d1 + d2 * d2);
        zi += w;
        f0 += w * w * d0;
        f1 += w * w * d1;
        f2 += w * w * d2;
    }
    f[0] = f0;
    f[1] = f1;
    f[2] = f2;
    return zi - 1.0;
}

/* Any dims and degrees of freedom a: w = (1 + d2/a)^-a, force (1 + d2/a)^-(a+1). */
static double exact_row_dof(const double *y, size_t n, size_t i, int dims, double a, double *f)
{
    double zi = 0.0, acc[SPTREE_MAX_DIMS] = {0}, ia = 1.0 / a;
    for (size_t j = 0; j < n; j++) {
        if (j == i) continue;
        double diff[SPTREE_MAX_DIMS], d2 = 0.0;
        for (int d = 0; d < dims; d++) {
            diff[d] = y[i * dims + d] - y[j * dims + d];
            d2 += diff[d] * diff[d];
        }
        double base = 1.0 + d2 * ia, w = pow(base, -a);
        zi += w;
        for (int d = 0; d < dims; d++)
            acc[d] += w / base * diff[d];
    }
    for (int d = 0; d < dims; d++)
        f[d] = acc[d];
    return zi;
}

static int exact_compute(void *state, const double *y, double *rep, double *z)
{
    struct exact_state *s = state;
    size_t n = s->n;
    int dims = s->dims;
#pragma omp parallel for schedule(static) num_threads(s->nt) if (n >= 512)
    for (size_t i = 0; i < n; i++)
        s->zrow[i] = s->dof != 1.0 ? exact_row_dof(y, n, i, dims, s->dof, rep + dims * i)
                     : dims == 2   ? exact_row_2d(y, n, i, rep + 2 * i)
                                   : exact_row_3d(y, n, i, rep + 3 * i);
    double zt = 0.0;
    for (size_t i = 0; i < n; i++)
        zt += s->zrow[i];
    *z = zt;
    return 0;
}

const struct tsne_repulsion tsne_repulsion_exact = {
    .name = "exact",
    .z_exact = 1,
    .create = exact_create,
    .compute = exact_compute,
    .destroy = exact_destroy,
};

/* ---- repulsion backend: Barnes-Hut tree ------------------------------------- */

struct bh_state {
    size_t n;
    int dims, nt;
    double theta, dof;
    struct sptree *tree;
    double *zrow;
};

static void *bh_create(size_t n, int dims, const struct tsne_params *p)
{
    struct bh_state *s = xcalloc(1, sizeof *s);
    s->n = n;
    s->dims = dims;
    s->nt = util_threads(p ? p->threads : 0);
    s->theta = p ? p->theta : 0.5;
    s->dof = p ? p->dof : 1.0;
    s->tree = sptree_new(dims);
    s->zrow = big_alloc((n ? n : 1) * sizeof *s->zrow, NULL, "t-SNE workspace");
    if (!s->tree || !s->zrow) {
        if (!s->tree) error_set(ERR_INPUT, NULL, "Barnes-Hut needs 2 or 3 dimensions");
        sptree_free(s->tree);
        free(s->zrow);
        free(s);
        return NULL;
    }
    return s;
}

static void bh_destroy(void *state)
{
    struct bh_state *s = state;
    if (!s) return;
    sptree_free(s->tree);
    free(s->zrow);
    free(s);
}

static int bh_compute(void *state, const double *y, double *rep, double *z)
{
    struct bh_state *s = state;
    if (sptree_build(s->tree, y, s->n) < 0) return ERR_INPUT;
    size_t n = s->n;
    int dims = s->dims;
    /* Points in tree order: consecutive points walk the same cells, which
     * keeps the tree in cache. Each point's sums do not depend on who computes
     * them or when, so the result is the same for any thread count. */
    const uint32_t *order = s->tree->perm;
#pragma omp parallel for schedule(static) num_threads(s->nt) if (n >= 1024)
    for (size_t t = 0; t < n; t++) {
        size_t i = order[t];
        sptree_repulsion_at(s->tree, y, y + i * dims, i, s->theta, s->dof, rep + i * dims,
                            &s->zrow[i]);
    }
    double zt = 0.0;
    for (size_t i = 0; i < n; i++)
        zt += s->zrow[i];
    *z = zt;
    return 0;
}

const struct tsne_repulsion tsne_repulsion_bh = {
    .name = "bh",
    .z_exact = 0,
    .create = bh_create,
    .compute = bh_compute,
    .destroy = bh_destroy,
};

/* ---- repulsion backend: FFT-accelerated interpolation (fft_grid.c) ------------ */

struct fft_state {
    size_t n;
    struct fft_grid *grid;
};

static void *fft_create(size_t n, int dims, const struct tsne_params *p)
{
    struct fft_grid_params gp = fft_grid_params_default(dims);
    if (p) {
        gp.dof = p->dof;
        gp.threads = p->threads;
        if (p->fft_nodes > 0) gp.nodes = p->fft_nodes;
        if (p->fft_min_boxes > 0) {
            gp.min_boxes = p->fft_min_boxes;
            if (gp.max_boxes < gp.min_boxes) gp.max_boxes = gp.min_boxes;
        }
    }
    struct fft_grid *g = fft_grid_new(dims, &gp);
    if (!g) return NULL;
    struct fft_state *s = xcalloc(1, sizeof *s);
    s->n = n;
    s->grid = g;
    return s;
}

static int fft_compute(void *state, const double *y, double *rep, double *z)
{
    struct fft_state *s = state;
    return fft_grid_repulsion(s->grid, y, s->n, rep, z);
}

static void fft_destroy(void *state)
{
    struct fft_state *s = state;
    if (!s) return;
    fft_grid_free(s->grid);
    free(s);
}

const struct tsne_repulsion tsne_repulsion_fft = {
    .name = "fft",
    .z_exact = 0,
    .single = 1,
    .create = fft_create,
    .compute = fft_compute,
    .destroy = fft_destroy,
};

enum tsne_method tsne_method_resolve(enum tsne_method m, size_t n, int dims)
{
    if (m == TSNE_METHOD_AUTO) {
        if (n <= TSNE_EXACT_MAX_N) return TSNE_METHOD_EXACT;
        return dims == 2 && n >= TSNE_FFT_MIN_N ? TSNE_METHOD_FFT : TSNE_METHOD_BH;
    }
    return m;
}

const struct tsne_repulsion *tsne_repulsion_for(enum tsne_method m, size_t n, int dims)
{
    switch (tsne_method_resolve(m, n, dims)) {
    case TSNE_METHOD_EXACT: return &tsne_repulsion_exact;
    case TSNE_METHOD_BH: return &tsne_repulsion_bh;
    case TSNE_METHOD_FFT: return &tsne_repulsion_fft;
    default: return NULL;
    }
}

/* ---- gradient ------------------------------------------------------------------ */

struct grad_work {
    double *rep;   /* n x dims repulsive sums from the backend */
    double *rowkl; /* n: per-row sum_j p_ij log w_ij */
    float *yf;     /* n x dims: y in single precision (the 2-D attraction) */
    int nt;
};

/* Row i of the gradient: attraction over the sparse P plus the backend's
 * repulsion; rowkl[i] = sum_j p_ij log w_ij when rowkl is given. Inlined with
 * a constant dims so the 2-D and 3-D loops are specialised. */
static inline __attribute__((always_inline)) void
attr_row(const struct affinity *P, const double *y, size_t i, const int dims, double exag,
         double dof, const double *rep, double invz, double *grad, double *rowkl)
{
    double a[SPTREE_MAX_DIMS] = {0}, lw = 0.0, ia = 1.0 / dof;
    const double *yi = y + i * dims;
    for (size_t e = P->row[i]; e < P->row[i + 1]; e++) {
        const double *yj = y + (size_t)P->col[e] * dims;
        double diff[SPTREE_MAX_DIMS], d2 = 0.0;
        for (int d = 0; d < dims; d++) {
            diff[d] = yi[d] - yj[d];
            d2 += diff[d] * diff[d];
        }
        /* attraction p_ij w_ij^(1/a) (y_i - y_j), w^(1/a) = 1 / (1 + d2/a)
         * (Kobak et al. 2019; a = 1: van der Maaten 2014, eq. 5) */
        double pw = P->val[e] / (1.0 + d2 * ia);
        for (int d = 0; d < dims; d++)
            a[d] += pw * diff[d];
        /* p log w; log rather than log1p: ~1.7x faster (6-8 against 10-14 ns a
         * call), and d2 too small for log to resolve adds nothing to the sum */
        if (rowkl) lw -= P->val[e] * dof * log(1.0 + d2 * ia);
    }
    for (int d = 0; d < dims; d++)
        grad[i * dims + d] = 4.0 * (exag * a[d] - rep[i * dims + d] * invz);
    if (rowkl) rowkl[i] = lw;
}

/* log x for x >= 1 in single precision, in a form the vectoriser takes:
 * x = 2^e m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s) with
 * s = (m - 1) / (m + 1), |s| < 0.172, by its series to s^9 (truncation below
 * 4e-10; rounding ~1e-7 relative). */
static inline float log_ge1(float x)
{
    union {
        float f;
        uint32_t u;
    } v = {.f = x};
    /* m > sqrt(2) (mantissa bits above sqrt(2)'s): halve m, add 1 to e */
    int32_t big = (v.u & 0x7fffffu) > 0x3504f3u;
    float e = (float)((int32_t)(v.u >> 23) - 127 + big);
    v.u = (v.u & 0x7fffffu) | ((uint32_t)(127 - big) << 23);
    float m = v.f;
    float t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
    float p = t * (2.0f + t2 * (2.0f / 3.0f + t2 * (0.4f + t2 * (2.0f / 7.0f + t2 * (2.0f / 9.0f)))));
    return e * 0.693147181f + p;
}

/* The hot case, 2-D with the FFT backend (rep->single), spelled out for the
 * vectoriser (AVX2 gathers and divisions eight at a time where the CPU has
 * them, chosen once at load time as exact_row_2d is), in single precision on
 * yf, y rounded to float: float halves the gathered bytes and the divisions;
 * its error (differences of rounded coordinates, ~1e-7 of the map's extent)
 * is far below the repulsion's interpolation error. On Fashion-MNIST 70k
 * (9.08 M entries of P) the pass takes about what a bare read of col and val
 * does (7.4 ms on 2 threads, 15 ms on one): memory-bound; a bfloat16 copy of
 * val (6 bytes an entry) and AVX2 gathers of (x, y) pairs were measured
 * slower. The 70k run's profile gave 11.1 CPU s in this function against 11.8
 * in double. With rowkl, also sum_j p_ij log w_ij per row (every kl_every
 * iterations; log1p in double there took 2.8 of the 70k run's 57 CPU s). Rows
 * go to the threads in chunks taken dynamically (a shared host stalls threads
 * unevenly). */
static inline __attribute__((always_inline)) void
attr_rows_2d_body(const struct affinity *P, const float *yf, size_t i0, size_t i1, double exag,
                  double dof, const double *rep, double invz, double *grad, double *rowkl,
                  const int want_kl)
{
    float ia = (float)(1.0 / dof), fdof = (float)dof;
    const int32_t *col = P->col;
    const float *val = P->val;
    for (size_t i = i0; i < i1; i++) {
        float y0 = yf[2 * i], y1 = yf[2 * i + 1], a0 = 0.0f, a1 = 0.0f, lw = 0.0f;
        size_t e0 = P->row[i], e1 = P->row[i + 1];
#pragma omp simd reduction(+ : a0, a1, lw)
        for (size_t e = e0; e < e1; e++) {
            size_t j = (size_t)col[e];
            float d0 = y0 - yf[2 * j], d1 = y1 - yf[2 * j + 1];
            float base = 1.0f + (d0 * d0 + d1 * d1) * ia, pw = val[e] / base;
            a0 += pw * d0;
            a1 += pw * d1;
            if (want_kl) lw -= val[e] * fdof * log_ge1(base); /* p log w */
        }
        grad[2 * i] = 4.0 * (exag * a0 - rep[2 * i] * invz);
        grad[2 * i + 1] = 4.0 * (exag * a1 - rep[2 * i + 1] * invz);
        if (want_kl) rowkl[i] = lw;
    }
}

UTIL_CLONES static void attr_rows_2d_f32(const struct affinity *P, const float *yf, size_t i0,
                                         size_t i1, double exag, double dof, const double *rep,
                                         double invz, double *grad)
{
    attr_rows_2d_body(P, yf, i0, i1, exag, dof, rep, invz, grad, NULL, 0);
}

UTIL_CLONES static void attr_rows_2d_f32_kl(const struct affinity *P, const float *yf,
                                            size_t i0, size_t i1, double exag, double dof,
                                            const double *rep, double invz, double *grad,
                                            double *rowkl)
{
    attr_rows_2d_body(P, yf, i0, i1, exag, dof, rep, invz, grad, rowkl, 1);
}

/* The same in double for the exact and Barnes-Hut backends, without KL. */
UTIL_CLONES static void attr_rows_2d(const struct affinity *P, const double *y, size_t i0,
                                     size_t i1, double exag, double dof, const double *rep,
                                     double invz, double *grad)
{
    double ia = 1.0 / dof;
    for (size_t i = i0; i < i1; i++) {
        double y0 = y[2 * i], y1 = y[2 * i + 1], a0 = 0.0, a1 = 0.0;
#pragma omp simd reduction(+ : a0, a1)
        for (size_t e = P->row[i]; e < P->row[i + 1]; e++) {
            size_t j = (size_t)P->col[e];
            double d0 = y0 - y[2 * j], d1 = y1 - y[2 * j + 1];
            double pw = (double)P->val[e] / (1.0 + (d0 * d0 + d1 * d1) * ia);
            a0 += pw * d0;
            a1 += pw * d1;
        }
        grad[2 * i] = 4.0 * (exag * a0 - rep[2 * i] * invz);
        grad[2 * i + 1] = 4.0 * (exag * a1 - rep[2 * i + 1] * invz);
    }
}

/* grad = 4 (exag * attr - rep / Z) (van der Maaten 2014, eq. 5 split into
 * attraction over the sparse P and repulsion); *kl when non-NULL:
 * KL = sum p log p - sum p log w + log Z, with plogp = sum p log p given. */
static int grad_compute(const struct affinity *P, const double *y, int dims, double exag,
                        double dof, const struct tsne_repulsion *rep, void *state,
                        struct grad_work *w, double *grad, double plogp, double *kl)
{
    size_t n = P->n;
    double z = 0.0;
    int rc = rep->compute(state, y, w->rep, &z);
    if (rc < 0) return rc;
    if (!(z > 0.0)) z = 1e-300; /* all points far apart or one point */
    double invz = 1.0 / z;
    if (dims == 2 && rep->single) {
        size_t chunk = 1024, nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel num_threads(w->nt) if (n >= 4096)
        {
#pragma omp for schedule(static)
            for (size_t t = 0; t < 2 * n; t++)
                w->yf[t] = (float)y[t];
#pragma omp for schedule(dynamic, 1)
            for (size_t c = 0; c < nchunks; c++) {
                size_t i0 = c * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
                if (kl)
                    attr_rows_2d_f32_kl(P, w->yf, i0, i1, exag, dof, w->rep, invz, grad,
                                        w->rowkl);
                else
                    attr_rows_2d_f32(P, w->yf, i0, i1, exag, dof, w->rep, invz, grad);
            }
        }
    } else if (dims == 2 && !kl) {
        size_t chunk = 1024, nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(dynamic, 1) num_threads(w->nt) if (n >= 4096)
        for (size_t c = 0; c < nchunks; c++)
            attr_rows_2d(P, y, c * chunk, (c + 1) * chunk < n ? (c + 1) * chunk : n, exag, dof,
                         w->rep, invz, grad);
    } else {
#pragma omp parallel for schedule(static) num_threads(w->nt) if (n >= 4096)
        for (size_t i = 0; i < n; i++) {
            /* constant arguments, so that the always-inlined row is specialised */
            if (dims == 2)
                attr_row(P, y, i, 2, exag, dof, w->rep, invz, grad, kl ? w->rowkl : NULL);
            else if (!kl)
                attr_row(P, y, i, 3, exag, dof, w->rep, invz, grad, NULL);
            else
                attr_row(P, y, i, 3, exag, dof, w->rep, invz, grad, w->rowkl);
        }
    }
    if (kl) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++)
            s += w->rowkl[i];
        *kl = plogp - s + log(z);
    }
    return 0;
}

static double p_log_p(const struct affinity *P)
{
    double s = 0.0;
    for (size_t e = 0; e < P->nnz; e++)
        if (P->val[e] > 0.0) s += P->val[e] * log(P->val[e]);
    return s;
}

/* Subtracts the mean from y (n x dims); -1 when y holds NaN or Inf. The sums
 * run over fixed chunks of rows (w->rowkl, n >= chunks, holds them), then
 * serially. */
static int centre_map(double *y, size_t n, int dims, int nt, struct grad_work *w)
{
    size_t chunk = 4096, nch = (n + chunk - 1) / chunk;
    double *part = w->rowkl; /* nch * dims <= n doubles for n >= 4096 */
    double small[2 * SPTREE_MAX_DIMS];
    if (nch * (size_t)dims > n) part = small; /* one chunk of a small map */
    int bad = 0;
#pragma omp parallel for schedule(static) num_threads(nt) reduction(| : bad) if (n >= 8192)
    for (size_t c = 0; c < nch; c++) {
        size_t i1 = (c + 1) * chunk < n ? (c + 1) * chunk : n;
        double s[SPTREE_MAX_DIMS] = {0};
        for (size_t i = c * chunk; i < i1; i++)
            for (int d = 0; d < dims; d++) {
                s[d] += y[i * dims + d];
                bad |= !isfinite(y[i * dims + d]);
            }
        for (int d = 0; d < dims; d++)
            part[c * dims + d] = s[d];
    }
    if (bad) return -1;
    double mean[SPTREE_MAX_DIMS] = {0};
    for (size_t c = 0; c < nch; c++)
        for (int d = 0; d < dims; d++)
            mean[d] += part[c * dims + d];
    for (int d = 0; d < dims; d++)
        mean[d] /= (double)n;
#pragma omp parallel for schedule(static) num_threads(nt) if (n >= 8192)
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < dims; d++)
            y[i * dims + d] -= mean[d];
    return 0;
}

static int work_init(struct grad_work *w, size_t n, int dims, int threads)
{
    w->nt = util_threads(threads);
    w->rep = big_alloc(n * dims * sizeof *w->rep, NULL, "t-SNE workspace");
    w->rowkl = w->rep ? big_alloc(n * sizeof *w->rowkl, NULL, "t-SNE workspace") : NULL;
    w->yf = w->rowkl ? big_alloc(n * dims * sizeof *w->yf, NULL, "t-SNE workspace") : NULL;
    if (!w->yf) {
        free(w->rep);
        free(w->rowkl);
        return ERR_FAIL;
    }
    return 0;
}

static void work_release(struct grad_work *w)
{
    free(w->rep);
    free(w->rowkl);
    free(w->yf);
}

int tsne_gradient(const struct affinity *P, const double *y, int dims, double exag,
                  const struct tsne_repulsion *rep, const struct tsne_params *p, double *grad,
                  double *kl)
{
    struct tsne_params dp = tsne_params_default();
    if (!p) p = &dp;
    if (dims < 2 || dims > 3)
        return error_set(ERR_INPUT, NULL, "dims %d: t-SNE makes 2 or 3 dimensions", dims);
    struct grad_work w;
    if (work_init(&w, P->n, dims, p->threads) < 0) return ERR_FAIL;
    void *state = rep->create(P->n, dims, p);
    int rc = ERR_FAIL;
    if (state) {
        rc = grad_compute(P, y, dims, exag, p->dof, rep, state, &w, grad, kl ? p_log_p(P) : 0.0,
                          kl);
        rep->destroy(state);
    }
    work_release(&w);
    return rc;
}

double tsne_kl_exact(const struct affinity *P, const float *y, int dims, int threads)
{
    return tsne_kl_exact_dof(P, y, dims, 1.0, threads);
}

double tsne_kl_exact_dof(const struct affinity *P, const float *y, int dims, double dof,
                         int threads)
{
    double ia = 1.0 / dof;
    size_t n = P->n;
    int nt = util_threads(threads);
    double *zrow = xmalloc((n ? n : 1) * sizeof *zrow);
    double *lrow = xmalloc((n ? n : 1) * sizeof *lrow);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (size_t i = 0; i < n; i++) {
        double zi = 0.0, li = 0.0;
        const float *yi = y + i * dims;
        for (size_t j = 0; j < n; j++) {
            if (j == i) continue;
            double d2 = 0.0;
            for (int d = 0; d < dims; d++) {
                double t = (double)yi[d] - y[j * dims + d];
                d2 += t * t;
            }
            zi += dof == 1.0 ? 1.0 / (1.0 + d2) : pow(1.0 + d2 * ia, -dof);
        }
        for (size_t e = P->row[i]; e < P->row[i + 1]; e++) {
            size_t j = (size_t)P->col[e];
            double d2 = 0.0;
            for (int d = 0; d < dims; d++) {
                double t = (double)yi[d] - y[j * dims + d];
                d2 += t * t;
            }
            if (P->val[e] > 0.0)
                li += P->val[e] * (log(P->val[e]) + dof * log1p(d2 * ia)); /* -log w */
        }
        zrow[i] = zi;
        lrow[i] = li;
    }
    double z = 0.0, l = 0.0;
    for (size_t i = 0; i < n; i++) {
        z += zrow[i];
        l += lrow[i];
    }
    free(zrow);
    free(lrow);
    /* sum p log(p / (w / Z)) = sum p (log p + log(1 + d2)) + log Z, as sum p = 1 */
    return l + log(z);
}

/* ---- optimiser ----------------------------------------------------------------- */

static int params_check(const struct tsne_params *p)
{
    if (p->dims != 2 && p->dims != 3)
        return error_set(ERR_INPUT, NULL, "dims %d: t-SNE makes 2 or 3 dimensions", p->dims);
    if (p->iters < 1)
        return error_set(ERR_INPUT, NULL, "iterations %d: must be >= 1", p->iters);
    if (p->exag_iters < 0)
        return error_set(ERR_INPUT, NULL, "exaggeration iterations %d: must be >= 0",
                         p->exag_iters);
    if (!(p->early_exag > 0.0) || !isfinite(p->early_exag))
        return error_set(ERR_INPUT, NULL, "early exaggeration %g: must be > 0", p->early_exag);
    if (!(p->learning_rate >= 0.0) || !isfinite(p->learning_rate))
        return error_set(ERR_INPUT, NULL, "learning rate %g: must be > 0 (0 = auto)",
                         p->learning_rate);
    if (!(p->momentum >= 0.0 && p->momentum < 1.0) ||
        !(p->final_momentum >= 0.0 && p->final_momentum < 1.0))
        return error_set(ERR_INPUT, NULL, "momentum must be in [0, 1)");
    if (!(p->theta >= 0.0) || !isfinite(p->theta))
        return error_set(ERR_INPUT, NULL, "theta %g: must be >= 0", p->theta);
    if (p->kl_every < 1)
        return error_set(ERR_INPUT, NULL, "KL interval %d: must be >= 1", p->kl_every);
    if (p->method != TSNE_METHOD_AUTO && p->method != TSNE_METHOD_EXACT &&
        p->method != TSNE_METHOD_BH && p->method != TSNE_METHOD_FFT)
        return error_set(ERR_INPUT, NULL, "unknown t-SNE method %d", (int)p->method);
    if (!(p->dof > 0.0) || !isfinite(p->dof) || p->dof > 1e6)
        return error_set(ERR_INPUT, NULL, "degrees of freedom %g: must be > 0", p->dof);
    if (p->knn != AFFINITY_KNN_AUTO && p->knn != AFFINITY_KNN_EXACT &&
        p->knn != AFFINITY_KNN_APPROX)
        return error_set(ERR_INPUT, NULL, "unknown kNN method %d", (int)p->knn);
    if (p->fft_nodes < 0 || p->fft_nodes > 8 || p->fft_min_boxes < 0 || p->fft_min_boxes > 2000)
        return error_set(ERR_INPUT, NULL, "FFT grid: nodes %d (1 to 8), boxes %d (to 2000)",
                         p->fft_nodes, p->fft_min_boxes);
    return 0;
}

/* The step: N / early exaggeration (Belkina et al. 2019), as openTSNE and
 * FIt-SNE take it. Their gradients leave out the factor 4 that this one
 * carries (as scikit-learn's does, whose 'auto' divides by 4 for the same
 * reason), so it is N / (4 x 12) here; N / 12 was four times their step and
 * made maps of 200,000 points and more oscillate (a 1,000,000-point mixture
 * came out as one blob, KL 11.5). At least 200, the old default of bhtsne
 * and scikit-learn, which small maps keep. */
static double learning_rate_for(const struct tsne_params *p, size_t n)
{
    if (p->learning_rate > 0.0) return p->learning_rate;
    double exag = p->early_exag > 1.0 ? p->early_exag : 1.0;
    double lr = (double)n / (4.0 * exag);
    return lr > 200.0 ? lr : 200.0;
}

int tsne_optimize(const struct affinity *P, double *y, const struct tsne_params *p,
                  const struct tsne_repulsion *rep, int *kl_iter, double *kl, size_t *nkl)
{
    size_t n = P->n, nd;
    int dims = p->dims, rc;
    if (params_check(p) < 0) return ERR_INPUT;
    if (!rep) return error_set(ERR_INPUT, NULL, "no repulsion backend for this method");
    if (!mul_ok(n, (size_t)dims, &nd))
        return error_set(ERR_INPUT, NULL, "%zu points are too many", n);
    double lr = learning_rate_for(p, n);
    if (nkl) *nkl = 0;

    struct grad_work w;
    if (work_init(&w, n, dims, p->threads) < 0) return ERR_FAIL;
    double *grad = big_alloc(nd * sizeof *grad, NULL, "t-SNE workspace");
    double *upd = grad ? big_calloc(nd * sizeof *upd, NULL, "t-SNE workspace") : NULL;
    double *gain = upd ? big_alloc(nd * sizeof *gain, NULL, "t-SNE workspace") : NULL;
    void *state = gain ? rep->create(n, dims, p) : NULL;
    if (!state) {
        rc = ERR_FAIL;
        goto done;
    }
    for (size_t t = 0; t < nd; t++)
        gain[t] = 1.0;
    double plogp = p_log_p(P), last_kl = NAN;
    size_t nrec = 0;
    char note[64];

    for (int it = 0; it < p->iters; it++) {
        int exag_phase = it < p->exag_iters;
        double exag = exag_phase ? p->early_exag : 1.0;
        double mom = exag_phase ? p->momentum : p->final_momentum;
        int want_kl = (it + 1) % p->kl_every == 0;
        double k = NAN;
        rc = grad_compute(P, y, dims, exag, p->dof, rep, state, &w, grad, plogp,
                          want_kl ? &k : NULL);
        if (rc < 0) goto done;
        if (want_kl) {
            last_kl = k;
            if (kl_iter) kl_iter[nrec] = it + 1;
            if (kl) kl[nrec] = k;
            nrec++;
            if (nkl) *nkl = nrec;
        }
        /* Gains (Jacobs 1988, as bhtsne/scikit-learn): grow where the gradient
         * keeps its sign relative to the last step, shrink where it flips. */
#pragma omp parallel for schedule(static) num_threads(w.nt) if (nd > 65536)
        for (size_t t = 0; t < nd; t++) {
            double g = grad[t];
            gain[t] = (g * upd[t] < 0.0) ? gain[t] + 0.2 : gain[t] * 0.8;
            if (gain[t] < 0.01) gain[t] = 0.01;
            upd[t] = mom * upd[t] - lr * gain[t] * g;
            y[t] += upd[t];
        }
        /* Keep the map centred (bhtsne): Q is translation invariant, and a
         * centred map keeps trees and grids tight. Summed in fixed chunks,
         * then serially: repeatable on any thread count. */
        if (centre_map(y, n, dims, w.nt, &w) < 0) {
            rc = error_set(ERR_FAIL, NULL,
                           "t-SNE diverged at iteration %d (learning rate %g too large?)", it + 1,
                           lr);
            goto done;
        }
        if ((it + 1) % 10 == 0 || it + 1 == p->iters) {
            if (isnan(last_kl))
                progress_update(p->progress, "t-SNE", (size_t)it + 1, (size_t)p->iters, NULL);
            else {
                snprintf(note, sizeof note, "KL %.4f", last_kl);
                progress_update(p->progress, "t-SNE", (size_t)it + 1, (size_t)p->iters, note);
            }
        }
    }
    rc = 0;
done:
    if (state) rep->destroy(state);
    work_release(&w);
    free(grad);
    free(upd);
    free(gain);
    return rc;
}

/* ---- initialisation and the whole run ----------------------------------------- */

static int init_pca(const float *x, size_t n, size_t d, const struct tsne_params *p, double *y)
{
    if (d < (size_t)p->dims)
        return error_set(ERR_INPUT, NULL,
                         "PCA initialisation needs at least %d columns, the data has %zu "
                         "(use random initialisation)",
                         p->dims, d);
    struct pca_params pp = pca_params_default();
    pp.k = (size_t)p->dims;
    pp.seed = p->seed;
    struct pca *fit = pca_fit(x, n, d, &pp);
    if (!fit) return error_code() < 0 ? error_code() : ERR_FAIL;
    float *s = big_alloc(n * p->dims * sizeof *s, NULL, "PCA scores");
    if (!s) {
        pca_free(fit);
        return ERR_FAIL;
    }
    pca_transform(fit, x, n, s);
    pca_free(fit);
    /* Scale so that the first coordinate has standard deviation 1e-4, as
     * scikit-learn does (population std, both coordinates by one factor). */
    double m = 0.0, v = 0.0;
    for (size_t i = 0; i < n; i++)
        m += s[i * p->dims];
    m /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double t = s[i * p->dims] - m;
        v += t * t;
    }
    double sd = sqrt(v / (double)n), scale = sd > 0.0 ? 1e-4 / sd : 1.0;
    for (size_t t = 0; t < n * p->dims; t++)
        y[t] = s[t] * scale;
    free(s);
    return 0;
}

static void init_random(size_t n, int dims, uint64_t seed, double *y)
{
    struct rng r;
    rng_seed(&r, seed);
    for (size_t t = 0; t < n * (size_t)dims; t++)
        y[t] = 1e-4 * rng_normal(&r);
}

void tsne_result_free(struct tsne_result *r)
{
    if (!r) return;
    free(r->y);
    free(r->kl_iter);
    free(r->kl);
    free(r);
}

struct tsne_result *tsne_run(const float *x, size_t n, size_t d, const struct tsne_params *pin)
{
    struct tsne_params p = pin ? *pin : tsne_params_default();
    if (params_check(&p) < 0 || affinity_check(n, p.perplexity) < 0) return NULL;
    size_t nd;
    if (!mul_ok(n, (size_t)p.dims, &nd)) {
        error_set(ERR_INPUT, NULL, "%zu points are too many", n);
        return NULL;
    }
    if (p.init == TSNE_INIT_GIVEN) {
        if (!p.init_y) {
            error_set(ERR_INPUT, NULL, "initial coordinates missing");
            return NULL;
        }
        for (size_t t = 0; t < nd; t++)
            if (!isfinite(p.init_y[t])) {
                error_set(ERR_INPUT, NULL, "initial coordinates: row %zu is not finite",
                          t / p.dims);
                return NULL;
            }
    }

    struct tsne_result *r = xcalloc(1, sizeof *r);
    struct affinity *P = NULL;
    double *y = NULL;
    const struct tsne_repulsion *rep = tsne_repulsion_for(p.method, n, p.dims);
    r->n = n;
    r->dims = p.dims;
    r->method = tsne_method_resolve(p.method, n, p.dims);
    r->learning_rate = learning_rate_for(&p, n);
    r->perplexity = p.perplexity;
    r->kl_trace_exact = rep->z_exact;

    double t0 = now_seconds();
    P = affinity_new_knn(x, n, d, p.perplexity, p.knn, p.seed, p.threads, p.progress,
                         &r->knn_approx, &r->time_knn);
    if (!P) goto fail;
    r->time_affinity = now_seconds() - t0;

    y = big_alloc(nd * sizeof *y, NULL, "t-SNE coordinates");
    r->y = y ? big_alloc(nd * sizeof *r->y, NULL, "t-SNE coordinates") : NULL;
    if (!r->y) goto fail;
    if (p.init == TSNE_INIT_PCA) {
        if (init_pca(x, n, d, &p, y) < 0) goto fail;
    } else if (p.init == TSNE_INIT_RANDOM) {
        init_random(n, p.dims, p.seed, y);
    } else {
        for (size_t t = 0; t < nd; t++)
            y[t] = p.init_y[t];
    }

    /* P may come with the points renumbered (affinity.h: P->order): the
     * optimisation runs in its numbering, the output goes back at the end. */
    if (P->order) {
        double *t = big_alloc(nd * sizeof *t, NULL, "t-SNE coordinates");
        if (!t) goto fail;
        memcpy(t, y, nd * sizeof *t);
        for (size_t q = 0; q < n; q++)
            memcpy(y + q * p.dims, t + (size_t)P->order[q] * p.dims, p.dims * sizeof *y);
        free(t);
    }

    size_t cap = (size_t)p.iters / (size_t)p.kl_every + 1;
    r->kl_iter = xmalloc(cap * sizeof *r->kl_iter);
    r->kl = xmalloc(cap * sizeof *r->kl);
    t0 = now_seconds();
    if (tsne_optimize(P, y, &p, rep, r->kl_iter, r->kl, &r->nkl) < 0) goto fail;
    for (size_t t = 0; t < nd; t++)
        r->y[t] = (float)y[t];

    /* The KL of the output: exact when affordable, else from the backend's Z. */
    if (n <= TSNE_KL_EXACT_MAX_N) {
        r->kl_final = tsne_kl_exact_dof(P, r->y, p.dims, p.dof, p.threads);
        r->kl_final_exact = 1;
    } else {
        double *g = big_alloc(nd * sizeof *g, NULL, "t-SNE workspace");
        if (!g || tsne_gradient(P, y, p.dims, 1.0, rep, &p, g, &r->kl_final) < 0) {
            free(g);
            goto fail;
        }
        free(g);
        r->kl_final_exact = rep->z_exact;
    }
    if (P->order) { /* back to the caller's numbering, through y */
        for (size_t q = 0; q < n; q++)
            for (int d = 0; d < p.dims; d++)
                y[(size_t)P->order[q] * p.dims + d] = r->y[q * p.dims + d];
        for (size_t t = 0; t < nd; t++)
            r->y[t] = (float)y[t];
    }
    r->time_optimise = now_seconds() - t0;
    free(y);
    affinity_free(P);
    return r;

fail:
    free(y);
    affinity_free(P);
    tsne_result_free(r);
    return NULL;
}

/* ---- placing new points into an existing map (openTSNE's transform) ------------ */

/* One new point's objective C_i = sum_j p_ij log(p_ij / q_ij) with
 * q_ij = w_ij / Z_i over the reference points: the gradient is
 * 2 sum_j p_ij w_ij^(1/a) (y - y_j) - 2 sum_l w_il^((a+1)/a) (y - y_l) / Z_i
 * (each pair once, hence 2 rather than 4). Returns C_i - sum p log p. */
static double place_grad(const double *pt, int dims, const int32_t *nbr, const float *pv,
                         size_t k, const double *yref, size_t n, const struct sptree *tree,
                         double theta, double dof, double *g)
{
    double rep[SPTREE_MAX_DIMS] = {0}, z = 0.0, ia = 1.0 / dof, lw = 0.0;
    if (tree) {
        sptree_repulsion_at(tree, yref, pt, SIZE_MAX, theta, dof, rep, &z);
    } else {
        for (size_t j = 0; j < n; j++) {
            double diff[SPTREE_MAX_DIMS], d2 = 0.0;
            for (int d = 0; d < dims; d++) {
                diff[d] = pt[d] - yref[j * dims + d];
                d2 += diff[d] * diff[d];
            }
            double base = 1.0 + d2 * ia, w = dof == 1.0 ? 1.0 / base : pow(base, -dof);
            z += w;
            for (int d = 0; d < dims; d++)
                rep[d] += w / base * diff[d];
        }
    }
    double att[SPTREE_MAX_DIMS] = {0};
    for (size_t t = 0; t < k; t++) {
        const double *yj = yref + (size_t)nbr[t] * dims;
        double diff[SPTREE_MAX_DIMS], d2 = 0.0;
        for (int d = 0; d < dims; d++) {
            diff[d] = pt[d] - yj[d];
            d2 += diff[d] * diff[d];
        }
        double pw = pv[t] / (1.0 + d2 * ia);
        for (int d = 0; d < dims; d++)
            att[d] += pw * diff[d];
        lw -= pv[t] * dof * log1p(d2 * ia);
    }
    if (!(z > 0.0)) z = 1e-300;
    for (int d = 0; d < dims; d++)
        g[d] = 2.0 * (att[d] - rep[d] / z);
    return -lw + log(z);
}

struct tsne_result *tsne_transform(const float *x_ref, size_t n, size_t d, const float *y_ref,
                                   const float *x_new, size_t m, const struct tsne_params *pin)
{
    struct tsne_params p = pin ? *pin : tsne_params_default();
    if (params_check(&p) < 0 || affinity_check(n, p.perplexity) < 0) return NULL;
    int dims = p.dims;
    size_t nd, md;
    if (!mul_ok(n, (size_t)dims, &nd) || !mul_ok(m, (size_t)dims, &md) || m == 0) {
        error_set(ERR_INPUT, NULL, "%zu new points: nothing to place or too many", m);
        return NULL;
    }
    for (size_t t = 0; t < nd; t++)
        if (!isfinite(y_ref[t])) {
            error_set(ERR_INPUT, NULL, "map coordinates: row %zu is not finite", t / dims);
            return NULL;
        }
    size_t k = affinity_neighbours(p.perplexity);
    double t0 = now_seconds();
    struct knn *nn = knn_query(x_ref, n, x_new, m, d, k, p.threads, p.progress);
    if (!nn) return NULL;
    struct tsne_result *r = xcalloc(1, sizeof *r);
    float *pv = NULL;
    double *yref = NULL, *kls = NULL;
    struct sptree *tree = NULL;
    r->n = m;
    r->dims = dims;
    r->perplexity = p.perplexity;
    r->method = n <= TSNE_EXACT_MAX_N ? TSNE_METHOD_EXACT : TSNE_METHOD_BH;
    r->learning_rate = p.learning_rate > 0.0 ? p.learning_rate : 1.0;
    r->time_knn = now_seconds() - t0;
    if (affinity_query(nn, p.perplexity, p.threads, &pv) < 0) goto fail;
    r->time_affinity = now_seconds() - t0;
    t0 = now_seconds();
    yref = big_alloc(nd * sizeof *yref, NULL, "map coordinates");
    r->y = yref ? big_alloc(md * sizeof *r->y, NULL, "t-SNE coordinates") : NULL;
    kls = r->y ? big_alloc(m * sizeof *kls, NULL, "t-SNE workspace") : NULL;
    if (!kls) goto fail;
    for (size_t t = 0; t < nd; t++)
        yref[t] = y_ref[t];
    if (r->method == TSNE_METHOD_BH) {
        tree = sptree_new(dims);
        if (!tree || sptree_build(tree, yref, n) < 0) goto fail;
    }
    double lr = r->learning_rate;
    int nt = util_threads(p.threads);
    /* Each new point on its own: the same result for any thread count. */
#pragma omp parallel for schedule(dynamic, 16) num_threads(nt)
    for (size_t i = 0; i < m; i++) {
        const int32_t *nbr = nn->idx + i * k;
        const float *pi = pv + i * k;
        double y[SPTREE_MAX_DIMS] = {0}, g[SPTREE_MAX_DIMS], upd[SPTREE_MAX_DIMS] = {0},
               gain[SPTREE_MAX_DIMS], plogp = 0.0;
        /* start at the affinity-weighted mean of the neighbours (openTSNE's
         * "weighted" initialisation) */
        for (size_t t = 0; t < k; t++) {
            for (int dd = 0; dd < dims; dd++)
                y[dd] += pi[t] * yref[(size_t)nbr[t] * dims + dd];
            if (pi[t] > 0.0f) plogp += pi[t] * log(pi[t]);
        }
        for (int dd = 0; dd < dims; dd++)
            gain[dd] = 1.0;
        for (int it = 0; it < p.iters; it++) {
            place_grad(y, dims, nbr, pi, k, yref, n, tree, p.theta, p.dof, g);
            for (int dd = 0; dd < dims; dd++) {
                gain[dd] = (g[dd] * upd[dd] < 0.0) ? gain[dd] + 0.2 : gain[dd] * 0.8;
                if (gain[dd] < 0.01) gain[dd] = 0.01;
                upd[dd] = p.final_momentum * upd[dd] - lr * gain[dd] * g[dd];
                y[dd] += upd[dd];
            }
        }
        kls[i] = plogp + place_grad(y, dims, nbr, pi, k, yref, n, tree, p.theta, p.dof, g);
        for (int dd = 0; dd < dims; dd++)
            r->y[i * dims + dd] = (float)y[dd];
    }
    double s = 0.0;
    for (size_t i = 0; i < m; i++)
        s += kls[i];
    r->kl_final = s / (double)m;
    r->kl_final_exact = tree == NULL;
    r->time_optimise = now_seconds() - t0;
    for (size_t t = 0; t < md; t++)
        if (!isfinite(r->y[t])) {
            error_set(ERR_FAIL, NULL,
                      "placing new points diverged (learning rate %g too large?)", lr);
            goto fail;
        }
    knn_free(nn);
    free(pv);
    free(yref);
    free(kls);
    sptree_free(tree);
    return r;
fail:
    knn_free(nn);
    free(pv);
    free(yref);
    free(kls);
    sptree_free(tree);
    tsne_result_free(r);
    return NULL;
}
