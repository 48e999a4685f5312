/* fft_grid.c - FIt-SNE's interpolation-based repulsion: spread charges onto
 * Lagrange nodes of an equispaced box grid, convolve with the kernel by FFT
 * (FFTW single precision), interpolate the potentials back (fft_grid.h).
 */
#include "fft_grid.h"

#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/util.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define FG_MAX_DIMS  3
#define FG_MAX_NODES 8
#define FG_NREAL     (FG_MAX_DIMS + 3) /* kernels K2, K1; charges 1, y_1..y_dims */

static int fg_threads(int t)
{
#ifdef _OPENMP
    return t > 0 ? t : omp_get_max_threads();
#else
    (void)t;
    return 1;
#endif
}

struct fft_grid_params fft_grid_params_default(int dims)
{
    struct fft_grid_params p = {
        .nodes = 3,
        .min_boxes = dims == 3 ? 12 : 50,
        .max_boxes = dims == 3 ? 24 : (dims == 1 ? 20000 : 200),
        .box_width = 1.0,
        .dof = 1.0,
        .threads = 0,
    };
    return p;
}

/* ---- FFTW plans: one pair per (dims, size), made once under a lock ------------- */

struct plan_entry {
    int dims, m;
    fftwf_plan fwd, inv;
};

static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;
static struct plan_entry *plans;
static size_t nplans, plans_cap;

/* The r2c and c2r plans for an m^dims grid; real/cplx are arrays of that size
 * (from fftwf_malloc, so every buffer later executed with them shares their
 * alignment). FFTW_ESTIMATE does not touch the arrays and picks the same
 * algorithm every time: runs stay bit-identical. */
static int plan_get(int dims, int m, float *real, fftwf_complex *cplx, fftwf_plan *fwd,
                    fftwf_plan *inv)
{
    int rc = 0;
    pthread_mutex_lock(&plan_lock);
    for (size_t t = 0; t < nplans; t++)
        if (plans[t].dims == dims && plans[t].m == m) {
            *fwd = plans[t].fwd;
            *inv = plans[t].inv;
            goto out;
        }
    int nn[FG_MAX_DIMS] = {m, m, m};
    fftwf_plan f = fftwf_plan_dft_r2c(dims, nn, real, cplx, FFTW_ESTIMATE);
    fftwf_plan b = fftwf_plan_dft_c2r(dims, nn, cplx, real, FFTW_ESTIMATE);
    if (!f || !b) {
        if (f) fftwf_destroy_plan(f);
        if (b) fftwf_destroy_plan(b);
        rc = error_set(ERR_FAIL, NULL, "FFTW could not plan a %d-D transform of size %d", dims,
                       m);
        goto out;
    }
    if (nplans == plans_cap) {
        plans_cap = plans_cap ? 2 * plans_cap : 16;
        plans = xrealloc(plans, plans_cap * sizeof *plans);
    }
    plans[nplans++] = (struct plan_entry){dims, m, f, b};
    *fwd = f;
    *inv = b;
out:
    pthread_mutex_unlock(&plan_lock);
    return rc;
}

/* ---- the grid ------------------------------------------------------------------ */

