/* test_conv.c - every conv forward path (Winograd F(2x2,3x3), the direct
 * kernel, im2col + sgemm, pointwise; plain, threaded in units, fused with
 * ReLU and a 2x2 max-pool) on every instruction-set level the CPU has
 * (portable, AVX2, AVX-512), against a naive double-precision reference,
 * over random shapes: kernel sizes 1-5, dilations, asymmetric pads, strides,
 * groups, batch 1-3.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../core/conv_direct.h"
#include "../core/conv_wino.h"
#include "../core/graph.h"
#include "../core/rng.h"

static void conv_ref(float *out, const float *inp, const float *w, const float *bias,
                     const struct conv_params *p, int n)
{
    int cg = p->c / p->group, mg = p->m / p->group;
    for (int b = 0; b < n; b++)
        for (int o = 0; o < p->m; o++) {
            int g = o / mg;
            for (int y = 0; y < p->oh; y++)
                for (int x = 0; x < p->ow; x++) {
                    double s = bias ? bias[o] : 0.0;
                    for (int ci = 0; ci < cg; ci++)
                        for (int ky = 0; ky < p->kh; ky++)
                            for (int kx = 0; kx < p->kw; kx++) {
                                int iy = y * p->sh - p->pt + ky * p->dh;
                                int ix = x * p->sw - p->pl + kx * p->dw;
                                if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w) continue;
                                s += (double)w[((size_t)o * cg + ci) * p->kh * p->kw +
                                               (size_t)ky * p->kw + kx] *
                                     inp[(((size_t)b * p->c + g * cg + ci) * p->h + iy) * p->w +
                                         ix];
                            }
                    if (p->relu && !(s > 0)) s = 0;
                    out[(((size_t)b * p->m + o) * p->oh + y) * p->ow + x] = (float)s;
                }
        }
}

static void pool_ref(float *out, const float *in, int n, int c, int h, int w)
{
    int oh = h / 2, ow = w / 2;
    for (int b = 0; b < n * c; b++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                const float *r = in + (size_t)b * h * w;
                float m = r[2 * y * w + 2 * x];
                m = fmaxf(m, r[2 * y * w + 2 * x + 1]);
                m = fmaxf(m, r[(2 * y + 1) * w + 2 * x]);
                m = fmaxf(m, r[(2 * y + 1) * w + 2 * x + 1]);
                out[((size_t)b * oh + y) * ow + x] = m;
            }
}

/* worst |a - b| / (1 + |b|) */
static double worst(const float *a, const float *b, size_t len)
{
    double e = 0;
    for (size_t i = 0; i < len; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (!(d <= e)) e = d; /* NaN counts as worst */
    }
    return e;
}

static float *randv(struct rng *g, size_t len)
{
    float *v = malloc(len * sizeof *v);
    for (size_t i = 0; i < len; i++)
        v[i] = (float)rng_normal(g);
    return v;
}

/* A random conv shape; 0 when its output would be empty. Channel counts
 * reach past 16 in a third of the cases (where Winograd takes over). */
static int random_shape(struct rng *g, struct conv_params *p)
{
    memset(p, 0, sizeof *p);
    int wide = rng_uniform(g) < 0.35;
    p->group = !wide && rng_uniform(g) < 0.2 ? 2 : 1;
    p->c = p->group * (wide ? 14 + (int)(rng_uniform(g) * 24) : 1 + (int)(rng_uniform(g) * 9));
    p->m = p->group * (wide ? 14 + (int)(rng_uniform(g) * 24) : 1 + (int)(rng_uniform(g) * 13));
    p->h = 1 + (int)(rng_uniform(g) * 24);
    p->w = 1 + (int)(rng_uniform(g) * 40);
    static const int ks[] = {1, 2, 3, 3, 3, 5};
    p->kh = wide ? 3 : ks[(int)(rng_uniform(g) * 6)];
    p->kw = rng_uniform(g) < 0.7 || wide ? p->kh : ks[(int)(rng_uniform(g) * 6)];
    p->sh = p->sw = rng_uniform(g) < 0.75 || wide ? 1 : 2;
    p->dh = p->dw = rng_uniform(g) < 0.8 || wide ? 1 : 2;
    p->pt = (int)(rng_uniform(g) * 3);
    p->pl = (int)(rng_uniform(g) * 3);
    p->pb = (int)(rng_uniform(g) * 3);
    p->pr = (int)(rng_uniform(g) * 3);
    p->relu = rng_uniform(g) < 0.5;
    int eh = p->h + p->pt + p->pb - p->dh * (p->kh - 1),
        ew = p->w + p->pl + p->pr - p->dw * (p->kw - 1);
    if (eh < 1 || ew < 1) return 0;
    p->oh = (eh - 1) / p->sh + 1;
    p->ow = (ew - 1) / p->sw + 1;
    return 1;
}

