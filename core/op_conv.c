/* op_conv.c - Conv forward and backward: im2col + cblas_sgemm per row tile
 * of each image and group (darknet's layout), col2im for the input gradient;
 * a forward in parts for several threads, with a fused 2x2 max-pool epilogue.
 * Stride-1 ungrouped convs forward with the direct kernel of conv_direct.c
 * instead where the CPU has AVX2 + FMA (same tiles, no im2col matrix).
 * Kernels never allocate: the caller passes the scratch buffers.
 */
#ifdef INTERP_NO_BLAS /* the WebAssembly build: core/sgemm.c */
#include "sgemm.h"
#else
#include <cblas.h>
#endif
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "conv_direct.h"
#include "conv_wino.h"
#include "graph.h"
#include "util.h"

size_t conv_col_floats(const struct conv_params *p)
{
    return (size_t)(p->c / p->group) * p->kh * p->kw * (size_t)p->oh * p->ow;
}

/* A 1x1 kernel, stride 1, no padding reads the input as the column matrix. */
static int conv_is_pointwise(const struct conv_params *p)
{
    return p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pt == 0 && p->pl == 0 &&
           p->pb == 0 && p->pr == 0;
}

/* ---------------------------------------------------------------- im2col */
/* Output rows [oy0, oy1) of one group of one image: inp cg x H x W ->
 * col (cg*KH*KW) x ld, column (oy - oy0) * OW + ox. The forward works on row
 * tiles so that the column block (and the sgemm that reads it) stays in the
 * L2 cache instead of streaming the whole K x OH*OW matrix through memory. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void im2col_rows(float *col, size_t ld, const float *inp, int cg,
                        const struct conv_params *p, int oy0, int oy1)
{
    for (int c = 0; c < cg; c++) {
        const float *plane = inp + (size_t)c * p->h * p->w;
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                float *row = col + ((size_t)(c * p->kh + i) * p->kw + j) * ld;
                int x0 = -p->pl + j * p->dw;
                /* the contiguous run of output columns whose input lies inside */
                int lo = 0, hi = p->ow;
                if (p->sw == 1) {
                    lo = x0 < 0 ? -x0 : 0;
                    hi = p->w - x0 < p->ow ? p->w - x0 : p->ow;
                    if (lo > p->ow) lo = p->ow;
                    if (hi < lo) hi = lo;
                }
                for (int oy = oy0; oy < oy1; oy++) {
                    int y = oy * p->sh - p->pt + i * p->dh;
                    float *dst = row + (size_t)(oy - oy0) * p->ow;
                    if (y < 0 || y >= p->h) {
                        memset(dst, 0, sizeof(float) * p->ow);
                        continue;
                    }
                    const float *src = plane + (size_t)y * p->w;
                    if (p->sw == 1) { /* zeros, a contiguous run, zeros */
                        for (int ox = 0; ox < lo; ox++)
                            dst[ox] = 0.0f;
                        const float *s = src + x0; /* short runs: a loop beats memcpy calls */
#pragma omp simd
                        for (int ox = lo; ox < hi; ox++)
                            dst[ox] = s[ox];
                        for (int ox = hi; ox < p->ow; ox++)
                            dst[ox] = 0.0f;
                        continue;
                    }
                    for (int ox = 0; ox < p->ow; ox++) {
                        int x = x0 + ox * p->sw;
                        dst[ox] = (x >= 0 && x < p->w) ? src[x] : 0.0f;
                    }
                }
            }
    }
}

/* The adjoint of im2col: dinp (cg x H x W) += scatter of col. */
static void col2im_add(float *dinp, const float *col, int cg, const struct conv_params *p)
{
    size_t ohw = (size_t)p->oh * p->ow;
    for (int c = 0; c < cg; c++) {
        float *plane = dinp + (size_t)c * p->h * p->w;
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                const float *row = col + ((size_t)(c * p->kh + i) * p->kw + j) * ohw;
                for (int oy = 0; oy < p->oh; oy++) {
                    int y = oy * p->sh - p->pt + i * p->dh;
                    if (y < 0 || y >= p->h) continue;
                    float *dst = plane + (size_t)y * p->w;
                    const float *src = row + (size_t)oy * p->ow;
                    int x0 = -p->pl + j * p->dw;
                    for (int ox = 0; ox < p->ow; ox++) {
                        int x = x0 + ox * p->sw;
                        if (x >= 0 && x < p->w) dst[x] += src[ox];
                    }
                }
            }
    }
}

