/* fft_grid.c - FIt-SNE's interpolation-based repulsion: spread charges onto
 * Lagrange nodes of an equispaced box grid, convolve with the kernel by FFT
 * (FFTW single precision), interpolate the potentials back (fft_grid.h).
 */
#include "fft_grid.h"

#include <fftw3.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/util.h"

#define FG_MAX_DIMS  3
#define FG_MAX_NODES 8
#define FG_NBUF      (FG_MAX_DIMS + 1) /* charges 1, y_1..y_dims, then their potentials */
#define FG_CHUNK     32                /* rows or columns per task of a 2-D pass */
#define FG_NODE_BUDGET 300 /* nodes per dimension the automatic choice may spend */
#define FG_POINT_BUDGET ((size_t)1 << 20) /* and points x nodes per box */
#define FG_SPLIT_R   3.0 /* radius of the near part of the split kernel, map units */
#define FG_SPLIT_U   (FG_SPLIT_R * FG_SPLIT_R)
#define FG_SPLIT_MIN_SPAN 100.0 /* auto: split from this span (in box widths) on */

struct fft_grid_params fft_grid_params_default(int dims)
{
    struct fft_grid_params p = {
        .nodes = 0,
        .min_boxes = dims == 3 ? 12 : 50,
        .max_boxes = dims == 3 ? 24 : (dims == 1 ? 20000 : 200),
        .box_width = 1.0,
        .split = -1,
        .dof = 1.0,
        .threads = 0,
    };
    return p;
}

/* ---- FFTW plans: made once per shape under a lock, then shared -------------- */

/* The transforms: whole r2c/c2r grids (1-D, 3-D and the kernels), and for 2-D
 * grids the two passes apart, so that the zero rows of the padded charge grid
 * are never transformed and only the potentials' own rows are transformed back:
 * rows r2c / c2r (along the last dimension, `howmany` rows of m reals and
 * m/2+1 complex) and columns c2c forward / backward (in place, `howmany`
 * adjacent columns of an m x (m/2+1) complex array). */
enum plan_kind {
    PLAN_R2C,
    PLAN_C2R,
    PLAN_ROWS_R2C,
    PLAN_ROWS_C2R,
    PLAN_COLS_FWD,
    PLAN_COLS_BWD,
    PLAN_DCT /* 2-D DCT-I of (m/2 + 1)^2, real to real (cplx taken as floats) */
};

struct plan_entry {
    int kind, dims, m, howmany;
    fftwf_plan plan;
};

static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;
static struct plan_entry *plans;
static size_t nplans, plans_cap;

/* The plan of a kind for an m^dims grid (howmany: rows or columns of the pass
 * kinds); real/cplx are arrays of that shape from fftwf_malloc, so every buffer
 * later executed with the plan at the same offsets shares their alignment.
 * FFTW_ESTIMATE does not touch the arrays and picks the same algorithm every
 * time: runs stay bit-identical. */
static int plan_get(int kind, int dims, int m, int howmany, float *real, fftwf_complex *cplx,
                    fftwf_plan *out)
{
    int rc = 0;
    pthread_mutex_lock(&plan_lock);
    for (size_t t = 0; t < nplans; t++)
        if (plans[t].kind == kind && plans[t].dims == dims && plans[t].m == m &&
            plans[t].howmany == howmany) {
            *out = plans[t].plan;
            goto out;
        }
    int nn[FG_MAX_DIMS] = {m, m, m}, mc = m / 2 + 1;
    fftwf_plan f = NULL;
    switch (kind) {
    case PLAN_R2C: f = fftwf_plan_dft_r2c(dims, nn, real, cplx, FFTW_ESTIMATE); break;
    case PLAN_C2R: f = fftwf_plan_dft_c2r(dims, nn, cplx, real, FFTW_ESTIMATE); break;
    case PLAN_DCT:
        f = fftwf_plan_r2r_2d(m / 2 + 1, m / 2 + 1, real, (float *)cplx, FFTW_REDFT00,
                              FFTW_REDFT00, FFTW_ESTIMATE);
        break;
    case PLAN_ROWS_R2C:
        f = fftwf_plan_many_dft_r2c(1, &m, howmany, real, NULL, 1, m, cplx, NULL, 1, mc,
                                    FFTW_ESTIMATE);
        break;
    case PLAN_ROWS_C2R:
        f = fftwf_plan_many_dft_c2r(1, &m, howmany, cplx, NULL, 1, mc, real, NULL, 1, m,
                                    FFTW_ESTIMATE);
        break;
    default:
        f = fftwf_plan_many_dft(1, &m, howmany, cplx, NULL, mc, 1, cplx, NULL, mc, 1,
                                kind == PLAN_COLS_FWD ? FFTW_FORWARD : FFTW_BACKWARD,
                                FFTW_ESTIMATE);
        break;
    }
    if (!f) {
        rc = error_set(ERR_FAIL, NULL, "FFTW could not plan a %d-D transform of size %d", dims,
                       m);
        goto out;
    }
    if (nplans == plans_cap) {
        plans_cap = plans_cap ? 2 * plans_cap : 16;
        plans = xrealloc(plans, plans_cap * sizeof *plans);
    }
    plans[nplans++] = (struct plan_entry){kind, dims, m, howmany, f};
    *out = f;
out:
    pthread_mutex_unlock(&plan_lock);
    return rc;
}

/* ---- the grid ------------------------------------------------------------------ */

/* The transformed kernels of the last grid: real (the kernels are even), with
 * the 1 / m^dims of the unnormalised inverse folded in. */
struct kernel_entry {
    int m, p, split;
    double hbox;
    float *k2, *k1; /* m^(dims-1) x (m/2+1) */
};

struct fft_grid {
    int dims, p, nt;
    struct fft_grid_params par;
    double node_t[FG_MAX_NODES], node_inv[FG_MAX_NODES]; /* Lagrange nodes in [0,1],
                                                            1 / their denominators */
    int nb, m;                                           /* last boxes/dim, FFT size */
    int split;                                           /* the last call split the kernel */
    int par_fft;                  /* grid large enough to share among threads (a small one is
                                     faster serial, and much faster on a loaded machine):
                                     from 2^15 complex entries (m ~ 256); the split
                                     kernel's 486^2 grid of the 70k map: 2 threads,
                                     median of 60 calls 15.7-18.5 ms against 17.7-24.8
                                     with 2^17 (serial there) */
    size_t cap_real, cap_cplx;    /* elements per buffer */
    float *real[FG_NBUF];         /* charges, then potentials */
    fftwf_complex *cplx[FG_NBUF]; /* their transforms, then the products */
    struct kernel_entry kern;
    size_t ncap;
    uint32_t *box, *order; /* per point box, points by box */
    double *ys, *rs;       /* the points' coordinates and their sums, in box order
                              (the spreading and interpolation read and write them
                              in sequence: y[order[s]] read there missed the cache
                              on half the samples of the interpolation) */
    float *fx, *fy;        /* split: the points' coordinates (from the centre) by box */
    float *gx, *gy;        /* split: their near forces */
    double *zrow;          /* split: the near part of Z per row of boxes */
    size_t *bstart;        /* boxes + 1 */
    size_t bcap;
};

