/* test_occlusion.c - occlusion maps against a torch batched loop
 * (fixtures/make_cam.py), the incremental path against the full recompute on
 * every fixture model (maps and raw class scores, odd patch geometries), the
 * patch grid and the fill's preprocessing.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../analysis/occlusion.h"
#include "../core/array.h"
#include "../core/error.h"
#include "../core/conv_direct.h"
#include "../core/graph_region.h"
#include "../core/model.h"
#include "../core/rng.h"
#include "../core/util.h"
#include "fixture.h"

#define CDIR "fixtures/cam/"

/* max |a - b| and where */
static double maxdiff(const float *a, const float *b, size_t n, size_t *where)
{
    double w = 0;
    *where = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > w || isnan(d)) w = d, *where = i;
    }
    return w;
}

/* Both paths against torch (1e-4) and against each other (1e-5). */
static void occlusion_model(const char *name)
{
    char mpath[256];
    cam_meta_get(name, "model", mpath, sizeof mpath);
    int N = cam_meta_int(name, "images"), K = cam_meta_int(name, "classes");
    struct model *m = model_load(mpath);
    cr_assert(m, "%s: %s", mpath, error_message());
    struct occlusion_params p = occlusion_params_default();
    p.patch = cam_meta_int(name, "patch"), p.stride = cam_meta_int(name, "stride"),
    p.batch = 16;
    struct model_prep prep = model_prep_default();
    struct occlusion *inc = occlusion_new(m, &p, &prep);
    cr_assert(inc, "%s", error_message());
    cr_expect_eq(inc->incremental, 1);
    p.exact = 1;
    struct occlusion *full = occlusion_new(m, &p, &prep);
    cr_assert(full, "%s", error_message());
    struct array *in = cam_ref_load(name, "input.npy"),
                 *ref = cam_ref_load(name, "occlusion.npy");
    struct array *grid = cam_ref_load(name, "occlusion_grid.npy");
    cr_assert_eq(grid->shape[2], (size_t)inc->ny, "%s: grid rows", name);
    cr_assert_eq(grid->shape[3], (size_t)inc->nx, "%s: grid columns", name);
    size_t hw = (size_t)inc->h * inc->w, g = (size_t)inc->ny * inc->nx;
    size_t item = model_tensor_item(m, model_input(m));
    int *cls = xmalloc(sizeof(int) * (size_t)K);
    for (int k = 0; k < K; k++)
        cls[k] = k;
    float *ma = xmalloc(sizeof(float) * hw * K), *mb = xmalloc(sizeof(float) * hw * K);
    float *ga = xmalloc(sizeof(float) * g * K), *gb = xmalloc(sizeof(float) * g * K);
    for (int i = 0; i < N; i++) {
        const float *x = (const float *)in->data + (size_t)i * item;
        cr_assert_eq(occlusion_run(inc, x, cls, K, ga, ma, NULL), 0, "%s", error_message());
        cr_assert_eq(occlusion_run(full, x, cls, K, gb, mb, NULL), 0, "%s", error_message());
        size_t w;
        double d = maxdiff(ma, mb, hw * K, &w);
        cr_expect(d <= 1e-5,
                  "%s image %d: incremental vs full max diff %.3g (class %zu, pixel %zu)", name,
                  i, d, w / hw, w % hw);
        d = maxdiff(ga, gb, g * K, &w);
        cr_expect(d <= 1e-5, "%s image %d: incremental vs full grid max diff %.3g", name, i, d);
        const float *r = (const float *)ref->data + (size_t)i * K * hw;
        d = maxdiff(mb, r, hw * K, &w);
        cr_expect(d <= 1e-4,
                  "%s image %d: full vs torch max diff %.3g (class %zu, y %zu, x %zu)", name, i,
                  d, w / hw, w % hw / inc->w, w % inc->w);
        d = maxdiff(ma, r, hw * K, &w);
        cr_expect(d <= 1e-4, "%s image %d: incremental vs torch max diff %.3g", name, i, d);
        d = maxdiff(ga, (const float *)grid->data + (size_t)i * K * g, g * K, &w);
        cr_expect(d <= 1e-4, "%s image %d: grid vs torch max diff %.3g", name, i, d);
    }
    free(cls), free(ma), free(mb), free(ga), free(gb);
    array_free(in), array_free(ref), array_free(grid);
    occlusion_free(inc);
    occlusion_free(full);
    model_free(m);
}

Test(occlusion, fmnist)
{
    occlusion_model("fmnist");
}
Test(occlusion, fmnist_folded)
{
    occlusion_model("fmnist_folded");
}
Test(occlusion, rgb)
{
    occlusion_model("rgb");
}
Test(occlusion, ops)
{
    occlusion_model("ops");
}
Test(occlusion, nhwc)
{
    occlusion_model("nhwc");
}
Test(occlusion, binary)
{
    occlusion_model("binary");
}