/* ---------------------------------------------------------------- Conv */
/* Output rows per tile: the column block K x (rows*OW) about 96K floats
 * (384 KB, within a Zen core's 512 KB L2 next to the sgemm's packed copy),
 * at least one row, even when a 2x2 max-pool is fused (whole window rows). */
static int tile_rows(const struct conv_params *p, int pool)
{
    size_t K = (size_t)(p->c / p->group) * p->kh * p->kw, per_row = K * (size_t)p->ow;
    size_t rows = per_row ? ((size_t)96 * 1024) / per_row : (size_t)p->oh;
    if (rows < 1) rows = 1;
    if (pool) {
        rows &= ~(size_t)1;
        if (rows < 2) rows = 2;
    }
    if (rows > (size_t)p->oh) rows = (size_t)p->oh;
    return (int)rows;
}

/* The direct kernel for every conv it can run except 1x1 ones, whose input
 * already is the column matrix of one sgemm. */
static int use_direct(const struct conv_params *p, enum conv_isa isa)
{
    return !conv_is_pointwise(p) && conv_direct_usable(p, isa);
}

/* Output rows per tile of the direct kernel: the padded input rows and the
 * output block (C + M floats per padded column) at most about 64K floats
 * (256 KB of a 512 KB L2), at least one row, whole max-pool windows when a
 * pool is fused. Among the sizes from half that bound up to it, the one that
 * wastes the fewest columns rounding the block up to the kernel's width. */
static int direct_tile_rows(const struct conv_params *p, int pool)
{
    size_t row = (size_t)conv_direct_row(p), per_row = (size_t)(p->c + p->m) * row;
    int step = pool ? 2 : 1, hi = (int)(((size_t)64 * 1024) / per_row);
    if (hi > p->oh) hi = p->oh;
    hi -= hi % step;
    if (hi < step) return step < p->oh ? step : p->oh;
    int best = hi;
    double best_waste = 1.0;
    for (int r = hi; r >= step && 2 * r >= hi; r -= step) {
        double used = (double)r * (double)row;
        double waste = ((double)conv_direct_ld(p, r) - used) / used;
        if (waste < best_waste - 1e-9) best = r, best_waste = waste;
    }
    return best;
}

/* Scratch of the direct kernel for `rows` output rows: the padded input,
 * then the M x ld output block (8-float aligned). */
static size_t direct_scratch_floats(const struct conv_params *p, int rows)
{
    size_t pad = (conv_direct_pad_floats(p, rows) + 7) & ~(size_t)7;
    return pad + (size_t)p->m * conv_direct_ld(p, rows) + 8;
}

/* Conv rows [oy0, oy1) of image b of inp (or of what src computes) by the
 * direct kernel into the block in scratch (returned; channel stride *ld, row
 * stride conv_direct_row). */
static float *direct_block(const float *inp, const struct conv_src *src, const float *weight,
                           const float *bias, const struct conv_params *p, int b, int oy0,
                           int oy1, float *scratch, size_t *ld)
{
    size_t pad = (conv_direct_pad_floats(p, oy1 - oy0) + 7) & ~(size_t)7;
    float *blk = scratch + pad;
    *ld = conv_direct_ld(p, oy1 - oy0);
    if (src)
        conv_direct_rows_src(blk, *ld, src, b, weight, bias, p, oy0, oy1, scratch);
    else
        conv_direct_rows(blk, *ld, inp + (size_t)b * p->c * p->h * p->w, weight, bias, p, oy0,
                         oy1, scratch);
    return blk;
}