struct fft_grid *fft_grid_new(int dims, const struct fft_grid_params *pin)
{
    struct fft_grid_params p = pin ? *pin : fft_grid_params_default(dims);
    if (dims < 1 || dims > FG_MAX_DIMS) {
        error_set(ERR_INPUT, NULL, "FFT grid: %d dimensions (1 to 3 supported)", dims);
        return NULL;
    }
    if ((p.nodes != 0 && (p.nodes < 2 || p.nodes > FG_MAX_NODES)) || p.min_boxes < 1 ||
        p.max_boxes < p.min_boxes || !(p.box_width > 0.0) || !(p.dof > 0.0) || !isfinite(p.dof) ||
        p.split < -1 || p.split > 1) {
        error_set(ERR_INPUT, NULL,
                  "FFT grid: nodes %d (0, or 2 to %d), boxes %d to %d, box width %g, dof %g, "
                  "split %d",
                  p.nodes, FG_MAX_NODES, p.min_boxes, p.max_boxes, p.box_width, p.dof, p.split);
        return NULL;
    }
    struct fft_grid *g = xcalloc(1, sizeof *g);
    g->dims = dims;
    g->par = p;
    g->nt = util_threads(p.threads);
    return g;
}

/* Lagrange nodes per box for nb boxes a dimension and n points: as given, or
 * (nodes 0) as many as FG_NODE_BUDGET nodes a dimension allow, 3 to 6, in
 * 1-D and 2-D (3-D keeps 3: its grid grows with the cube), and no more than
 * n p^2 <= FG_POINT_BUDGET allows (every point spreads to and reads from p^2
 * nodes). A small map (up to 50 boxes) of up to ~29,000 points gets 6 nodes, a
 * force error below 1e-3, for a grid of 600^2 at most; maps of 100 boxes and
 * more keep FIt-SNE's 3. On the 70k map of the exaggeration phase (50 boxes),
 * 6 nodes cost 30-38 ms a call against 12-16 ms for 3 (2 threads). */
static int nodes_for(const struct fft_grid *g, int nb, size_t n)
{
    if (g->par.nodes) return g->par.nodes;
    if (g->dims == 3) return 3;
    int p = FG_NODE_BUDGET / nb;
    p = p < 3 ? 3 : (p > 6 ? 6 : p);
    while (p > 3 && n * (size_t)(p * p) > FG_POINT_BUDGET)
        p--;
    return p;
}

/* The Lagrange nodes of a box, at (k + 1/2) / p, and their denominators. */
static void set_nodes(struct fft_grid *g, int p)
{
    g->p = p;
    for (int k = 0; k < p; k++)
        g->node_t[k] = (k + 0.5) / p;
    for (int k = 0; k < p; k++) {
        double den = 1.0;
        for (int j = 0; j < p; j++)
            if (j != k) den *= g->node_t[k] - g->node_t[j];
        g->node_inv[k] = 1.0 / den;
    }
}

static void free_bufs(struct fft_grid *g)
{
    for (int t = 0; t < FG_NBUF; t++) {
        fftwf_free(g->real[t]);
        fftwf_free(g->cplx[t]);
        g->real[t] = NULL;
        g->cplx[t] = NULL;
    }
    g->cap_real = g->cap_cplx = 0;
}

static void kernel_entry_release(struct kernel_entry *e)
{
    fftwf_free(e->k2);
    fftwf_free(e->k1);
    *e = (struct kernel_entry){0};
}

static void free_points(struct fft_grid *g)
{
    free(g->box);
    free(g->order);
    free(g->ys);
    free(g->rs);
    free(g->fx);
    free(g->fy);
    free(g->gx);
    free(g->gy);
    g->box = g->order = NULL;
    g->ys = g->rs = NULL;
    g->fx = g->fy = g->gx = g->gy = NULL;
    g->ncap = 0;
}

void fft_grid_free(struct fft_grid *g)
{
    if (!g) return;
    free_bufs(g);
    kernel_entry_release(&g->kern);
    free_points(g);
    free(g->bstart);
    free(g->zrow);
    free(g);
}

int fft_grid_boxes(const struct fft_grid *g)
{
    return g ? g->nb : 0;
}

int fft_grid_nodes(const struct fft_grid *g)
{
    return g ? g->p : 0;
}

int fft_grid_split(const struct fft_grid *g)
{
    return g ? g->split : 0;
}

/* Smallest m >= n whose prime factors are 2, 3 and 5: FFTW is fastest there,
 * and few distinct sizes mean few plans. */
static int nice_size(int n)
{
    for (int m = n > 1 ? n : 1;; m++) {
        int r = m;
        while (r % 2 == 0)
            r /= 2;
        while (r % 3 == 0)
            r /= 3;
        while (r % 5 == 0)
            r /= 5;
        if (r == 1) return m;
    }
}

/* Lagrange basis at t (in box units, [0, 1]) for the p nodes of a box. */
static inline void lagrange(const struct fft_grid *g, double t, double *w)
{
    int p = g->p;
    if (p == 3) { /* nodes 1/6, 1/2, 5/6: denominators 2/9, -1/9, 2/9 */
        double a = t - 1.0 / 6.0, b = t - 0.5, c = t - 5.0 / 6.0;
        w[0] = 4.5 * b * c;
        w[1] = -9.0 * a * c;
        w[2] = 4.5 * a * b;
        return;
    }
    for (int k = 0; k < p; k++) {
        double num = 1.0;
        for (int j = 0; j < p; j++)
            if (j != k) num *= t - g->node_t[j];
        w[k] = num * g->node_inv[k];
    }
}

/* 2-D spreading of the points s0..s1-1 (box order, coordinates ys) of one box, its lower
 * corner (ox, oy), its nodes from offset `base` of the real grids: charges 1,
 * y_1 - centre, y_2 - centre summed over the points with the weights
 * w0[a] w1[e], then stored (the box owns its nodes). Inlined with a constant
 * p for 3 nodes. */
static inline __attribute__((always_inline)) void
spread_box_2d(struct fft_grid *g, const double *ys, size_t s0, size_t s1, double ox, double oy,
              double inv_hbox, double centre, size_t base, const int p)
{
    double acc[3][FG_MAX_NODES][FG_MAX_NODES];
    for (int a = 0; a < p; a++)
        for (int e = 0; e < p; e++)
            acc[0][a][e] = acc[1][a][e] = acc[2][a][e] = 0.0;
    for (size_t s = s0; s < s1; s++) {
        double w0[FG_MAX_NODES], w1[FG_MAX_NODES], v[3][FG_MAX_NODES];
        lagrange(g, (ys[2 * s] - ox) * inv_hbox, w0);
        lagrange(g, (ys[2 * s + 1] - oy) * inv_hbox, w1);
        double q1 = ys[2 * s] - centre, q2 = ys[2 * s + 1] - centre;
        for (int e = 0; e < p; e++) {
            v[0][e] = w1[e];
            v[1][e] = w1[e] * q1;
            v[2][e] = w1[e] * q2;
        }
        for (int a = 0; a < p; a++)
            for (int c = 0; c < 3; c++)
                for (int e = 0; e < p; e++)
                    acc[c][a][e] += w0[a] * v[c][e];
    }
    size_t m = (size_t)g->m;
    for (int c = 0; c < 3; c++)
        for (int a = 0; a < p; a++)
            for (int e = 0; e < p; e++)
                g->real[c][base + a * m + e] = (float)acc[c][a][e];
}

/* 2-D interpolation of the potentials at the points s0..s1-1 of one box (as
 * spread_box_2d), and their sums sum_j K2 (y_i - y_j) = (y_i - c) phi_1 -
 * phi_(y - c) into rs, in box order (the self term, zero force, cancels). */