/* A pooled plan's argmax output (conv_plan_forward_argmax): the same pooled
 * values as conv_plan_forward (o2), and on the Winograd and direct paths the
 * argmax maxpool_forward finds over the unpooled plan's ReLU'd output,
 * byte for byte (im2col's sgemm may round with other tile sizes: there each
 * index must lie in its window and hold the window's value to 1e-4). */
static void argmax_check(const struct conv_plan *pl, const struct conv_params *p,
                         const struct pool_params *q, const float *inp, const float *w,
                         const float *bias, const float *u, int n, int nt, const float *o2,
                         int isa, int t)
{
    size_t lo = (size_t)n * p->m * q->oh * q->ow, lout = (size_t)n * p->m * p->oh * p->ow;
    float *o3 = malloc(lo * sizeof *o3), *y = malloc(lout * sizeof *y);
    float *yp = malloc(lo * sizeof *yp);
    int32_t *am = malloc(lo * sizeof *am), *am_ref = malloc(lo * sizeof *am_ref);
    float *scratch = malloc((conv_plan_scratch_floats(pl) + 1) * sizeof *scratch);
    atomic_int next = 0;
    memset(am, 0xff, lo * sizeof *am);
    for (int k = 0; k < nt; k++) /* nt threads' worth of units, one after another */
        conv_plan_forward_argmax(o3, am, inp, pl, w, bias, u, n, nt, scratch, &next);
    cr_assert(!memcmp(o3, o2, lo * sizeof *o3), "%s case %d: argmax plan's values differ",
              conv_isa_name(isa), t);
    struct conv_plan p0;
    conv_plan_init(&p0, p, NULL, (enum conv_isa)isa);
    float *u0 = NULL, *s0 = malloc((conv_plan_scratch_floats(&p0) + 1) * sizeof *s0);
    if (conv_plan_weight_floats(&p0)) {
        u0 = malloc(conv_plan_weight_floats(&p0) * sizeof *u0);
        conv_plan_weights(&p0, w, u0);
    }
    atomic_store(&next, 0);
    conv_plan_forward(y, inp, &p0, w, bias, u0, n, 1, s0, &next);
    struct pool_params qq = *q;
    maxpool_forward(yp, am_ref, y, &qq, n);
    if (pl->path != CONV_PATH_IM2COL && p0.path == pl->path) {
        cr_assert(!memcmp(am, am_ref, lo * sizeof *am), "%s case %d (path %d): argmax differs",
                  conv_isa_name(isa), t, pl->path);
    } else {
        size_t plane = (size_t)q->oh * q->ow, in_plane = (size_t)p->oh * p->ow;
        for (size_t i = 0; i < lo; i++) {
            int py = (int)(i % plane) / q->ow, px = (int)(i % plane) % q->ow;
            int ay = am[i] / p->ow, ax = am[i] % p->ow;
            cr_assert(ay >> 1 == py && ax >> 1 == px, "%s case %d: argmax %d outside window",
                      conv_isa_name(isa), t, am[i]);
            float v = y[(i / plane) * in_plane + (size_t)am[i]];
            cr_assert(fabsf(v - o3[i]) <= 1e-4f * (1 + fabsf(v)), "case %d: value at argmax",
                      t);
        }
    }
    free(o3), free(y), free(yp), free(am), free(am_ref), free(scratch), free(u0), free(s0);
}

/* Every instruction-set level this CPU runs (portable, AVX2, AVX-512), each
 * forced in turn: conv_forward, and the plans (1 and 3 threads' worth of
 * units taken by one thread in turn, with the fused pool where allowed),
 * against the double-precision reference. */