/* The block's valid columns to out (M channel planes of ohw, starting at the
 * tile's first row), ReLU'd when relu (NaN -> 0 as in relu_rows). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void block_store(float *out, size_t ohw, const float *blk, size_t ld, int row, int m,
                        int rows, int ow, int relu)
{
    for (int c = 0; c < m; c++)
        for (int r = 0; r < rows; r++) {
            const float *s = blk + (size_t)c * ld + (size_t)r * row;
            float *d = out + (size_t)c * ohw + (size_t)r * ow;
            if (relu) {
#pragma omp simd
                for (int x = 0; x < ow; x++)
                    d[x] = s[x] > 0.0f ? s[x] : 0.0f;
            } else
                memcpy(d, s, sizeof(float) * (size_t)ow);
        }
}

/* mg channel rows of len values (stride ld) set to their bias (0 without) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void bias_fill(float *o, size_t ld, int mg, size_t len, const float *bias)
{
    for (int m = 0; m < mg; m++, o += ld) {
        float v = bias ? bias[m] : 0.0f;
#pragma omp simd
        for (size_t k = 0; k < len; k++)
            o[k] = v;
    }
}

/* ReLU in place; NaN becomes 0 like the unfused Relu op's comparison */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void relu_rows(float *o, size_t ld, int mg, size_t len)
{
    for (int m = 0; m < mg; m++, o += ld)
#pragma omp simd
        for (size_t k = 0; k < len; k++)
            o[k] = o[k] > 0.0f ? o[k] : 0.0f;
}

/* One tile: output rows [oy0, oy1) of image b, group g, written straight into
 * out (sgemm with ldc = OH*OW), bias and ReLU while the block is in cache. */
static void conv_tile(float *out, const float *inp, const float *weight, const float *bias,
                      const struct conv_params *p, int b, int g, int oy0, int oy1, float *col,
                      int direct)
{
    int cg = p->c / p->group, mg = p->m / p->group;
    int K = cg * p->kh * p->kw, ohw = p->oh * p->ow, cols = (oy1 - oy0) * p->ow;
    const float *in_g = inp + (size_t)b * p->c * p->h * p->w + (size_t)g * cg * p->h * p->w;
    float *out_g = out + ((size_t)b * p->m + (size_t)g * mg) * ohw + (size_t)oy0 * p->ow;
    const float *w_g = weight + (size_t)g * mg * K;
    if (direct) { /* group 1: conv_direct_usable */
        size_t ld;
        const float *blk = direct_block(inp, NULL, weight, bias, p, b, oy0, oy1, col, &ld);
        block_store(out_g, (size_t)ohw, blk, ld, conv_direct_row(p), p->m, oy1 - oy0, p->ow,
                    p->relu);
        return;
    }
    /* C starts as the bias and sgemm adds with beta = 1: OpenBLAS then skips
     * its own pass that scales (zeroes) C, and the epilogue has no add left */
    bias_fill(out_g, (size_t)ohw, mg, (size_t)cols, bias ? bias + g * mg : NULL);
    if (conv_is_pointwise(p)) { /* the input rows are the column block */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mg, cols, K, 1.0f, w_g, K,
                    in_g + (size_t)oy0 * p->ow, ohw, 1.0f, out_g, ohw);
    } else {
        im2col_rows(col, (size_t)cols, in_g, cg, p, oy0, oy1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mg, cols, K, 1.0f, w_g, K, col,
                    cols, 1.0f, out_g, ohw);
    }
    if (p->relu) relu_rows(out_g, (size_t)ohw, mg, (size_t)cols);
}

/* out[n, g*mg + m, :] = W_g (mg x K) * col_g (K x OH*OW) + bias, K = cg*KH*KW,
 * computed in row tiles; p->relu clamps at 0 in the same pass (ReLU'(0)
 * semantics are irrelevant: fused steps exist only in forward-only runs). */