struct fft_grid {
    int dims, p, nt;
    struct fft_grid_params par;
    double node_t[FG_MAX_NODES], node_den[FG_MAX_NODES]; /* Lagrange nodes in [0,1] */
    int nb, m;                                           /* last boxes/dim, FFT size */
    size_t cap_real, cap_cplx;                           /* elements per buffer */
    float *real[FG_NREAL];         /* kernels and charges, then potentials */
    fftwf_complex *cplx[FG_NREAL]; /* their transforms */
    fftwf_complex *prod[FG_NREAL]; /* products, destroyed by c2r */
    size_t ncap;
    uint32_t *box, *order; /* per point box, points by box */
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
    if (p.nodes < 2 || p.nodes > FG_MAX_NODES || p.min_boxes < 1 || p.max_boxes < p.min_boxes ||
        !(p.box_width > 0.0) || !(p.dof > 0.0) || !isfinite(p.dof)) {
        error_set(ERR_INPUT, NULL,
                  "FFT grid: nodes %d (2 to %d), boxes %d to %d, box width %g, dof %g", p.nodes,
                  FG_MAX_NODES, p.min_boxes, p.max_boxes, p.box_width, p.dof);
        return NULL;
    }
    struct fft_grid *g = xcalloc(1, sizeof *g);
    g->dims = dims;
    g->p = p.nodes;
    g->par = p;
    g->nt = fg_threads(p.threads);
    for (int k = 0; k < g->p; k++)
        g->node_t[k] = (k + 0.5) / g->p;
    for (int k = 0; k < g->p; k++) {
        double den = 1.0;
        for (int j = 0; j < g->p; j++)
            if (j != k) den *= g->node_t[k] - g->node_t[j];
        g->node_den[k] = den;
    }
    return g;
}

static void free_bufs(struct fft_grid *g)
{
    for (int t = 0; t < FG_NREAL; t++) {
        fftwf_free(g->real[t]);
        fftwf_free(g->cplx[t]);
        fftwf_free(g->prod[t]);
        g->real[t] = NULL;
        g->cplx[t] = NULL;
        g->prod[t] = NULL;
    }
    g->cap_real = g->cap_cplx = 0;
}

void fft_grid_free(struct fft_grid *g)
{
    if (!g) return;
    free_bufs(g);
    free(g->box);
    free(g->order);
    free(g->bstart);
    free(g);
}

int fft_grid_boxes(const struct fft_grid *g)
{
    return g ? g->nb : 0;
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
    for (int k = 0; k < p; k++) {
        double num = 1.0;
        for (int j = 0; j < p; j++)
            if (j != k) num *= t - g->node_t[j];
        w[k] = num / g->node_den[k];
    }
}