static inline __attribute__((always_inline)) void
interp_box_2d(const struct fft_grid *g, const double *ys, size_t s0, size_t s1, double ox,
              double oy, double inv_hbox, double centre, size_t base, double *rs, const int p)
{
    double pot[3][FG_MAX_NODES][FG_MAX_NODES];
    size_t m = (size_t)g->m;
    for (int c = 0; c < 3; c++)
        for (int a = 0; a < p; a++)
            for (int e = 0; e < p; e++)
                pot[c][a][e] = g->real[c][base + a * m + e];
    for (size_t s = s0; s < s1; s++) {
        double w0[FG_MAX_NODES], w1[FG_MAX_NODES], phi[3] = {0.0, 0.0, 0.0};
        lagrange(g, (ys[2 * s] - ox) * inv_hbox, w0);
        lagrange(g, (ys[2 * s + 1] - oy) * inv_hbox, w1);
        for (int c = 0; c < 3; c++)
            for (int a = 0; a < p; a++) {
                double r = 0.0;
                for (int e = 0; e < p; e++)
                    r += w1[e] * pot[c][a][e];
                phi[c] += w0[a] * r;
            }
        rs[2 * s] = (ys[2 * s] - centre) * phi[0] - phi[1];
        rs[2 * s + 1] = (ys[2 * s + 1] - centre) * phi[0] - phi[2];
    }
}

static int ensure_bufs(struct fft_grid *g, size_t nreal, size_t ncplx)
{
    if (nreal <= g->cap_real && ncplx <= g->cap_cplx) return 0;
    free_bufs(g);
    size_t br, bc;
    if (!mul_ok(nreal, sizeof(float), &br) || !mul_ok(ncplx, sizeof(fftwf_complex), &bc))
        return error_set(ERR_FAIL, NULL, "FFT grid too large");
    int nbuf = g->dims + 1;
    for (int t = 0; t < nbuf; t++) {
        g->real[t] = fftwf_malloc(br);
        g->cplx[t] = fftwf_malloc(bc);
        if (!g->real[t] || !g->cplx[t]) {
            free_bufs(g);
            return error_set(ERR_FAIL, NULL, "out of memory for an FFT grid of %zu floats",
                             nreal);
        }
    }
    g->cap_real = nreal;
    g->cap_cplx = ncplx;
    return 0;
}

static int ensure_points(struct fft_grid *g, size_t n, size_t nboxes)
{
    if (n > g->ncap) {
        free_points(g);
        size_t nd = n * (size_t)g->dims;
        g->box = big_alloc(n * sizeof *g->box, NULL, "FFT grid workspace");
        g->order = g->box ? big_alloc(n * sizeof *g->order, NULL, "FFT grid workspace") : NULL;
        g->ys = g->order ? big_alloc(nd * sizeof *g->ys, NULL, "FFT grid workspace") : NULL;
        g->rs = g->ys ? big_alloc(nd * sizeof *g->rs, NULL, "FFT grid workspace") : NULL;
        g->fx = g->rs ? big_alloc(n * sizeof *g->fx, NULL, "FFT grid workspace") : NULL;
        g->fy = g->fx ? big_alloc(n * sizeof *g->fy, NULL, "FFT grid workspace") : NULL;
        g->gx = g->fy ? big_alloc(n * sizeof *g->gx, NULL, "FFT grid workspace") : NULL;
        g->gy = g->gx ? big_alloc(n * sizeof *g->gy, NULL, "FFT grid workspace") : NULL;
        if (!g->gy) {
            free_points(g);
            return ERR_FAIL;
        }
        g->ncap = n;
    }
    if (nboxes + 1 > g->bcap) {
        free(g->bstart);
        free(g->zrow);
        g->bstart = big_alloc((nboxes + 1) * sizeof *g->bstart, NULL, "FFT grid workspace");
        g->zrow = g->bstart ? big_alloc(nboxes * sizeof *g->zrow, NULL, "FFT grid workspace")
                            : NULL;
        if (!g->zrow) {
            free(g->bstart);
            g->bstart = NULL;
            g->bcap = 0;
            return ERR_FAIL;
        }
        g->bcap = nboxes + 1;
    }
    return 0;
}

/* The split kernel (2-D, large maps): K = K_s + K_n, with K_s = K beyond the
 * radius R = FG_SPLIT_R and, inside it, K's tangent in u = d^2 at R^2,
 *     K_s(u) = K(R^2) + K'(R^2) (u - R^2)      (u < R^2),
 * a smooth low bump the grid interpolates well with boxes of width R (node
 * spacing R / 3), and the near part K_n = K - K_s, zero from R on, summed
 * directly over the pairs closer than R. The choice was measured on the final
 * Fashion-MNIST 70k map against the exact sums: force error (L2) 2.1e-2 with
 * a 486^2 circulant against 4.9e-2 for FIt-SNE's grid (1200^2); in a numpy
 * prototype (2,000 of its points) tangents of higher order (smoother at R,
 * but a higher bump) were less accurate (order 3: 4.4e-2), and here R = 2.5
 * gave 2.5e-2 (582^2) and R = 3.5 1.9e-2 (1.3x the near pairs), at about
 * R = 3's time a call. K_s(u) = ka + kb u for u < R^2: */
static void split_line(double a, int which, double *ka, double *kb)
{
    double b = which == 0 ? a + 1.0 : a, base = 1.0 + FG_SPLIT_U / a;
    double kr = a == 1.0 ? (which == 0 ? 1.0 / (base * base) : 1.0 / base) : pow(base, -b);
    *kb = -kr * (b / a) / base;
    *ka = kr - *kb * FG_SPLIT_U;
}

/* K2 (which = 0) or K1 (which = 1) at squared distance u, or (split) its
 * smooth part K_s. */
static inline double kernel_val(double a, int which, double u, int split)
{
    if (split && u < FG_SPLIT_U) {
        double ka, kb;
        split_line(a, which, &ka, &kb);
        return ka + kb * u;
    }
    double base = 1.0 + u / a;
    if (a == 1.0) return which == 0 ? 1.0 / (base * base) : 1.0 / base;
    return pow(base, which == 0 ? -(a + 1.0) : -a);
}

/* Kernel K2 (which = 0) or K1 (which = 1) on the circulant m^dims grid:
 * entry (t_1..t_dims) holds K at node offset (t or t - m) * hn, the middle
 * entry t = m/2 (never needed) 0. Rows along the last dimension are filled
 * from a table of squared offsets. */
static void fill_kernel(const struct fft_grid *g, int which, double hn, float *out)
{
    int dims = g->dims, m = g->m, half = m / 2;
    double a = g->par.dof;
    double *o2 = xmalloc((size_t)m * sizeof *o2);
    for (int t = 0; t < m; t++) {
        double o = (t < half ? t : t - m) * hn;
        o2[t] = o * o;
    }
    size_t nrows = 1;
    for (int d = 1; d < dims; d++)
        nrows *= (size_t)m;
#pragma omp parallel for schedule(static) num_threads(g->nt) if (nrows * m >= 262144)
    for (size_t row = 0; row < nrows; row++) {
        size_t r = row;
        double d2 = 0.0;
        int mid = 0;
        for (int d = 1; d < dims; d++) {
            int t = (int)(r % (size_t)m);
            r /= (size_t)m;
            mid |= t == half;
            d2 += o2[t];
        }
        float *dst = out + row * (size_t)m;
        for (int t = 0; t < m; t++)
            dst[t] = mid || t == half ? 0.0f : (float)kernel_val(a, which, d2 + o2[t], g->split);
    }
    free(o2);
}