void conv_forward(float *out, const float *inp, const float *weight, const float *bias,
                  const struct conv_params *p, int n, float *col)
{
    int rows = conv_is_pointwise(p) ? p->oh : tile_rows(p, 0), direct = 0;
    if (use_direct(p, conv_isa_default())) { /* the col buffer is the direct kernel's scratch */
        size_t have = conv_col_floats(p);
        rows = direct_tile_rows(p, 0);
        while (rows > 1 && direct_scratch_floats(p, rows) > have)
            rows--;
        direct = direct_scratch_floats(p, rows) <= have; /* else im2col after all */
        if (!direct) rows = tile_rows(p, 0);
    }
    for (int b = 0; b < n; b++)
        for (int g = 0; g < p->group; g++)
            for (int oy = 0; oy < p->oh; oy += rows)
                conv_tile(out, inp, weight, bias, p, b, g, oy,
                          oy + rows < p->oh ? oy + rows : p->oh, col, direct);
}

/* ---------------------------------------------------------------- plans, threaded */
int conv_pool_fusable(const struct conv_params *p, const struct pool_params *q)
{
    return p->group == 1 && p->relu && q->kh == 2 && q->kw == 2 && q->sh == 2 && q->sw == 2 &&
           !q->pt && !q->pl && !q->pb && !q->pr && q->c == p->m && q->h == p->oh &&
           q->w == p->ow && 2 * q->oh <= q->h && 2 * q->ow <= q->w && q->oh >= 1 && q->ow >= 1;
}

/* Winograd pays once there are enough channels to share the transforms
 * (measured: 1.3-1.8x the direct kernel from 16 in and out; below that the
 * transforms and the tile rows rounded to 16 lanes cost more than they save). */
enum { WINO_MIN_CHANNELS = 16 };

/* INTERP_CONV_WINOGRAD=0 (read once) keeps every conv on the direct kernel
 * or im2col: the arithmetic of the releases before Winograd, for comparing
 * outputs with theirs bit for bit. */
static int wino_allowed(void)
{
    static atomic_int allowed = -1;
    int v = atomic_load(&allowed);
    if (v < 0) {
        const char *e = getenv("INTERP_CONV_WINOGRAD");
        v = !(e && !strcmp(e, "0"));
        atomic_store(&allowed, v);
    }
    return v;
}

void conv_plan_init(struct conv_plan *pl, const struct conv_params *p,
                    const struct pool_params *q, enum conv_isa isa)
{
    memset(pl, 0, sizeof *pl);
    pl->p = *p;
    if (q) pl->pool = 1, pl->q = *q;
    pl->isa = isa;
    if (conv_wino_usable(p, isa) && p->c >= WINO_MIN_CHANNELS && p->m >= WINO_MIN_CHANNELS &&
        wino_allowed()) {
        pl->path = CONV_PATH_WINOGRAD;
        conv_wino_geom(&pl->wg, p, q, isa, 0);
    } else if (use_direct(p, isa))
        pl->path = CONV_PATH_DIRECT;
    else
        pl->path = CONV_PATH_IM2COL;
}

size_t conv_plan_weight_floats(const struct conv_plan *pl)
{
    return pl->path == CONV_PATH_WINOGRAD ? conv_wino_weight_floats(&pl->p, pl->isa) : 0;
}

void conv_plan_weights(const struct conv_plan *pl, const float *weight, float *u)
{
    if (pl->path == CONV_PATH_WINOGRAD) conv_wino_weights(&pl->p, pl->isa, weight, u);
}

size_t conv_plan_scratch_floats(const struct conv_plan *pl)
{
    const struct conv_params *p = &pl->p;
    if (pl->path == CONV_PATH_WINOGRAD) return conv_wino_scratch_floats(&pl->wg);
    if (pl->path == CONV_PATH_DIRECT)
        return direct_scratch_floats(p, direct_tile_rows(p, pl->pool));
    int cg = p->c / p->group;
    size_t cols = (size_t)tile_rows(p, pl->pool) * p->ow;
    size_t col = (size_t)cg * p->kh * p->kw * cols;
    return col + (pl->pool ? (size_t)p->m * cols : 0) + 16;
}

/* ReLU and 2x2 max-pool of a tile blk (m channels x cols, conv rows
 * [oy0, oy1) of width ow, bias already in) into the pooled image out_b
 * (m x q->oh x q->ow). The max starts at 0, so it is max(0, window) = the
 * max of the ReLU'd window, and a NaN never wins a comparison: the same
 * value as Relu then MaxPool (which sees NaN as 0 after the Relu). One pass
 * over the tile; at level AVX2 conv_direct_pool does the same with shuffles
 * (a loop over 2x-strided columns vectorises poorly). */