Test(conv, all_paths_match_reference_on_random_shapes)
{
    enum conv_isa best = conv_isa_best(), saved = conv_isa_default();
    int cases = 0, fused = 0, argmaxed = 0, direct_like = 0,
        by_path[CONV_ISA_AVX512 + 1][3] = {{0}};
    for (int isa = CONV_ISA_PORTABLE; isa <= (int)best; isa++) {
        cr_assert_eq(conv_isa_set((enum conv_isa)isa), 0);
        cr_assert_eq(conv_isa_default(), (enum conv_isa)isa);
        struct rng g;
        rng_seed(&g, 11);
        for (int t = 0; t < 400; t++) {
            struct conv_params p;
            if (!random_shape(&g, &p)) continue;
            int n = 1 + (int)(rng_uniform(&g) * 3);
            size_t lin = (size_t)n * p.c * p.h * p.w, lout = (size_t)n * p.m * p.oh * p.ow;
            size_t lw = (size_t)p.m * (p.c / p.group) * p.kh * p.kw;
            float *inp = randv(&g, lin), *w = randv(&g, lw), *bias = randv(&g, (size_t)p.m);
            int use_bias = rng_uniform(&g) < 0.8;
            float *ref = malloc(lout * sizeof *ref), *out = malloc(lout * sizeof *out);
            conv_ref(ref, inp, w, use_bias ? bias : NULL, &p, n);

            /* the single-threaded conv_forward */
            float *col = malloc(conv_col_floats(&p) * sizeof *col);
            memset(out, 0xff, lout * sizeof *out);
            conv_forward(out, inp, w, use_bias ? bias : NULL, &p, n, col);
            double e = worst(out, ref, lout);
            cr_assert_lt(e, 1e-4,
                         "%s conv_forward case %d: c %d h %d w %d m %d k %dx%d s %d d %d pads "
                         "%d %d %d %d group %d relu %d n %d: error %g",
                         conv_isa_name(isa), t, p.c, p.h, p.w, p.m, p.kh, p.kw, p.sh, p.dh,
                         p.pt, p.pl, p.pb, p.pr, p.group, p.relu, n, e);
            free(col);

            struct pool_params q = {.c = p.m,
                                    .h = p.oh,
                                    .w = p.ow,
                                    .oh = p.oh / 2,
                                    .ow = p.ow / 2,
                                    .kh = 2,
                                    .kw = 2,
                                    .sh = 2,
                                    .sw = 2};
            for (int pool = 0; pool <= conv_pool_fusable(&p, &q); pool++) {
                struct conv_plan pl;
                conv_plan_init(&pl, &p, pool ? &q : NULL, (enum conv_isa)isa);
                cr_assert(isa >= CONV_ISA_AVX2 || pl.path == CONV_PATH_IM2COL);
                by_path[isa][pl.path]++;
                float *u = NULL;
                if (conv_plan_weight_floats(&pl)) {
                    u = malloc(conv_plan_weight_floats(&pl) * sizeof *u);
                    conv_plan_weights(&pl, w, u);
                }
                for (int nt = 1; nt <= 3; nt += 2) {
                    size_t ls = conv_plan_scratch_floats(&pl);
                    float *scratch = malloc((ls ? ls : 1) * sizeof *scratch);
                    size_t lo = pool ? (size_t)n * p.m * q.oh * q.ow : lout;
                    float *o2 = malloc(lo * sizeof *o2), *r2 = malloc(lo * sizeof *r2);
                    memset(o2, 0xff, lo * sizeof *o2);
                    atomic_int next = 0;
                    (void)conv_plan_units(&pl, n, nt);
                    conv_plan_forward(o2, inp, &pl, w, use_bias ? bias : NULL, u, n, nt,
                                      scratch, &next);
                    if (pool)
                        pool_ref(r2, ref, n, p.m, p.oh, p.ow);
                    else
                        memcpy(r2, ref, lo * sizeof *r2);
                    e = worst(o2, r2, lo);
                    cr_assert_lt(e, 1e-4,
                                 "%s plan (path %d, %d threads%s) case %d: c %d h %d w %d m %d "
                                 "pads %d %d %d %d n %d: error %g",
                                 conv_isa_name(isa), pl.path, nt, pool ? ", pooled" : "", t,
                                 p.c, p.h, p.w, p.m, p.pt, p.pl, p.pb, p.pr, n, e);
                    if (pool) {
                        argmax_check(&pl, &p, &q, inp, w, use_bias ? bias : NULL, u, n, nt, o2,
                                     isa, t);
                        argmaxed++;
                    }
                    free(scratch);
                    free(o2);
                    free(r2);
                }
                free(u);
                fused += pool;
            }
            direct_like += p.sh == 1 && p.group == 1 && p.kh * p.kw > 1;
            cases++;
            free(inp);
            free(w);
            free(bias);
            free(ref);
            free(out);
        }
        cr_log_info("%s: plans by path: im2col %d, direct %d, Winograd %d", conv_isa_name(isa),
                    by_path[isa][CONV_PATH_IM2COL], by_path[isa][CONV_PATH_DIRECT],
                    by_path[isa][CONV_PATH_WINOGRAD]);
        if (isa >= CONV_ISA_AVX2) {
            cr_assert_gt(by_path[isa][CONV_PATH_DIRECT], 50);
            cr_assert_gt(by_path[isa][CONV_PATH_WINOGRAD], 50);
        }
    }
    conv_isa_set(saved);
    cr_log_info("%d conv cases (%d stride-1 ungrouped, %d fused with the pool)", cases,
                direct_like, fused);
    cr_assert_gt(cases, 250 * ((int)best + 1));
    cr_assert_gt(fused, 40);
    cr_assert_gt(argmaxed, 80);
}