/* The transformed kernels for an m^dims grid of boxes hbox wide (kept while
 * the grid stays the same). Even kernels have real transforms; in 2-D these
 * are the DCT-I (FFTW's REDFT00) of the kernel's (m/2 + 1)^2 quadrant, a
 * quarter of the work of the full r2c, which 1-D and 3-D grids use. */
static int kernel_get(struct fft_grid *g, double hbox, const float **k2, const float **k1)
{
    int dims = g->dims, m = g->m, h = m / 2, mc = h + 1;
    struct kernel_entry *e = &g->kern;
    size_t nreal = 1, ncplx = (size_t)mc, nq = (size_t)mc * mc;
    for (int d = 0; d < dims; d++) {
        nreal *= (size_t)m;
        if (d > 0) ncplx *= (size_t)m;
    }
    if (e->m == m && e->p == g->p && e->hbox == hbox && e->split == g->split) goto done;
    if (e->m != m) {
        kernel_entry_release(e);
        e->k2 = fftwf_malloc(ncplx * sizeof(float));
        e->k1 = fftwf_malloc(ncplx * sizeof(float));
    }
    e->m = 0;
    /* 2-D: the two kernels are independent, each with its own buffer
     * (fftwf_malloc'd, so aligned as the plan's), made by two threads */
    size_t ntmp = dims == 2 ? 2 * nq : nreal + 2 * ncplx;
    float *tmp = fftwf_malloc(ntmp * sizeof *tmp);
    float *tmp2 = dims == 2 ? fftwf_malloc(ntmp * sizeof *tmp2) : NULL;
    if (!tmp || (dims == 2 && !tmp2) || !e->k2 || !e->k1) {
        fftwf_free(tmp);
        fftwf_free(tmp2);
        kernel_entry_release(e);
        return error_set(ERR_FAIL, NULL, "out of memory for an FFT grid of %zu floats", nreal);
    }
    fftwf_plan plan;
    int rc = dims == 2
                 ? plan_get(PLAN_DCT, 2, m, 1, tmp, (fftwf_complex *)(tmp + nq), &plan)
                 : plan_get(PLAN_R2C, dims, m, 1, tmp, (fftwf_complex *)(tmp + nreal), &plan);
    if (rc < 0) {
        fftwf_free(tmp);
        fftwf_free(tmp2);
        return ERR_FAIL;
    }
    float scale = (float)(1.0 / (double)nreal);
    double hn = hbox / g->p, a = g->par.dof;
    if (dims != 2)
        for (int which = 0; which < 2; which++) {
            float *dst = which == 0 ? e->k2 : e->k1;
            fftwf_complex *tc = (fftwf_complex *)(tmp + nreal);
            fill_kernel(g, which, hn, tmp);
            fftwf_execute_dft_r2c(plan, tmp, tc);
            for (size_t f = 0; f < ncplx; f++)
                dst[f] = tc[f][0] * scale;
        }
    else
#pragma omp parallel for schedule(static, 1) num_threads(2) if (g->nt > 1 && g->par_fft)
        for (int which = 0; which < 2; which++) {
            float *dst = which == 0 ? e->k2 : e->k1;
            /* the quadrant: K at node offsets (t0, t1) hn, 0 <= t < m/2, and 0
             * on the middle row and column (as fill_kernel's circulant) */
            float *q = which == 0 ? tmp : tmp2, *qt = q + nq;
            for (int t0 = 0; t0 <= h; t0++)
                for (int t1 = 0; t1 <= h; t1++) {
                    double d2 = ((double)t0 * t0 + (double)t1 * t1) * hn * hn;
                    q[(size_t)t0 * mc + t1] =
                        t0 == h || t1 == h ? 0.0f : (float)kernel_val(a, which, d2, g->split);
                }
            fftwf_execute_r2r(plan, q, qt);
            /* rows k0 > m/2 mirror rows m - k0 */
            for (int k0 = 0; k0 < m; k0++) {
                const float *src = qt + (size_t)(k0 <= h ? k0 : m - k0) * mc;
                for (int k1 = 0; k1 < mc; k1++)
                    dst[(size_t)k0 * mc + k1] = src[k1] * scale;
            }
        }
    fftwf_free(tmp2);
    fftwf_free(tmp);
    e->m = m;
    e->p = g->p;
    e->split = g->split;
    e->hbox = hbox;
done:
    *k2 = e->k2;
    *k1 = e->k1;
    return 0;
}

/* Whether to split the kernel (see split_line) for a map `span` wide: as
 * asked, or (auto) in 2-D with the automatic node count from
 * FG_SPLIT_MIN_SPAN box widths on, where FIt-SNE's grid would have 100 boxes
 * or more (and 3 nodes, a few per cent of force error): the split kernel is
 * more accurate there on a grid of a sixth of the nodes, for the pairs closer
 * than R, which are few in a spread map (~70 a point in the final 70k map). */
static int split_for(const struct fft_grid *g, double span)
{
    if (g->dims != 2) return 0;
    if (g->par.split >= 0) return g->par.split;
    return g->par.nodes == 0 && span >= FG_SPLIT_MIN_SPAN * g->par.box_width;
}

/* One run of near pairs: point (xi, yi) against the points t0..t1-1 (box
 * order), K_n summed into acc (force x, y; Z) and subtracted from their gx,
 * gy. kc: R^2, K_s = ka + kb u of K2 and of K1, the dof. */