static void pool_epilogue(float *out_b, int32_t *am_b, const float *blk, int m, size_t cols,
                          int ow, int oy0, int oy1, const struct pool_params *q,
                          enum conv_isa isa)
{
    if (am_b) { /* and each window's argmax */
        if (conv_direct_pool_argmax(out_b, am_b, blk, m, cols, ow, oy0, oy1, q, isa)) return;
        size_t out_plane = (size_t)q->oh * q->ow;
        for (int c = 0; c < m; c++)
            for (int y = oy0; y + 1 < oy1 && y / 2 < q->oh; y += 2) {
                const float *r0 = blk + (size_t)c * cols + (size_t)(y - oy0) * ow,
                            *r1 = r0 + ow;
                size_t at = (size_t)c * out_plane + (size_t)(y / 2) * q->ow;
                for (int x = 0; x < q->ow; x++) {
                    int k;
                    out_b[at + x] = conv_relu_argmax2x2(r0, r1, x, &k);
                    am_b[at + x] = (y + (k >> 1)) * q->w + 2 * x + (k & 1);
                }
            }
        return;
    }
    if (conv_direct_pool(out_b, blk, m, cols, ow, oy0, oy1, q, isa)) return; /* shuffles */
    size_t out_plane = (size_t)q->oh * q->ow;
    int pw = q->ow;
    for (int c = 0; c < m; c++) {
        const float *src = blk + (size_t)c * cols;
        float *dst = out_b + (size_t)c * out_plane;
        for (int y = oy0; y + 1 < oy1 && y / 2 < q->oh; y += 2) {
            const float *r0 = src + (size_t)(y - oy0) * ow, *r1 = r0 + ow;
            float *d = dst + (size_t)(y / 2) * pw;
#pragma omp simd
            for (int x = 0; x < pw; x++) {
                d[x] = conv_relu_max2x2(r0, r1, x);
            }
        }
    }
}

/* One tile of conv -> bias -> ReLU -> 2x2 max-pool: the conv rows [oy0, oy1)
 * (oy0 even) go to a scratch block and only the pooled rows reach out
 * (n x M x OH/2 x OW/2). ReLU before the max: max(relu(.)) = relu(max(.))
 * and no NaN is left for the pool to propagate, as in the unfused ops. */
static void conv_pool_tile(float *out, int32_t *am, const float *inp, const float *weight,
                           const float *bias, const struct conv_plan *pl, int b, int oy0,
                           int oy1, float *scratch)
{
    const struct conv_params *p = &pl->p;
    const struct pool_params *q = &pl->q;
    float *out_b = out + (size_t)b * p->m * q->oh * q->ow;
    int32_t *am_b = am ? am + (size_t)b * p->m * q->oh * q->ow : NULL;
    if (pl->path == CONV_PATH_DIRECT) {
        size_t ld;
        const float *blk = direct_block(inp, NULL, weight, bias, p, b, oy0, oy1, scratch, &ld);
        pool_epilogue(out_b, am_b, blk, p->m, ld, conv_direct_row(p), oy0, oy1, q, pl->isa);
        return;
    }
    int K = p->c * p->kh * p->kw, cols = (oy1 - oy0) * p->ow;
    float *col = scratch, *blk = scratch + (size_t)K * cols;
    const float *in_b = inp + (size_t)b * p->c * p->h * p->w;
    bias_fill(blk, (size_t)cols, p->m, (size_t)cols, bias);
    if (conv_is_pointwise(p))
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->m, cols, K, 1.0f, weight, K,
                    in_b + (size_t)oy0 * p->ow, p->oh * p->ow, 1.0f, blk, cols);
    else {
        im2col_rows(col, (size_t)cols, in_b, p->c, p, oy0, oy1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->m, cols, K, 1.0f, weight, K,
                    col, cols, 1.0f, blk, cols);
    }
    pool_epilogue(out_b, am_b, blk, p->m, (size_t)cols, p->ow, oy0, oy1, q, pl->isa);
}