static int ensure_bufs(struct fft_grid *g, size_t nreal, size_t ncplx)
{
    if (nreal <= g->cap_real && ncplx <= g->cap_cplx) return 0;
    free_bufs(g);
    size_t br, bc;
    if (!mul_ok(nreal, sizeof(float), &br) || !mul_ok(ncplx, sizeof(fftwf_complex), &bc))
        return error_set(ERR_FAIL, NULL, "FFT grid too large");
    int nbuf = g->dims + 3;
    for (int t = 0; t < nbuf; t++) {
        g->real[t] = fftwf_malloc(br);
        g->cplx[t] = fftwf_malloc(bc);
        g->prod[t] = fftwf_malloc(bc);
        if (!g->real[t] || !g->cplx[t] || !g->prod[t]) {
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
        free(g->box);
        free(g->order);
        g->box = big_alloc(n * sizeof *g->box, NULL, "FFT grid workspace");
        g->order = g->box ? big_alloc(n * sizeof *g->order, NULL, "FFT grid workspace") : NULL;
        if (!g->order) {
            free(g->box);
            g->box = NULL;
            g->ncap = 0;
            return ERR_FAIL;
        }
        g->ncap = n;
    }
    if (nboxes + 1 > g->bcap) {
        free(g->bstart);
        g->bstart = big_alloc((nboxes + 1) * sizeof *g->bstart, NULL, "FFT grid workspace");
        if (!g->bstart) {
            g->bcap = 0;
            return ERR_FAIL;
        }
        g->bcap = nboxes + 1;
    }
    return 0;
}

/* Kernel K2 (which = 0) or K1 (which = 1) on the circulant m^dims grid:
 * entry (t_1..t_dims) holds K at node offset (t or t - m) * hn, the middle
 * entry t = m/2 (never needed) 0. */
static void fill_kernel(const struct fft_grid *g, int which, double hn, float *out)
{
    int dims = g->dims, m = g->m, half = m / 2;
    double a = g->par.dof, ia = 1.0 / a;
    size_t total = 1;
    for (int d = 0; d < dims; d++)
        total *= (size_t)m;
#pragma omp parallel for schedule(static) num_threads(g->nt) if (total >= 65536)
    for (size_t f = 0; f < total; f++) {
        size_t r = f;
        double d2 = 0.0;
        int mid = 0;
        for (int d = 0; d < dims; d++) {
            int t = (int)(r % (size_t)m);
            r /= (size_t)m;
            if (t == half) mid = 1;
            double o = (t < half ? t : t - m) * hn;
            d2 += o * o;
        }
        double base = 1.0 + d2 * ia, k;
        if (a == 1.0)
            k = which == 0 ? 1.0 / (base * base) : 1.0 / base;
        else
            k = which == 0 ? pow(base, -(a + 1.0)) : pow(base, -a);
        out[f] = mid ? 0.0f : (float)k;
    }
}

int fft_grid_repulsion(struct fft_grid *g, const double *y, size_t n, double *rep, double *z)
{
    int dims = g->dims, p = g->p;
    *z = 0.0;
    if (n == 0) return 0;

    /* The bounding cube of the points (serial: repeatable). */
    double lo = INFINITY, hi = -INFINITY;
    for (size_t t = 0; t < n * (size_t)dims; t++) {
        if (y[t] < lo) lo = y[t];
        if (y[t] > hi) hi = y[t];
    }
    double span = hi - lo;
    if (!(span > 1e-12)) span = 1e-12;
    /* Boxes: at least min_boxes, at most box_width wide (FIt-SNE), capped. */
    double want = ceil(span / g->par.box_width);
    int nb = want > g->par.max_boxes ? g->par.max_boxes : (int)want;
    if (nb < g->par.min_boxes) nb = g->par.min_boxes;
    nb = nice_size(nb);
    int nn = nb * p; /* nodes per dimension */
    g->nb = nb;
    g->m = 2 * nn;
    double hbox = span / nb, hn = hbox / p, centre = lo + 0.5 * span;

    size_t m = (size_t)g->m, nreal = 1, ncplx = m / 2 + 1, nboxes = 1;
    for (int d = 0; d < dims; d++) {
        nreal *= m;
        nboxes *= (size_t)nb;
        if (d > 0) ncplx *= m;
    }
    if (ensure_bufs(g, nreal, ncplx) < 0 || ensure_points(g, n, nboxes) < 0) return ERR_FAIL;
    fftwf_plan fwd, inv;
    if (plan_get(dims, g->m, g->real[0], g->cplx[0], &fwd, &inv) < 0) return ERR_FAIL;

    /* Box of each point (last dimension fastest), then a counting sort so
     * that each box's points are listed in index order. */
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

    /* Node offsets of one box's p^dims nodes in the m^dims real array, and
     * the digit table that picks each node's per-dimension weight. */
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
     * in y_i phi_1 - phi_y small). Real buffers 2.. hold them; 0 and 1 the
     * kernels K2 and K1. */
    int nq = dims + 1;
    for (int c = 0; c < nq; c++)
        memset(g->real[2 + c], 0, nreal * sizeof(float));
#pragma omp parallel for schedule(dynamic, 16) num_threads(g->nt)
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
        for (size_t s = bs[b]; s < bs[b + 1]; s++) {
            size_t i = g->order[s];
            double w[FG_MAX_DIMS][FG_MAX_NODES], qv[FG_MAX_DIMS + 1];
            qv[0] = 1.0;
            for (int d = 0; d < dims; d++) {
                lagrange(g, (y[i * dims + d] - lo) * inv_hbox - bidx[d], w[d]);
                qv[d + 1] = y[i * dims + d] - centre;
            }
            for (int t = 0; t < nodes_box; t++) {
                double wt = 1.0;
                for (int d = 0; d < dims; d++)
                    wt *= w[d][digit[t][d]];
                for (int c = 0; c < nq; c++)
                    g->real[2 + c][base + off[t]] += (float)(wt * qv[c]);
            }
        }
    }

    /* Kernels on the circulant grid, then all forward transforms. */
    fill_kernel(g, 0, hn, g->real[0]);
    fill_kernel(g, 1, hn, g->real[1]);
    int nfwd = nq + 2;