/* The raw class scores of region_run_patches against model_forward on the
 * occluded copies, for patch geometries that hit every border case (patch
 * 1, odd sizes, the whole image), a random input and a fill far from it. */
static void region_model(const char *path)
{
    struct model *m = model_load(path);
    cr_assert(m, "%s: %s", path, error_message());
    struct model_input_info in;
    cr_assert_eq(model_input_info(m, &in), 0);
    int score = model_logits(m);
    size_t item = model_tensor_item(m, model_input(m)), L = model_tensor_item(m, score);
    float *x = xmalloc(sizeof(float) * item);
    struct rng g;
    rng_seed(&g, 7);
    for (size_t i = 0; i < item; i++)
        x[i] = (float)rng_uniform(&g);
    const int geo[][2] = {{1, 5}, {3, 2}, {5, 7}, {8, 4}, {in.h < in.w ? in.h : in.w, 1}};
    float fill[4] = {2.0f, -1.0f, 0.25f, 0};
    for (size_t gi = 0; gi < sizeof geo / sizeof geo[0]; gi++) {
        int P = geo[gi][0], S = geo[gi][1];
        if (P > in.h || P > in.w) continue;
        int ys[65], xs[65], n = 0;
        for (int y = 0; y + P <= in.h && n < 64; y += S + 3)
            for (int xx = (y % 5); xx + P <= in.w && n < 64; xx += S + 5)
                ys[n] = y, xs[n] = xx, n++;
        ys[n] = in.h - P, xs[n] = in.w - P, n++; /* the far corner */
        struct region_run *rr = region_run_new(m, score, n, P, P, ys, xs, n);
        cr_assert(rr, "%s: %s", path, error_message());
        cr_assert_eq(region_run_base(rr, x), 0);
        float *got = xmalloc(sizeof(float) * L * n),
              *copies = xmalloc(sizeof(float) * item * n);
        cr_assert_eq(region_run_patches(rr, ys, xs, n, fill, got), 0, "%s", error_message());
        size_t plane = (size_t)in.h * in.w;
        for (int i = 0; i < n; i++) {
            float *c = copies + (size_t)i * item;
            memcpy(c, x, sizeof(float) * item);
            for (int y = ys[i]; y < ys[i] + P; y++)
                for (int xx = xs[i]; xx < xs[i] + P; xx++)
                    for (int ch = 0; ch < in.c; ch++) {
                        size_t p = (size_t)y * in.w + xx;
                        c[in.layout == MODEL_NHWC ? p * in.c + ch : ch * plane + p] = fill[ch];
                    }
        }
        struct model_run *r = model_run_new(m, n, MODEL_RUN_FORWARD, NULL, 0);
        cr_assert(r);
        cr_assert_eq(model_forward(r, copies, n), 0);
        const float *want = model_run_tensor(r, score);
        double worst = 0, scale = 0;
        size_t wi = 0;
        for (size_t k = 0; k < L * (size_t)n; k++) {
            double d = fabs((double)got[k] - want[k]);
            if (fabs(want[k]) > scale) scale = fabs(want[k]);
            if (d > worst || isnan(d)) worst = d, wi = k;
        }
        cr_expect(worst <= 1e-5 * (scale > 1 ? scale : 1),
                  "%s patch %d: incremental vs full scores max diff %.3g (copy %zu at %d,%d; "
                  "|score| <= %.3g)",
                  path, P, worst, wi / L, ys[wi / L], xs[wi / L], scale);
        cr_expect(region_run_cost_ratio(rr) <= 1.0);
        model_run_free(r);
        free(got), free(copies);
        region_run_free(rr);
    }
    free(x);
    model_free(m);
}

Test(occlusion_region, fmnist)
{
    region_model("fixtures/models/fmnist.onnx");
}
Test(occlusion_region, fmnist_folded)
{
    region_model("fixtures/models/fmnist_folded.onnx");
}
Test(occlusion_region, rgb)
{
    region_model("fixtures/models/rgb.onnx");
}
Test(occlusion_region, ops)
{
    region_model("fixtures/models/ops.onnx");
}
Test(occlusion_region, nhwc)
{
    region_model("fixtures/models/nhwc.onnx");
}
Test(occlusion_region, binary)
{
    region_model("fixtures/cam/binary.onnx");
}
Test(occlusion_region, acts)
{
    region_model("fixtures/models/acts.onnx");
}
Test(occlusion_region, tiny)
{
    region_model("fixtures/models/tiny.onnx");
}

/* The fused paths: every conv of the fixtures runs as a chain (with its
 * pool), the first dense layer as a rank update (over a channels-last map
 * in the NHWC model); and the 128x128 model's scores on each instruction-set
 * level the CPU has (Winograd on the windows at AVX2 and above). */