/* Tile size and unit count (units are image x group x row tile; Winograd's
 * rows are rows of 2x2 tiles); few images get smaller tiles so that every
 * thread has work. */
static void plan_split(const struct conv_plan *pl, int n, int nthreads, int *rows_out,
                       int *tiles_out, int *groups_out)
{
    const struct conv_params *p = &pl->p;
    int rows, total, step, groups = pl->pool ? 1 : p->group;
    if (pl->path == CONV_PATH_WINOGRAD) {
        rows = pl->wg.rows, total = pl->wg.nty, step = 1, groups = 1;
    } else {
        rows = pl->path == CONV_PATH_DIRECT        ? direct_tile_rows(p, pl->pool)
               : conv_is_pointwise(p) && !pl->pool ? p->oh
                                                   : tile_rows(p, pl->pool);
        total = pl->pool ? 2 * pl->q.oh : p->oh; /* conv rows anyone reads */
        step = pl->pool ? 2 : 1;
    }
    if (nthreads > 1 && n * groups < 4 * nthreads) {
        int want = (total + 4 * nthreads - 1) / (4 * nthreads);
        want += (step - want % step) % step;
        if (want < rows) rows = want > 0 ? want : 1;
    }
    *rows_out = rows;
    *tiles_out = (total + rows - 1) / rows;
    *groups_out = groups;
}

int conv_plan_units(const struct conv_plan *pl, int n, int nthreads)
{
    int rows, tiles, groups;
    plan_split(pl, n, nthreads, &rows, &tiles, &groups);
    return n * groups * tiles;
}

static void plan_run(float *out, int32_t *am, const float *inp, const struct conv_src *src,
                     const struct conv_plan *pl, const float *weight, const float *bias,
                     const float *u, int n, int nthreads, float *scratch, atomic_int *next)
{
    const struct conv_params *p = &pl->p;
    int rows, tiles, groups;
    plan_split(pl, n, nthreads, &rows, &tiles, &groups);
    int units = n * groups * tiles;
    int total = pl->path == CONV_PATH_WINOGRAD ? pl->wg.nty : pl->pool ? 2 * pl->q.oh : p->oh;
    size_t in_item = (size_t)p->c * p->h * p->w;
    size_t out_item =
        pl->pool ? (size_t)p->m * pl->q.oh * pl->q.ow : (size_t)p->m * p->oh * p->ow;
    for (;;) {
        int k =
            atomic_fetch_add(next, 1); /* dynamic: a descheduled thread delays only its tile */
        if (k >= units) break;
        int b = k / (groups * tiles), g = k / tiles % groups, t = k % tiles;
        int y0 = t * rows, y1 = y0 + rows < total ? y0 + rows : total;
        if (pl->path == CONV_PATH_WINOGRAD) {
            conv_wino_band_ex(out + (size_t)b * out_item, am ? am + (size_t)b * out_item : NULL,
                              src ? NULL : inp + (size_t)b * in_item, src, b, u, bias, &pl->wg,
                              y0, y1, scratch);
        } else if (src) { /* direct, no pool (conv_plan_takes_src) */
            size_t ld;
            const float *blk =
                direct_block(NULL, src, weight, bias, p, b, y0, y1, scratch, &ld);
            block_store(out + (size_t)b * out_item + (size_t)y0 * p->ow, (size_t)p->oh * p->ow,
                        blk, ld, conv_direct_row(p), p->m, y1 - y0, p->ow, p->relu);
        } else if (pl->pool)
            conv_pool_tile(out, am, inp, weight, bias, pl, b, y0, y1, scratch);
        else
            conv_tile(out, inp, weight, bias, p, b, g, y0, y1, scratch,
                      pl->path == CONV_PATH_DIRECT);
    }
}

void conv_plan_forward(float *out, const float *inp, const struct conv_plan *pl,
                       const float *weight, const float *bias, const float *u, int n,
                       int nthreads, float *scratch, atomic_int *next)
{
    plan_run(out, NULL, inp, NULL, pl, weight, bias, u, n, nthreads, scratch, next);
}

