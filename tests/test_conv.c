/* test_conv.c - every conv forward path (direct AVX2 kernel, im2col + sgemm,
 * pointwise; plain, threaded in units, fused with ReLU and a 2x2 max-pool)
 * against a naive double-precision reference, over random shapes: kernel
 * sizes 1-5, dilations, asymmetric pads, strides, groups, batch 1-3.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

Test(conv, all_paths_match_reference_on_random_shapes)
{
    struct rng g;
    rng_seed(&g, 11);
    int cases = 0, fused = 0, direct_like = 0;
    for (int t = 0; t < 400; t++) {
        struct conv_params p = {0};
        p.group = rng_uniform(&g) < 0.2 ? 2 : 1;
        p.c = p.group * (1 + (int)(rng_uniform(&g) * 9));
        p.m = p.group * (1 + (int)(rng_uniform(&g) * 13));
        p.h = 1 + (int)(rng_uniform(&g) * 24);
        p.w = 1 + (int)(rng_uniform(&g) * 40);
        static const int ks[] = {1, 2, 3, 3, 3, 5};
        p.kh = ks[(int)(rng_uniform(&g) * 6)];
        p.kw = rng_uniform(&g) < 0.7 ? p.kh : ks[(int)(rng_uniform(&g) * 6)];
        p.sh = p.sw = rng_uniform(&g) < 0.75 ? 1 : 2;
        p.dh = p.dw = rng_uniform(&g) < 0.8 ? 1 : 2;
        p.pt = (int)(rng_uniform(&g) * 3);
        p.pl = (int)(rng_uniform(&g) * 3);
        p.pb = (int)(rng_uniform(&g) * 3);
        p.pr = (int)(rng_uniform(&g) * 3);
        p.relu = rng_uniform(&g) < 0.5;
        int eh = p.h + p.pt + p.pb - p.dh * (p.kh - 1), ew = p.w + p.pl + p.pr - p.dw * (p.kw - 1);
        if (eh < 1 || ew < 1) continue;
        p.oh = (eh - 1) / p.sh + 1;
        p.ow = (ew - 1) / p.sw + 1;
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
                     "conv_forward case %d: c %d h %d w %d m %d k %dx%d s %d d %d pads %d %d %d %d "
                     "group %d relu %d n %d: error %g",
                     t, p.c, p.h, p.w, p.m, p.kh, p.kw, p.sh, p.dh, p.pt, p.pl, p.pb, p.pr,
                     p.group, p.relu, n, e);
        free(col);

        /* the unit-split forward, 1 and 3 threads' worth of units taken by
         * one thread in turn, and fused with the pool where allowed */
        struct pool_params q = {.c = p.m, .h = p.oh, .w = p.ow, .oh = p.oh / 2, .ow = p.ow / 2,
                                .kh = 2, .kw = 2, .sh = 2, .sw = 2};
        int pool = conv_pool_fusable(&p, &q);
        for (int nt = 1; nt <= 3; nt += 2) {
            size_t ls = conv_fused_scratch_floats(&p, pool);
            float *scratch = malloc((ls ? ls : 1) * sizeof *scratch);
            size_t lo = pool ? (size_t)n * p.m * q.oh * q.ow : lout;
            float *o2 = malloc(lo * sizeof *o2), *r2 = malloc(lo * sizeof *r2);
            memset(o2, 0xff, lo * sizeof *o2);
            atomic_int next = 0;
            (void)conv_forward_units(&p, pool ? &q : NULL, n, nt);
            conv_forward_part(o2, inp, w, use_bias ? bias : NULL, &p, pool ? &q : NULL, n, nt,
                              scratch, &next);
            if (pool)
                pool_ref(r2, ref, n, p.m, p.oh, p.ow);
            else
                memcpy(r2, ref, lo * sizeof *r2);
            e = worst(o2, r2, lo);
            cr_assert_lt(e, 1e-4, "units (%d threads%s) case %d: error %g", nt,
                         pool ? ", pooled" : "", t, e);
            free(scratch);
            free(o2);
            free(r2);
        }
        fused += pool;
        direct_like += p.sh == 1 && p.group == 1 && p.kh * p.kw > 1;
        cases++;
        free(inp);
        free(w);
        free(bias);
        free(ref);
        free(out);
    }
    cr_log_info("%d conv cases (%d stride-1 ungrouped, %d fused with the pool)", cases,
                direct_like, fused);
    cr_assert_gt(cases, 250);
    cr_assert_gt(fused, 40);
}