#pragma omp parallel for schedule(static, 1) num_threads(g->nt)
    for (int t = 0; t < nfwd; t++)
        fftwf_execute_dft_r2c(fwd, g->real[t], g->cplx[t]);

    /* Products: outputs 0..dims are K2 * q_c, output dims+1 is K1 * q0; the
     * 1 / m^dims of the unnormalised inverse is folded in here. */
    int nout = dims + 2;
    float scale = (float)(1.0 / (double)nreal);
#pragma omp parallel for schedule(static) num_threads(g->nt)
    for (size_t f = 0; f < ncplx; f++) {
        float k2r = g->cplx[0][f][0] * scale, k2i = g->cplx[0][f][1] * scale;
        float k1r = g->cplx[1][f][0] * scale, k1i = g->cplx[1][f][1] * scale;
        for (int o = 0; o < nout; o++) {
            const fftwf_complex *q = o <= dims ? &g->cplx[2 + o][f] : &g->cplx[2][f];
            float kr = o <= dims ? k2r : k1r, ki = o <= dims ? k2i : k1i;
            g->prod[o][f][0] = kr * (*q)[0] - ki * (*q)[1];
            g->prod[o][f][1] = kr * (*q)[1] + ki * (*q)[0];
        }
    }
    /* Potentials back into the real buffers (c2r destroys prod, as allowed). */
#pragma omp parallel for schedule(static, 1) num_threads(g->nt)
    for (int o = 0; o < nout; o++)
        fftwf_execute_dft_c2r(inv, g->prod[o], g->real[o]);

    /* Interpolate back and form the per-point sums. Z is summed per fixed
     * chunk of points, then the chunks serially: the same for any thread count. */
    double ztot = 0.0;
    size_t chunk = 4096, nchunks = (n + chunk - 1) / chunk;
    double *zc = xmalloc(nchunks * sizeof *zc);
#pragma omp parallel for schedule(static) num_threads(g->nt)
    for (size_t c = 0; c < nchunks; c++) {
        double zs = 0.0;
        size_t end = (c + 1) * chunk < n ? (c + 1) * chunk : n;
        for (size_t i = c * chunk; i < end; i++) {
            size_t r = g->box[i], base = 0, stride = 1;
            int bidx[FG_MAX_DIMS];
            for (int d = dims - 1; d >= 0; d--) {
                bidx[d] = (int)(r % (size_t)nb);
                r /= (size_t)nb;
            }
            for (int d = dims - 1; d >= 0; d--) {
                base += (size_t)bidx[d] * (size_t)p * stride;
                stride *= m;
            }
            double w[FG_MAX_DIMS][FG_MAX_NODES], phi[FG_MAX_DIMS + 2] = {0};
            for (int d = 0; d < dims; d++)
                lagrange(g, (y[i * dims + d] - lo) * inv_hbox - bidx[d], w[d]);
            for (int t = 0; t < nodes_box; t++) {
                double wt = 1.0;
                for (int d = 0; d < dims; d++)
                    wt *= w[d][digit[t][d]];
                for (int o = 0; o < nout; o++)
                    phi[o] += wt * g->real[o][base + off[t]];
            }
            /* sum_j K2 (y_i - y_j) = (y_i - c) phi_1 - phi_(y - c); the self
             * term (K2(0) = 1, zero force) cancels. Z: minus the self K1(0) = 1. */
            for (int d = 0; d < dims; d++)
                rep[i * dims + d] = (y[i * dims + d] - centre) * phi[0] - phi[d + 1];
            zs += phi[dims + 1] - 1.0;
        }
        zc[c] = zs;
    }
    for (size_t c = 0; c < nchunks; c++)
        ztot += zc[c];
    free(zc);
    *z = ztot;
    return 0;
}