void conv_plan_forward_argmax(float *out, int32_t *am, const float *inp,
                              const struct conv_plan *pl, const float *weight,
                              const float *bias, const float *u, int n, int nthreads,
                              float *scratch, atomic_int *next)
{
    BUG_ON(!pl->pool);
    plan_run(out, am, inp, NULL, pl, weight, bias, u, n, nthreads, scratch, next);
}

int conv_plan_takes_src(const struct conv_plan *pl)
{
    return !pl->pool && pl->p.w <= CONV_SRC_MAX_W &&
           (pl->path == CONV_PATH_WINOGRAD || pl->path == CONV_PATH_DIRECT);
}

void conv_plan_forward_src(float *out, const struct conv_src *src, const struct conv_plan *pl,
                           const float *weight, const float *bias, const float *u, int n,
                           int nthreads, float *scratch, atomic_int *next)
{
    BUG_ON(!conv_plan_takes_src(pl));
    plan_run(out, NULL, NULL, src, pl, weight, bias, u, n, nthreads, scratch, next);
}

/* ---------------------------------------------------------------- backward as a forward conv */
int conv_backward_params(const struct conv_params *p, struct conv_params *bp)
{
    if (p->group != 1 || p->sh != 1 || p->sw != 1 || p->dh != 1 || p->dw != 1 ||
        p->pt > p->kh - 1 || p->pb > p->kh - 1 || p->pl > p->kw - 1 || p->pr > p->kw - 1)
        return 0;
    *bp = *p;
    bp->c = p->m, bp->m = p->c;
    bp->h = p->oh, bp->w = p->ow, bp->oh = p->h, bp->ow = p->w;
    bp->pt = p->kh - 1 - p->pt, bp->pb = p->kh - 1 - p->pb;
    bp->pl = p->kw - 1 - p->pl, bp->pr = p->kw - 1 - p->pr;
    bp->relu = 0;
    return bp->oh + bp->kh - 1 == bp->h + bp->pt + bp->pb &&
           bp->ow + bp->kw - 1 == bp->w + bp->pl + bp->pr;
}

void conv_backward_weights(const struct conv_params *p, const float *weight, float *wf)
{
    int C = p->c, M = p->m, kh = p->kh, kw = p->kw;
    for (int m = 0; m < M; m++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < kh; y++)
                for (int x = 0; x < kw; x++)
                    wf[(((size_t)c * M + m) * kh + (kh - 1 - y)) * kw + (kw - 1 - x)] =
                        weight[(((size_t)m * C + c) * kh + y) * kw + x];
}

/* dout:   n x M x OH x OW
 * weight: M x C/group x KH x KW
 * dinp:   n x C x H x W, accumulated: dcol_g = W_g^T (K x mg) * dout_g, col2im. */
void conv_backward(float *dinp, const float *dout, const float *weight,
                   const struct conv_params *p, int n, float *col)
{
    if (!dinp) return;
    int cg = p->c / p->group, mg = p->m / p->group;
    int K = cg * p->kh * p->kw;
    int ohw = p->oh * p->ow;
    size_t in_item = (size_t)p->c * p->h * p->w, out_item = (size_t)p->m * ohw;
    int pointwise = conv_is_pointwise(p);
    for (int b = 0; b < n; b++)
        for (int g = 0; g < p->group; g++) {
            float *din_g = dinp + b * in_item + (size_t)g * cg * p->h * p->w;
            const float *dout_g = dout + b * out_item + (size_t)g * mg * ohw;
            const float *w_g = weight + (size_t)g * mg * K;
            if (pointwise) { /* the column matrix is the input itself: accumulate in place */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, ohw, mg, 1.0f, w_g, K,
                            dout_g, ohw, 1.0f, din_g, ohw);
                continue;
            }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, ohw, mg, 1.0f, w_g, K,
                        dout_g, ohw, 0.0f, col, ohw);
            col2im_add(din_g, col, cg, p);
        }
}