/* The Winograd kernel on its own, past the plans' channel threshold: 4 or
 * more input channels, any output count, odd and even sizes, every pad of
 * 0..2 on each side, bands of 1 to 3 tile rows, with and without ReLU and
 * the pool, on each level that has it. */
Test(conv, winograd_matches_reference)
{
    int levels = 0;
    for (int isa = CONV_ISA_AVX2; isa <= (int)conv_isa_best(); isa++) {
        struct rng g;
        rng_seed(&g, 23);
        int cases = 0;
        for (int t = 0; t < 150; t++) {
            struct conv_params p = {
                .kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .group = 1};
            p.c = 4 + (int)(rng_uniform(&g) * 20);
            p.m = 1 + (int)(rng_uniform(&g) * 20);
            p.h = 1 + (int)(rng_uniform(&g) * 20);
            p.w = 1 + (int)(rng_uniform(&g) * 45);
            p.pt = (int)(rng_uniform(&g) * 3), p.pb = (int)(rng_uniform(&g) * 3);
            p.pl = (int)(rng_uniform(&g) * 3), p.pr = (int)(rng_uniform(&g) * 3);
            p.relu = rng_uniform(&g) < 0.6;
            p.oh = p.h + p.pt + p.pb - 2, p.ow = p.w + p.pl + p.pr - 2;
            if (p.oh < 1 || p.ow < 1) continue;
            cr_assert(conv_wino_usable(&p, (enum conv_isa)isa));
            struct pool_params q = {.c = p.m,
                                    .h = p.oh,
                                    .w = p.ow,
                                    .oh = p.oh / 2,
                                    .ow = p.ow / 2,
                                    .kh = 2,
                                    .kw = 2,
                                    .sh = 2,
                                    .sw = 2};
            int pool = p.relu && conv_pool_fusable(&p, &q) && rng_uniform(&g) < 0.5;
            size_t lin = (size_t)p.c * p.h * p.w, lout = (size_t)p.m * p.oh * p.ow;
            float *inp = randv(&g, lin), *w = randv(&g, (size_t)p.m * p.c * 9),
                  *bias = randv(&g, (size_t)p.m);
            float *ref = malloc(lout * sizeof *ref);
            conv_ref(ref, inp, w, bias, &p, 1);
            float *u = malloc(conv_wino_weight_floats(&p, (enum conv_isa)isa) * sizeof *u);
            conv_wino_weights(&p, (enum conv_isa)isa, w, u);
            struct wino_geom wg;
            conv_wino_geom(&wg, &p, pool ? &q : NULL, (enum conv_isa)isa,
                           1 + (int)(rng_uniform(&g) * 3));
            float *scratch = malloc(conv_wino_scratch_floats(&wg) * sizeof *scratch);
            size_t lo = pool ? (size_t)p.m * q.oh * q.ow : lout;
            float *out = malloc(lo * sizeof *out), *r2 = malloc(lo * sizeof *r2);
            memset(out, 0xff, lo * sizeof *out);
            for (int ty = 0; ty < wg.nty; ty += wg.rows)
                conv_wino_band(out, inp, u, bias, &wg, ty,
                               ty + wg.rows < wg.nty ? ty + wg.rows : wg.nty, scratch);
            if (pool)
                pool_ref(r2, ref, 1, p.m, p.oh, p.ow);
            else
                memcpy(r2, ref, lo * sizeof *r2);
            double e = worst(out, r2, lo);
            cr_assert_lt(e, 1e-5,
                         "%s Winograd case %d: c %d m %d h %d w %d pads %d %d %d %d relu %d "
                         "pool %d rows %d: error %g",
                         conv_isa_name(isa), t, p.c, p.m, p.h, p.w, p.pt, p.pl, p.pb, p.pr,
                         p.relu, pool, wg.rows, e);
            free(inp), free(w), free(bias), free(ref), free(u), free(scratch), free(out),
                free(r2);
            cases++;
        }
        cr_assert_gt(cases, 100);
        levels++;
    }
    cr_log_info("Winograd checked on %d instruction-set levels", levels);
}