Test(occlusion_region, fused_paths_and_levels)
{
    static const struct {
        const char *path;
        int chains, pooled, rank, nhwc;
    } want[] = {{"fixtures/models/fmnist.onnx", 3, 3, 1, 0},
                {"fixtures/models/rgb.onnx", 3, 3, 1, 0},
                {"fixtures/models/nhwc.onnx", 2, 1, 1, 1}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        struct model *m = model_load(want[k].path);
        cr_assert(m, "%s", error_message());
        int ys[1] = {0}, xs[1] = {0};
        struct region_run *rr = region_run_new(m, model_logits(m), 1, 4, 4, ys, xs, 1);
        cr_assert(rr, "%s", error_message());
        struct region_info info;
        region_run_info(rr, &info);
        cr_expect(info.chains == want[k].chains && info.pooled_chains == want[k].pooled &&
                      info.rank_updates == want[k].rank && info.rank_nhwc == want[k].nhwc,
                  "%s: %d chains (%d pooled), %d rank updates (%d NHWC)", want[k].path,
                  info.chains, info.pooled_chains, info.rank_updates, info.rank_nhwc);
        region_run_free(rr);
        model_free(m);
    }
    enum conv_isa saved = conv_isa_default();
    for (int isa = CONV_ISA_PORTABLE; isa <= (int)conv_isa_best(); isa++) {
        cr_assert_eq(conv_isa_set((enum conv_isa)isa), 0);
        region_model("fixtures/models/rgb.onnx");
        region_model("fixtures/models/fmnist.onnx");
    }
    conv_isa_set(saved);
}

/* On the 128x128 model the incremental plan must do far less arithmetic. */
Test(occlusion_region, cost_on_rgb)
{
    struct model *m = model_load("fixtures/models/rgb.onnx");
    cr_assert(m, "%s", error_message());
    struct occlusion_params p = occlusion_params_default();
    struct model_prep prep = model_prep_default();
    struct occlusion *o = occlusion_new(m, &p, &prep);
    cr_assert(o);
    cr_expect_eq(o->ny, 14);
    cr_expect_eq(o->nx, 14);
    double ratio = region_run_cost_ratio(o->rr_);
    cr_log_info("rgb, patch 24: incremental multiply-adds / full = %.3f", ratio);
    cr_expect(ratio < 0.2, "cost ratio %.3f", ratio);
    occlusion_free(o);
    model_free(m);
}

Test(occlusion, grid_and_fill)
{
    struct model *m = model_load("fixtures/models/fmnist.onnx");
    cr_assert(m, "%s", error_message());
    struct occlusion_params p = occlusion_params_default();
    p.patch = 6, p.stride = 3;
    struct model_prep prep = model_prep_default();
    prep.mean[0] = 0.25f, prep.std[0] = 0.5f;
    struct occlusion *o = occlusion_new(m, &p, &prep);
    cr_assert(o);
    /* 0, 3, ..., 21, then 22 flush with the border of 28 */
    cr_assert_eq(o->ny, 9);
    cr_expect_eq(o->ys[7], 21);
    cr_expect_eq(o->ys[8], 22);
    cr_expect_eq(o->uncovered, 0);
    /* the fill is a pixel: (0.5 * 255 * scale - mean) / std */
    cr_expect(fabsf(o->fill[0] - 0.5f) < 1e-6f, "fill %g", o->fill[0]);
    occlusion_free(o);
    /* the default 24 at stride 8 on 28: 0 and the flush 4 */
    p = occlusion_params_default();
    o = occlusion_new(m, &p, &prep);
    cr_assert(o);
    cr_expect_eq(o->ny, 2);
    cr_expect_eq(o->ys[1], 4);
    occlusion_free(o);
    /* stride larger than the patch leaves gaps, counted */
    p.patch = 2, p.stride = 5;
    o = occlusion_new(m, &p, &prep);
    cr_assert(o);
    cr_expect_gt(o->uncovered, 0);
    occlusion_free(o);
    p.patch = 0;
    cr_expect_null(occlusion_new(m, &p, &prep));
    cr_expect_eq(error_code(), ERR_INPUT);
    model_free(m);
}

Test(occlusion, class_out_of_range)
{
    struct model *m = model_load("fixtures/models/fmnist.onnx");
    cr_assert(m);
    struct occlusion_params p = occlusion_params_default();
    struct model_prep prep = model_prep_default();
    struct occlusion *o = occlusion_new(m, &p, &prep);
    float x[784] = {0};
    int cls = 10;
    cr_expect_eq(occlusion_run(o, x, &cls, 1, NULL, NULL, NULL), ERR_INPUT);
    occlusion_free(o);
    model_free(m);
}