static inline __attribute__((always_inline)) void
near_run_any(const float *restrict fx, const float *restrict fy, float *restrict gx,
             float *restrict gy, size_t t0, size_t t1, float xi, float yi, const float kc[6],
             float acc[3])
{
    const float uc = kc[0], a2 = kc[1], b2 = kc[2], a1 = kc[3], b1 = kc[4], fa = kc[5];
    float ax = 0.0f, ay = 0.0f, az = 0.0f;
    if (fa == 1.0f) {
#pragma omp simd reduction(+ : ax, ay, az)
        for (size_t t = t0; t < t1; t++) {
            float ex = xi - fx[t], ey = yi - fy[t], u = ex * ex + ey * ey;
            float q = 1.0f / (1.0f + u), in = u < uc ? 1.0f : 0.0f;
            float k2 = (q * q - (a2 + b2 * u)) * in;
            float px = k2 * ex, py = k2 * ey;
            ax += px;
            ay += py;
            az += (q - (a1 + b1 * u)) * in;
            gx[t] -= px;
            gy[t] -= py;
        }
    } else {
        for (size_t t = t0; t < t1; t++) {
            float ex = xi - fx[t], ey = yi - fy[t], u = ex * ex + ey * ey;
            if (!(u < uc)) continue;
            float base = 1.0f + u / fa;
            float k2 = powf(base, -(fa + 1.0f)) - (a2 + b2 * u);
            ax += k2 * ex;
            ay += k2 * ey;
            az += powf(base, -fa) - (a1 + b1 * u);
            gx[t] -= k2 * ex;
            gy[t] -= k2 * ey;
        }
    }
    acc[0] += ax;
    acc[1] += ay;
    acc[2] += az;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The same for the Cauchy kernel in AVX2, eight candidates at a time with the
 * last partial eight masked (runs are a few dozen points: the vectoriser's
 * scalar tail took about as long as its vector body). */
__attribute__((target("avx2,fma"))) static inline void
near_run_avx2(const float *fx, const float *fy, float *gx, float *gy, size_t t0, size_t t1,
              float xi, float yi, const float kc[6], float acc[3])
{
    const __m256 vxi = _mm256_set1_ps(xi), vyi = _mm256_set1_ps(yi), uc = _mm256_set1_ps(kc[0]),
                 a2 = _mm256_set1_ps(kc[1]), b2 = _mm256_set1_ps(kc[2]),
                 a1 = _mm256_set1_ps(kc[3]), b1 = _mm256_set1_ps(kc[4]),
                 one = _mm256_set1_ps(1.0f);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 ax = _mm256_setzero_ps(), ay = _mm256_setzero_ps(), az = _mm256_setzero_ps();
    for (size_t t = t0; t < t1; t += 8) {
        int full = t1 - t >= 8;
        __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(full ? 8 : (int)(t1 - t)), lane);
        __m256 fxv = full ? _mm256_loadu_ps(fx + t) : _mm256_maskload_ps(fx + t, mask);
        __m256 fyv = full ? _mm256_loadu_ps(fy + t) : _mm256_maskload_ps(fy + t, mask);
        __m256 ex = _mm256_sub_ps(vxi, fxv), ey = _mm256_sub_ps(vyi, fyv);
        __m256 u = _mm256_fmadd_ps(ex, ex, _mm256_mul_ps(ey, ey));
        __m256 in = _mm256_and_ps(_mm256_cmp_ps(u, uc, _CMP_LT_OQ), _mm256_castsi256_ps(mask));
        __m256 q = _mm256_div_ps(one, _mm256_add_ps(one, u));
        __m256 k2 = _mm256_and_ps(in, _mm256_sub_ps(_mm256_mul_ps(q, q), _mm256_fmadd_ps(b2, u, a2)));
        __m256 k1 = _mm256_and_ps(in, _mm256_sub_ps(q, _mm256_fmadd_ps(b1, u, a1)));
        __m256 px = _mm256_mul_ps(k2, ex), py = _mm256_mul_ps(k2, ey);
        ax = _mm256_add_ps(ax, px);
        ay = _mm256_add_ps(ay, py);
        az = _mm256_add_ps(az, k1);
        if (full) {
            _mm256_storeu_ps(gx + t, _mm256_sub_ps(_mm256_loadu_ps(gx + t), px));
            _mm256_storeu_ps(gy + t, _mm256_sub_ps(_mm256_loadu_ps(gy + t), py));
        } else {
            _mm256_maskstore_ps(gx + t, mask, _mm256_sub_ps(_mm256_maskload_ps(gx + t, mask), px));
            _mm256_maskstore_ps(gy + t, mask, _mm256_sub_ps(_mm256_maskload_ps(gy + t, mask), py));
        }
    }
    float l[3][8];
    _mm256_storeu_ps(l[0], ax);
    _mm256_storeu_ps(l[1], ay);
    _mm256_storeu_ps(l[2], az);
    for (int c = 0; c < 3; c++)
        acc[c] += ((l[c][0] + l[c][1]) + (l[c][2] + l[c][3])) +
                  ((l[c][4] + l[c][5]) + (l[c][6] + l[c][7]));
}
#endif

/* The near part of the split kernel over the pairs of one row of boxes, bx,
 * with the row after it (see near_part): each pair once, its force added to
 * both points' sums gx, gy (box order), run by run. Returns the row's sum of
 * K1_n over its pairs. */
static inline __attribute__((always_inline)) double
near_row_body(const struct fft_grid *g, int bx, const float kc[6], float *gx, float *gy,
              const int avx2)
{
    int nb = g->nb;
    const size_t *bs = g->bstart;
    double zrow = 0.0;
    for (int by = 0; by < nb; by++) {
        size_t b = (size_t)bx * nb + by;
        /* the runs after point s: the rest of its box and the next box of its
         * row; the three boxes below it in the next row */
        size_t aend = bs[b + (by + 1 < nb ? 2 : 1)], r0 = 0, r1 = 0;
        if (bx + 1 < nb) {
            size_t nx = (size_t)(bx + 1) * nb;
            r0 = bs[nx + (by > 0 ? by - 1 : 0)];
            r1 = bs[nx + (by + 1 < nb ? by + 1 : nb - 1) + 1];
        }
        for (size_t s = bs[b]; s < bs[b + 1]; s++) {
            float acc[3] = {0.0f, 0.0f, 0.0f};
            for (int run = 0; run < 2; run++) {
                size_t t0 = run == 0 ? s + 1 : r0, t1 = run == 0 ? aend : r1;
#if defined(__x86_64__) && defined(__GNUC__)
                if (avx2) {
                    near_run_avx2(g->fx, g->fy, gx, gy, t0, t1, g->fx[s], g->fy[s], kc, acc);
                    continue;
                }
#endif
                near_run_any(g->fx, g->fy, gx, gy, t0, t1, g->fx[s], g->fy[s], kc, acc);
            }
            gx[s] += acc[0];
            gy[s] += acc[1];
            zrow += acc[2];
        }
    }
    return zrow;
}

UTIL_CLONES static double near_row(const struct fft_grid *g, int bx, const float kc[6],
                                   float *gx, float *gy)
{
    return near_row_body(g, bx, kc, gx, gy, 0);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,fma"))) static double near_row_avx2(const struct fft_grid *g, int bx,
                                                                const float kc[6], float *gx,
                                                                float *gy)
{
    return near_row_body(g, bx, kc, gx, gy, 1);
}