/* INTERP_CONV_ISA's names, and a level the CPU lacks is refused. */
Test(conv, isa_names_and_setter)
{
    enum conv_isa v;
    for (int i = CONV_ISA_PORTABLE; i <= CONV_ISA_AVX512; i++) {
        cr_assert_eq(conv_isa_parse(conv_isa_name((enum conv_isa)i), &v), 0);
        cr_assert_eq((int)v, i);
    }
    cr_expect_eq(conv_isa_parse("sse9", &v), -1);
    cr_expect_eq(conv_isa_parse(NULL, &v), -1);
    enum conv_isa saved = conv_isa_default();
    cr_expect_eq(conv_isa_set((enum conv_isa)(CONV_ISA_AVX512 + 1)), -1);
    cr_expect_eq(conv_isa_default(), saved);
    cr_expect_eq(conv_isa_set(CONV_ISA_PORTABLE), 0);
    cr_expect_eq(conv_isa_default(), CONV_ISA_PORTABLE);
    conv_isa_set(saved);
}

/* An input handed to a plan row by row (conv_plan_forward_src) */
struct rows_src {
    struct conv_src src;
    const float *x;
    int c, h, w;
};

static void rows_src_row(const struct conv_src *src, int b, int c, int y, float *dst)
{
    const struct rows_src *r = (const struct rows_src *)src;
    memcpy(dst, r->x + (((size_t)b * r->c + c) * r->h + y) * r->w, sizeof(float) * r->w);
}

/* The input gradient as a forward conv (conv_backward_params and the flipped
 * weights through a plan: Winograd, the direct kernel or im2col) against
 * conv_backward's sgemm + col2im, on random stride-1 shapes and every
 * instruction-set level; where the plan takes its input row by row, that
 * too (the same bytes as reading it). */