static int near_avx2_ok(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
static double near_row_avx2(const struct fft_grid *g, int bx, const float kc[6], float *gx,
                            float *gy)
{
    return near_row(g, bx, kc, gx, gy);
}

static int near_avx2_ok(void)
{
    return 0;
}
#endif

/* The near part of the split kernel: sum over the pairs closer than R of
 * K_n = K - K_s, added to g->rs (force: K2_n (y_i - y_j)); returns its Z part
 * (K1_n over ordered pairs). Boxes are at least R wide, so a point's near
 * pairs lie in its own box and the 8 around it; each pair is taken once, from
 * the box earlier in row-major order, and its force goes to both points. A
 * row of boxes writes to its own points and the next row's, so the even rows
 * run in parallel, then the odd ones: every sum is made in the same order
 * whatever the thread count (single precision, coordinates from the centre;
 * Z by rows, then serially). */
static double near_part(struct fft_grid *g, size_t n, double centre)
{
    int nb = g->nb;
#pragma omp parallel for schedule(static) num_threads(g->nt) if (n >= 8192)
    for (size_t s = 0; s < n; s++) {
        g->fx[s] = (float)(g->ys[2 * s] - centre);
        g->fy[s] = (float)(g->ys[2 * s + 1] - centre);
        g->gx[s] = g->gy[s] = 0.0f;
    }
    double ka2, kb2, ka1, kb1;
    split_line(g->par.dof, 0, &ka2, &kb2);
    split_line(g->par.dof, 1, &ka1, &kb1);
    const float kc[6] = {(float)FG_SPLIT_U, (float)ka2, (float)kb2,
                         (float)ka1,        (float)kb1, (float)g->par.dof};
    double *zrow = g->zrow;
    int avx2 = g->par.dof == 1.0 && near_avx2_ok(); /* the AVX2 loop is the Cauchy kernel's */
#pragma omp parallel num_threads(g->nt) if (n >= 8192)
    for (int parity = 0; parity < 2; parity++) {
#pragma omp for schedule(dynamic, 1)
        for (int bx = parity; bx < nb; bx += 2)
            zrow[bx] = avx2 ? near_row_avx2(g, bx, kc, g->gx, g->gy)
                            : near_row(g, bx, kc, g->gx, g->gy);
    }
#pragma omp parallel for schedule(static) num_threads(g->nt) if (n >= 8192)
    for (size_t s = 0; s < n; s++) {
        g->rs[2 * s] += g->gx[s];
        g->rs[2 * s + 1] += g->gy[s];
    }
    double z = 0.0;
    for (int bx = 0; bx < nb; bx++)
        z += zrow[bx];
    return 2.0 * z; /* ordered pairs */
}

/* Boxes per dimension: span / box_width within [min_boxes, max_boxes],
 * rounded up to an FFT-friendly count; they cut the span evenly. */
static int boxes_for(const struct fft_grid_params *par, double span, double *hbox)
{
    double want = ceil(span / par->box_width);
    if (want > par->max_boxes) want = par->max_boxes;
    if (want < par->min_boxes) want = par->min_boxes;
    int nb = nice_size((int)want);
    *hbox = span / nb;
    return nb;
}

/* The circulant's size per dimension for nn nodes: twice (a linear
 * convolution), even and FFT-friendly. */
static int circulant_size(int nn)
{
    int m = 2 * nn;
    while (nice_size(m) != m || m % 2)
        m = nice_size(m + 1);
    return m;
}

/* The grid for a map `span` wide: boxes per dimension *nb, *hbox wide, *p
 * nodes each; returns the box count. Split: boxes at least R wide, 3 nodes
 * each (node spacing ~R/3). */
static size_t layout(const struct fft_grid *g, double span, size_t n, int split, int *nb,
                     int *p, double *hbox)
{
    if (split) {
        *nb = (int)floor(span / FG_SPLIT_R);
        if (*nb < 1) *nb = 1;
        *hbox = span / *nb;
        *p = 3;
    } else {
        *nb = boxes_for(&g->par, span, hbox);
        *p = nodes_for(g, *nb, n);
    }
    size_t nboxes = 1;
    for (int d = 0; d < g->dims; d++)
        nboxes *= (size_t)*nb;
    return nboxes;
}

/* Each point's box (last dimension fastest) into g->box, and the count of
 * each box b into bstart[b + 1] (bstart[0] = 0). */
static void box_ids(struct fft_grid *g, const double *y, size_t n, double lo, double hbox,
                    int nb, size_t nboxes)
{
    int dims = g->dims;
    double inv_hbox = 1.0 / hbox;
    size_t *bs = g->bstart;
    memset(bs, 0, (nboxes + 1) * sizeof *bs);
#pragma omp parallel for schedule(static) num_threads(g->nt) if (n >= 8192)
    for (size_t i = 0; i < n; i++) {
        size_t b = 0;
        for (int d = 0; d < dims; d++) {
            int k = (int)((y[i * dims + d] - lo) * inv_hbox);
            if (k >= nb) k = nb - 1;
            if (k < 0) k = 0;
            b = b * (size_t)nb + (size_t)k;
        }
        g->box[i] = (uint32_t)b;
    }
    for (size_t i = 0; i < n; i++)
        bs[g->box[i] + 1]++;
}

/* Whether the split kernel would cost more than FIt-SNE's grid on this map
 * (box counts of the split layout in bstart[1..]): its near candidates (each
 * point against the rest of its box, the next box and the three below, as
 * near_part reads them) and circulant against the plain circulant, with
 * costs fitted to single-thread calls on Fashion-MNIST 70k maps at
 * iterations 400, 550 and 1000 (spans 104, 154, 242; candidates 27, 13 and
 * 6 million; split 23, 19, 20 ms against plain 21, 60, 74 ms): 0.56 ns a
 * candidate, 36 ns a run of candidates (two a point), 5 ns per m^2 log2 m of
 * a circulant. Dense maps (many close pairs) keep the plain grid. */
static int split_costlier(const struct fft_grid *g, double span, size_t n, int nb)
{
    const size_t *cnt = g->bstart + 1;
    double cand = 0.0;
    for (int bx = 0; bx < nb; bx++)
        for (int by = 0; by < nb; by++) {
            double k = (double)cnt[(size_t)bx * nb + by], next = 0.0;
            if (k == 0.0) continue;
            if (by + 1 < nb) next += (double)cnt[(size_t)bx * nb + by + 1];
            if (bx + 1 < nb)
                for (int dy = -1; dy <= 1; dy++)
                    if (by + dy >= 0 && by + dy < nb)
                        next += (double)cnt[(size_t)(bx + 1) * nb + by + dy];
            cand += 0.5 * k * (k - 1.0) + k * next;
        }
    int nbp, pp;
    double hp;
    layout(g, span, n, 0, &nbp, &pp, &hp);
    double ms = circulant_size(nb * 3), mp = circulant_size(nbp * pp);
    double split_ns = 0.56 * cand + 36.0 * 2.0 * (double)n + 5.0 * ms * ms * log2(ms),
           plain_ns = 5.0 * mp * mp * log2(mp);
    return split_ns > plain_ns;
}


/* The plans of a 2-D pass pair over nn rows of nodes: rows[0] / cols[0] for
 * full chunks of FG_CHUNK rows / columns, rows[1] / cols[1] for the last. */
static int pass_plans(struct fft_grid *g, int row_kind, int col_kind, int nn,
                      fftwf_plan rows[2], fftwf_plan cols[2])
{
    int m = g->m, mc = m / 2 + 1;
    int nrc = (nn + FG_CHUNK - 1) / FG_CHUNK, ncc = (mc + FG_CHUNK - 1) / FG_CHUNK;
    float *r = g->real[0];
    fftwf_complex *c = g->cplx[0];
    if (plan_get(row_kind, 2, m, FG_CHUNK, r, c, &rows[0]) < 0 ||
        plan_get(row_kind, 2, m, nn - (nrc - 1) * FG_CHUNK, r, c, &rows[1]) < 0 ||
        plan_get(col_kind, 2, m, FG_CHUNK, r, c, &cols[0]) < 0 ||
        plan_get(col_kind, 2, m, mc - (ncc - 1) * FG_CHUNK, r, c, &cols[1]) < 0)
        return ERR_FAIL;
    return 0;
}

/* The forward transforms of the nq charge grids (2-D: the nn charged rows
 * r2c, the padding rows zeroed, then all columns), in fixed chunks of rows and
 * columns whatever the thread count. */
static int transform_charges(struct fft_grid *g, int nq, int nn, fftwf_plan full)
{
    int m = g->m, mc = m / 2 + 1;
    if (g->dims != 2) {
#pragma omp parallel for schedule(static, 1) num_threads(g->nt) if (g->par_fft)
        for (int c = 0; c < nq; c++)
            fftwf_execute_dft_r2c(full, g->real[c], g->cplx[c]);
        return 0;
    }
    int nrc = (nn + FG_CHUNK - 1) / FG_CHUNK, ncc = (mc + FG_CHUNK - 1) / FG_CHUNK;
    fftwf_plan rows[2], cols[2];
    if (pass_plans(g, PLAN_ROWS_R2C, PLAN_COLS_FWD, nn, rows, cols) < 0) return ERR_FAIL;
#pragma omp parallel num_threads(g->nt) if (g->par_fft)
    {
#pragma omp for schedule(static, 1)
        for (int t = 0; t < nq * nrc; t++) {
            int c = t / nrc, r = t % nrc;
            size_t r0 = (size_t)r * FG_CHUNK;
            fftwf_execute_dft_r2c(rows[r == nrc - 1], g->real[c] + r0 * m,
                                  g->cplx[c] + r0 * mc);
        }
#pragma omp for schedule(static)
        for (int c = 0; c < nq; c++)
            memset(g->cplx[c] + (size_t)nn * mc, 0,
                   (size_t)(m - nn) * mc * sizeof(fftwf_complex));
#pragma omp for schedule(static, 1)
        for (int t = 0; t < nq * ncc; t++) {
            int c = t / ncc, k = t % ncc;
            fftwf_complex *a = g->cplx[c] + (size_t)k * FG_CHUNK;
            fftwf_execute_dft(cols[k == ncc - 1], a, a);
        }
    }
    return 0;
}

/* The inverse transforms of the nout products into the potentials (2-D: all
 * columns back, then only the nn rows of nodes c2r). Destroys the products. */
static int transform_potentials(struct fft_grid *g, int nout, int nn, fftwf_plan full)
{
    int m = g->m, mc = m / 2 + 1;
    if (g->dims != 2) {
#pragma omp parallel for schedule(static, 1) num_threads(g->nt) if (g->par_fft)
        for (int o = 0; o < nout; o++)
            fftwf_execute_dft_c2r(full, g->cplx[o], g->real[o]);
        return 0;
    }
    int nrc = (nn + FG_CHUNK - 1) / FG_CHUNK, ncc = (mc + FG_CHUNK - 1) / FG_CHUNK;
    fftwf_plan rows[2], cols[2];
    if (pass_plans(g, PLAN_ROWS_C2R, PLAN_COLS_BWD, nn, rows, cols) < 0) return ERR_FAIL;
#pragma omp parallel num_threads(g->nt) if (g->par_fft)
    {
#pragma omp for schedule(static, 1)
        for (int t = 0; t < nout * ncc; t++) {
            int o = t / ncc, k = t % ncc;
            fftwf_complex *a = g->cplx[o] + (size_t)k * FG_CHUNK;
            fftwf_execute_dft(cols[k == ncc - 1], a, a);
        }
#pragma omp for schedule(static, 1)
        for (int t = 0; t < nout * nrc; t++) {
            int o = t / nrc, r = t % nrc;
            size_t r0 = (size_t)r * FG_CHUNK;
            fftwf_execute_dft_c2r(rows[r == nrc - 1], g->cplx[o] + r0 * mc,
                                  g->real[o] + r0 * m);
        }
    }
    return 0;
}

int fft_grid_repulsion(struct fft_grid *g, const double *y, size_t n, double *rep, double *z)
{
    int dims = g->dims;
    *z = 0.0;
    if (n == 0) return 0;

    /* The bounding cube of the points (min and max are exact in any order:
     * repeatable on any thread count). */
    double lo = INFINITY, hi = -INFINITY;
#pragma omp parallel for schedule(static) reduction(min : lo) reduction(max : hi) \
    num_threads(g->nt) if (n >= 8192)
    for (size_t t = 0; t < n * (size_t)dims; t++) {
        lo = y[t] < lo ? y[t] : lo;
        hi = y[t] > hi ? y[t] : hi;
    }
    double span = hi - lo;
    if (!(span > 1e-12)) span = 1e-12;
    /* The grid, and each point's box: the split kernel where split_for
     * wants it and (auto) the estimated work says it pays on this map. */
    double hbox;
    int split = split_for(g, span), nb, p;
    size_t nboxes = layout(g, span, n, split, &nb, &p, &hbox);
    if (ensure_points(g, n, nboxes) < 0) return ERR_FAIL;
    box_ids(g, y, n, lo, hbox, nb, nboxes);
    if (split && g->par.split < 0 && split_costlier(g, span, n, nb)) {
        split = 0;
        nboxes = layout(g, span, n, split, &nb, &p, &hbox);
        if (ensure_points(g, n, nboxes) < 0) return ERR_FAIL;
        box_ids(g, y, n, lo, hbox, nb, nboxes);
    }
    if (p != g->p) set_nodes(g, p);
    int nn = nb * p; /* nodes per dimension */
    g->nb = nb;
    g->split = split;
    g->m = circulant_size(nn);
    double centre = lo + 0.5 * span;

    /* Real grids: 2-D holds only the nn rows of nodes (of m, the rest is the
     * zero padding the row pass skips); complex: m^(dims-1) x (m/2+1). */
    size_t m = (size_t)g->m, nreal = dims == 2 ? (size_t)nn * m : 1, ncplx = m / 2 + 1;
    for (int d = 0; d < dims; d++) {
        if (dims != 2) nreal *= m;
        if (d > 0) ncplx *= m;
    }
    if (ensure_bufs(g, nreal, ncplx) < 0) return ERR_FAIL;
    g->par_fft = ncplx >= ((size_t)1 << 15);
    fftwf_plan fwd = NULL, inv = NULL;
    if (dims != 2 && (plan_get(PLAN_R2C, dims, g->m, 1, g->real[0], g->cplx[0], &fwd) < 0 ||
                      plan_get(PLAN_C2R, dims, g->m, 1, g->real[0], g->cplx[0], &inv) < 0))
        return ERR_FAIL;
    const float *k2hat, *k1hat;
    if (kernel_get(g, hbox, &k2hat, &k1hat) < 0) return ERR_FAIL;

    /* A counting sort of the points by box (box_ids counted them), so that
     * each box's points are listed in index order. */
    double inv_hbox = 1.0 / hbox;
    size_t *bs = g->bstart;
    for (size_t b = 0; b < nboxes; b++)
        bs[b + 1] += bs[b];
    {
        /* order[] filled by a running cursor per box; the cursor is bs[b]
         * itself, restored afterwards by shifting. */
        for (size_t i = 0; i < n; i++)
            g->order[bs[g->box[i]]++] = (uint32_t)i;
        for (size_t b = nboxes; b > 0; b--)
            bs[b] = bs[b - 1];
        bs[0] = 0;
    }
#pragma omp parallel for schedule(static) num_threads(g->nt) if (n >= 8192)
    for (size_t s = 0; s < n; s++)
        for (int d = 0; d < dims; d++)
            g->ys[s * dims + d] = y[(size_t)g->order[s] * dims + d];

    /* Node offsets of one box's p^dims nodes in the real arrays (row length
     * m), and the digit table that picks each node's per-dimension weight. */
    int nodes_box = 1;
    for (int d = 0; d < dims; d++)
        nodes_box *= p;
    size_t off[FG_MAX_NODES * FG_MAX_NODES * FG_MAX_NODES];
    int digit[FG_MAX_NODES * FG_MAX_NODES * FG_MAX_NODES][FG_MAX_DIMS];
    for (int t = 0; t < nodes_box; t++) {
        int r = t;
        size_t o = 0;
        for (int d = dims - 1; d >= 0; d--) { /* last dimension fastest */
            digit[t][d] = r % p;
            r /= p;
        }
        for (int d = 0; d < dims; d++)
            o = o * m + (size_t)digit[t][d];
        off[t] = o;
    }

    /* Charges: q0 = 1, q_d = y_d - centre (centring keeps float cancellation
     * in y_i phi_1 - phi_y small), into real buffers 0..dims. Boxes own their
     * nodes, so boxes spread in parallel without sharing a node. */
    int nq = dims + 1;
#pragma omp parallel for schedule(static) num_threads(g->nt) if (g->par_fft)
    for (int c = 0; c < nq; c++)
        memset(g->real[c], 0, nreal * sizeof(float));
#pragma omp parallel for schedule(dynamic, 16) num_threads(g->nt) if (n >= 8192)
    for (size_t b = 0; b < nboxes; b++) {
        if (bs[b] == bs[b + 1]) continue;
        size_t r = b, base = 0, stride = 1;
        int bidx[FG_MAX_DIMS];
        for (int d = dims - 1; d >= 0; d--) {
            bidx[d] = (int)(r % (size_t)nb);
            r /= (size_t)nb;
        }
        for (int d = dims - 1; d >= 0; d--) {
            base += (size_t)bidx[d] * (size_t)p * stride;
            stride *= m;
        }
        if (dims == 2) { /* the common case, FIt-SNE's 3 nodes specialised */
            double ox = lo + bidx[0] * hbox, oy = lo + bidx[1] * hbox;
            if (p == 3)
                spread_box_2d(g, g->ys, bs[b], bs[b + 1], ox, oy, inv_hbox, centre, base, 3);
            else
                spread_box_2d(g, g->ys, bs[b], bs[b + 1], ox, oy, inv_hbox, centre, base, p);
            continue;
        }
        for (size_t s = bs[b]; s < bs[b + 1]; s++) {
            const double *yi = g->ys + s * dims;
            double w[FG_MAX_DIMS][FG_MAX_NODES], qv[FG_MAX_DIMS + 1];
            qv[0] = 1.0;
            for (int d = 0; d < dims; d++) {
                lagrange(g, (yi[d] - lo) * inv_hbox - bidx[d], w[d]);
                qv[d + 1] = yi[d] - centre;
            }
            for (int t = 0; t < nodes_box; t++) {
                double wt = 1.0;
                for (int d = 0; d < dims; d++)
                    wt *= w[d][digit[t][d]];
                for (int c = 0; c < nq; c++)
                    g->real[c][base + off[t]] += (float)(wt * qv[c]);
            }
        }
    }

    if (transform_charges(g, nq, nn, fwd) < 0) return ERR_FAIL;
    /* Z needs no transform back: the sum over points of the interpolated K1
     * potential is the sum over nodes of charge times potential,
     * q0 . (K1 * q0), which by Parseval is sum_f K1hat_f |q0hat_f|^2 over the
     * whole spectrum (the half kept by r2c counts twice, but for its first
     * and middle columns). Summed in fixed chunks, then serially. Products
     * with the (real) kernel transform: outputs 0..dims are K2 * q_c in place. */
    size_t mc = m / 2 + 1, zchunk = (size_t)1 << 14, nzc = (ncplx + zchunk - 1) / zchunk;
    double *zc = xmalloc(nzc * sizeof *zc);
#pragma omp parallel for schedule(static) num_threads(g->nt) if (g->par_fft)
    for (size_t c = 0; c < nzc; c++) {
        size_t f0 = c * zchunk, f1 = f0 + zchunk < ncplx ? f0 + zchunk : ncplx;
        double zs = 0.0;
        for (size_t f = f0, kl = f0 % mc; f < f1; f++, kl = kl + 1 == mc ? 0 : kl + 1) {
            double q2 = (double)g->cplx[0][f][0] * g->cplx[0][f][0] +
                        (double)g->cplx[0][f][1] * g->cplx[0][f][1];
            zs += (kl == 0 || kl == mc - 1 ? 1.0 : 2.0) * k1hat[f] * q2;
            float k2 = k2hat[f];
            for (int q = 0; q < nq; q++) {
                g->cplx[q][f][0] *= k2;
                g->cplx[q][f][1] *= k2;
            }
        }
        zc[c] = zs;
    }
    double ztot = 0.0;
    for (size_t c = 0; c < nzc; c++)
        ztot += zc[c];
    free(zc);
    /* minus the self terms K1(0) = 1 (split: K1_s(0)) */
    *z = ztot - (double)n * kernel_val(g->par.dof, 1, 0.0, split);
    int nout = nq;
    if (transform_potentials(g, nout, nn, inv) < 0) return ERR_FAIL;

    /* Interpolate back and form the per-point sums, box by box (the nodes a
     * box reads lie together). */
    size_t run = 16, nruns = (nboxes + run - 1) / run;
#pragma omp parallel for schedule(dynamic, 1) num_threads(g->nt) if (n >= 8192)
    for (size_t c = 0; c < nruns; c++) {
        size_t bend = (c + 1) * run < nboxes ? (c + 1) * run : nboxes;
        for (size_t b = c * run; b < bend; b++) {
            if (bs[b] == bs[b + 1]) continue;
            size_t r = b, base = 0, stride = 1;
            int bidx[FG_MAX_DIMS];
            for (int d = dims - 1; d >= 0; d--) {
                bidx[d] = (int)(r % (size_t)nb);
                r /= (size_t)nb;
            }
            for (int d = dims - 1; d >= 0; d--) {
                base += (size_t)bidx[d] * (size_t)p * stride;
                stride *= m;
            }
            if (dims == 2) {
                double ox = lo + bidx[0] * hbox, oy = lo + bidx[1] * hbox;
                if (p == 3)
                    interp_box_2d(g, g->ys, bs[b], bs[b + 1], ox, oy, inv_hbox, centre, base,
                                  g->rs, 3);
                else
                    interp_box_2d(g, g->ys, bs[b], bs[b + 1], ox, oy, inv_hbox, centre, base,
                                  g->rs, p);
                continue;
            }
            for (size_t s = bs[b]; s < bs[b + 1]; s++) {
                const double *yi = g->ys + s * dims;
                double w[FG_MAX_DIMS][FG_MAX_NODES], phi[FG_MAX_DIMS + 1] = {0};
                for (int d = 0; d < dims; d++)
                    lagrange(g, (yi[d] - lo) * inv_hbox - bidx[d], w[d]);
                for (int t = 0; t < nodes_box; t++) {
                    double wt = 1.0;
                    for (int d = 0; d < dims; d++)
                        wt *= w[d][digit[t][d]];
                    for (int o = 0; o < nout; o++)
                        phi[o] += wt * g->real[o][base + off[t]];
                }
                /* sum_j K2 (y_i - y_j) = (y_i - c) phi_1 - phi_(y - c); the self
                 * term (K2(0) = 1, zero force) cancels. */
                for (int d = 0; d < dims; d++)
                    g->rs[s * dims + d] = (yi[d] - centre) * phi[0] - phi[d + 1];
            }
        }
    }
    if (split) *z += near_part(g, n, centre);
    /* back to the caller's order */
#pragma omp parallel for schedule(static) num_threads(g->nt) if (n >= 8192)
    for (size_t s = 0; s < n; s++)
        for (int d = 0; d < dims; d++)
            rep[(size_t)g->order[s] * dims + d] = g->rs[s * dims + d];
    return 0;
}