Test(conv, backward_as_forward_matches_col2im)
{
    enum conv_isa saved = conv_isa_default();
    int cases = 0, wino = 0, srcs = 0;
    for (int isa = CONV_ISA_PORTABLE; isa <= (int)conv_isa_best(); isa++) {
        struct rng g;
        rng_seed(&g, 31);
        for (int t = 0; t < 120; t++) {
            struct conv_params p = {.sh = 1, .sw = 1, .dh = 1, .dw = 1, .group = 1};
            int wide = rng_uniform(&g) < 0.4;
            p.c = wide ? 16 + (int)(rng_uniform(&g) * 20) : 1 + (int)(rng_uniform(&g) * 8);
            p.m = wide ? 16 + (int)(rng_uniform(&g) * 20) : 1 + (int)(rng_uniform(&g) * 8);
            p.kh = rng_uniform(&g) < 0.7 ? 3 : 1 + (int)(rng_uniform(&g) * 5);
            p.kw = rng_uniform(&g) < 0.7 ? p.kh : 1 + (int)(rng_uniform(&g) * 5);
            p.h = 1 + (int)(rng_uniform(&g) * 20), p.w = 1 + (int)(rng_uniform(&g) * 30);
            p.pt = (int)(rng_uniform(&g) * p.kh), p.pb = (int)(rng_uniform(&g) * p.kh);
            p.pl = (int)(rng_uniform(&g) * p.kw), p.pr = (int)(rng_uniform(&g) * p.kw);
            p.oh = p.h + p.pt + p.pb - p.kh + 1, p.ow = p.w + p.pl + p.pr - p.kw + 1;
            if (p.oh < 1 || p.ow < 1) continue;
            struct conv_params bp;
            cr_assert(conv_backward_params(&p, &bp), "case %d", t);
            int n = 1 + (int)(rng_uniform(&g) * 2);
            size_t lin = (size_t)n * p.c * p.h * p.w, lout = (size_t)n * p.m * p.oh * p.ow;
            size_t lw = (size_t)p.m * p.c * p.kh * p.kw;
            float *dout = randv(&g, lout), *w = randv(&g, lw), *wf = malloc(lw * sizeof *wf);
            float *ref = calloc(lin, sizeof *ref), *got = malloc(lin * sizeof *got);
            float *col = malloc(conv_col_floats(&p) * sizeof *col);
            conv_backward(ref, dout, w, &p, n, col);
            conv_backward_weights(&p, w, wf);
            struct conv_plan pl;
            conv_plan_init(&pl, &bp, NULL, (enum conv_isa)isa);
            wino += pl.path == CONV_PATH_WINOGRAD;
            float *u = NULL;
            if (conv_plan_weight_floats(&pl)) {
                u = malloc(conv_plan_weight_floats(&pl) * sizeof *u);
                conv_plan_weights(&pl, wf, u);
            }
            float *scratch = malloc(conv_plan_scratch_floats(&pl) * sizeof *scratch);
            atomic_int next = 0;
            conv_plan_forward(got, dout, &pl, wf, NULL, u, n, 1, scratch, &next);
            double e = worst(got, ref, lin);
            cr_assert_lt(e, 1e-4, "%s case %d: c %d m %d k %dx%d h %d w %d pads %d %d %d %d: %g",
                         conv_isa_name(isa), t, p.c, p.m, p.kh, p.kw, p.h, p.w, p.pt, p.pl, p.pb,
                         p.pr, e);
            if (conv_plan_takes_src(&pl)) {
                struct rows_src rs = {{rows_src_row}, dout, bp.c, bp.h, bp.w};
                float *got2 = malloc(lin * sizeof *got2);
                atomic_store(&next, 0);
                conv_plan_forward_src(got2, &rs.src, &pl, wf, NULL, u, n, 1, scratch, &next);
                cr_assert(!memcmp(got2, got, lin * sizeof *got), "%s case %d: rows differ",
                          conv_isa_name(isa), t);
                free(got2);
                srcs++;
            }
            free(dout), free(w), free(wf), free(ref), free(got), free(col), free(u),
                free(scratch);
            cases++;
        }
    }
    conv_isa_set(saved);
    struct conv_params s2 = {.c = 4, .m = 4, .h = 8, .w = 8, .oh = 4, .ow = 4, .kh = 3, .kw = 3,
                             .sh = 2, .sw = 2, .dh = 1, .dw = 1, .pt = 1, .pl = 1, .group = 1};
    struct conv_params bp;
    cr_expect_eq(conv_backward_params(&s2, &bp), 0, "a strided conv keeps col2im");
    cr_log_info("%d backward cases, %d through Winograd, %d with the input row by row", cases,
                wino, srcs);
    cr_assert_gt(cases, 200);
    if (conv_isa_best() >= CONV_ISA_AVX2) {
        cr_assert_gt(wino, 20);
        cr_assert_gt(srcs, 60);
    }
}
