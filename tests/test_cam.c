/* test_cam.c - Grad-CAM, Grad-CAM++ and saliency against torch autograd
 * references (fixtures/make_cam.py) for every fixture model, image and
 * class; the blank-map flags; the class-score conventions (binary sigmoid,
 * final Softmax); and the Fashion-MNIST sanity check (heat on the garment).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "../analysis/cam.h"
#include "../core/array.h"
#include "../core/error.h"
#include "../core/model.h"
#include "../core/util.h"

#define CDIR "fixtures/cam/"

/* Pearson correlation and max |a - b| / max|b|, with the worst index. */
struct cmp {
    double r, rel, refmax;
    size_t worst;
};

static struct cmp compare(const float *a, const float *b, size_t n)
{
    double ma = 0, mb = 0, refmax = 0;
    for (size_t i = 0; i < n; i++) {
        ma += a[i], mb += b[i];
        if (fabs(b[i]) > refmax) refmax = fabs(b[i]);
    }
    ma /= (double)n, mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0, worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb), saa += (a[i] - ma) * (a[i] - ma),
            sbb += (b[i] - mb) * (b[i] - mb);
        double d = fabs((double)a[i] - b[i]);
        if (d > worst) worst = d, wi = i;
    }
    struct cmp c = {saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : (saa == sbb ? 1.0 : 0.0),
                    refmax > 0 ? worst / refmax : worst, refmax, wi};
    return c;
}

static void check_map(const char *what, const char *model, int i, int k, const float *got,
                      const float *ref, size_t n, int w)
{
    struct cmp c = compare(got, ref, n);
    if (c.refmax == 0) {
        /* the reference is blank: ours must be blank too */
        cr_expect(c.rel < 1e-6, "%s %s image %d class %d: reference all zero, ours max diff %g",
                  what, model, i, k, c.rel);
        return;
    }
    cr_expect(c.r >= 0.999, "%s %s image %d class %d: Pearson %.6f", what, model, i, k, c.r);
    cr_expect(c.rel <= 1e-3,
              "%s %s image %d class %d: max |diff| / ref max = %.3g at (%zu, %zu)", what, model,
              i, k, c.rel, c.worst / (size_t)w, c.worst % (size_t)w);
}

/* Every image and class of one fixture model. */
static void cam_model(const char *name)
{
    char mpath[256], lname[256];
    cam_meta_get(name, "model", mpath, sizeof mpath);
    cam_meta_get(name, "layer", lname, sizeof lname);
    int N = cam_meta_int(name, "images"), K = cam_meta_int(name, "classes");
    struct model *m = model_load(mpath);
    cr_assert(m, "%s: %s", mpath, error_message());
    int layer = model_tensor_find(m, lname);
    cr_assert(layer >= 0, "%s: no tensor %s", mpath, lname);
    struct cam *c = cam_new(m, layer);
    cr_assert(c, "%s", error_message());
    cr_assert_eq(c->score.nclass, K);
    struct array *in = cam_ref_load(name, "input.npy"), *pr = cam_ref_load(name, "probs.npy");
    struct array *gc = cam_ref_load(name, "gradcam.npy"), *gp = cam_ref_load(name, "gradcampp.npy");
    struct array *gcu = cam_ref_load(name, "gradcam_up.npy"),
                 *gpu = cam_ref_load(name, "gradcampp_up.npy");
    struct array *sal = cam_ref_load(name, "saliency.npy");
    size_t lhw = (size_t)c->lh * c->lw, ihw = (size_t)c->ih * c->iw;
    cr_assert_eq(gc->shape[2] * gc->shape[3], lhw, "%s: layer size", name);
    cr_assert_eq(gcu->shape[2] * gcu->shape[3], ihw, "%s: input size", name);
    size_t item = model_tensor_item(m, model_input(m));
    cr_assert_eq(in->shape[1], item);
    float *map = xmalloc(sizeof(float) * lhw), *up = xmalloc(sizeof(float) * ihw);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(cam_forward(c, (const float *)in->data + (size_t)i * item), 0);
        for (int k = 0; k < K; k++) {
            float p = ((const float *)pr->data)[(size_t)i * K + k];
            cr_expect(fabsf(c->probs[k] - p) <= 1e-5f, "%s image %d: p[%d] %g vs torch %g",
                      name, i, k, c->probs[k], p);
        }
        for (int k = 0; k < K; k++) {
            struct cam_info info;
            size_t off = (size_t)i * K + k;
            for (int meth = 0; meth < 2; meth++) {
                const struct array *R = meth ? gp : gc, *RU = meth ? gpu : gcu;
                const char *what = meth ? "Grad-CAM++" : "Grad-CAM";
                cr_assert_eq(cam_map(c, k, meth ? CAM_GRADCAM_PP : CAM_GRADCAM, map, &info), 0,
                             "%s", error_message());
                check_map(what, name, i, k, map, (const float *)R->data + off * lhw, lhw,
                          c->lw);
                cam_upsample(map, c->lh, c->lw, up, c->ih, c->iw);
                char w2[64];
                snprintf(w2, sizeof w2, "%s (input resolution)", what);
                check_map(w2, name, i, k, up, (const float *)RU->data + off * ihw, ihw, c->iw);
                cr_expect(fabs(info.prob - c->probs[k]) < 1e-7);
            }
            cr_assert_eq(cam_saliency(c, k, up, &info), 0, "%s", error_message());
            struct cmp s = compare(up, (const float *)sal->data + off * ihw, ihw);
            cr_expect(s.rel <= 1e-4,
                      "saliency %s image %d class %d: max |diff| / max = %.3g at %zu", name, i,
                      k, s.rel, s.worst);
        }
    }
    free(map);
    free(up);
    array_free(in), array_free(pr), array_free(gc), array_free(gp), array_free(gcu),
        array_free(gpu), array_free(sal);
    cam_free(c);
    model_free(m);
}

Test(cam, fmnist)
{
    cam_model("fmnist");
}
Test(cam, fmnist_folded)
{
    cam_model("fmnist_folded");
}
Test(cam, rgb)
{
    cam_model("rgb");
}
Test(cam, ops_softmax_output)
{
    cam_model("ops");
}
Test(cam, nhwc)
{
    cam_model("nhwc");
}
Test(cam, binary_sigmoid)
{
    cam_model("binary");
}

/* The score conventions: a final Softmax is skipped, a single sigmoid output
 * gives two classes, class 0 = the negated logit. */
Test(cam, score_conventions)
{
    struct model *m = model_load("fixtures/cam/binary.onnx");
    cr_assert(m, "%s", error_message());
    struct cam_score s;
    cr_assert_eq(cam_score_init(m, &s), 0);
    cr_expect_eq(s.nclass, 2);
    cr_expect_eq(s.nlogit, 1);
    cr_expect_eq(s.prob, CAM_PROB_BINARY);
    cr_expect_neq(s.tensor, model_output(m), "the score must be the Sigmoid's input");
    cr_expect(strstr(s.what, "Sigmoid") != NULL, "%s", s.what);
    float z = 0.7f, p[2], seed[1];
    cam_score_probs(&s, &z, p);
    cr_expect(fabs(p[1] - 1.0 / (1.0 + exp(-0.7))) < 1e-7 && fabs(p[0] + p[1] - 1) < 1e-7);
    cr_expect_eq(cam_score_value(&s, &z, 0), -0.7f);
    cam_score_seed(&s, 0, seed);
    cr_expect_eq(seed[0], -1.0f);
    model_free(m);
    m = model_load("fixtures/models/ops.onnx");
    cr_assert(m);
    cr_assert_eq(cam_score_init(m, &s), 0);
    cr_expect_eq(s.tensor, model_logits(m));
    cr_expect_neq(s.tensor, model_output(m));
    cr_expect(strstr(s.what, "Softmax") != NULL, "%s", s.what);
    model_free(m);
}

Test(cam, flags)
{
    struct cam_info info;
    float zero[6] = {0}, cst[6] = {2, 2, 2, 2, 2, 2}, ok[6] = {0, 1, 0, 0, 3, 0};
    float bad[3] = {1, NAN, 2};
    cam_map_check(zero, 6, 0, &info);
    cr_expect_eq(info.flag, CAM_FLAG_ZERO);
    cr_expect(info.reason && strstr(info.reason, "positive evidence"));
    cam_map_check(zero, 6, 1, &info);
    cr_expect(info.reason && strstr(info.reason, "gradient"));
    cam_map_check(cst, 6, 0, &info);
    cr_expect_eq(info.flag, CAM_FLAG_CONSTANT);
    cr_expect_eq(info.max, 2.0);
    cam_map_check(ok, 6, 0, &info);
    cr_expect_eq(info.flag, CAM_FLAG_NONE);
    cr_expect(info.reason == NULL && info.min == 0 && info.max == 3);
    cam_map_check(bad, 3, 0, &info);
    cr_expect_eq(info.flag, CAM_FLAG_NONFINITE);
}

Test(cam, bad_layer_and_class)
{
    struct model *m = model_load("fixtures/models/fmnist.onnx");
    cr_assert(m, "%s", error_message());
    int lat = model_default_latent(m);
    cr_assert(lat >= 0);
    cr_expect_null(cam_new(m, lat));
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_expect(strstr(error_message(), "not a 4-D"), "%s", error_message());
    struct cam *c = cam_new(m, -1);
    cr_assert(c);
    cr_expect_eq(c->layer, model_default_cam_layer(m));
    float *x = xcalloc(model_tensor_item(m, model_input(m)), sizeof(float));
    float *map = xmalloc(sizeof(float) * (size_t)c->lh * c->lw);
    struct cam_info info;
    cr_assert_eq(cam_forward(c, x), 0);
    cr_expect_eq(cam_map(c, 10, CAM_GRADCAM, map, &info), ERR_INPUT);
    cr_expect(strstr(error_message(), "out of range"), "%s", error_message());
    free(x);
    free(map);
    cam_free(c);
    model_free(m);
}

/* A user's sanity check: on Fashion-MNIST the Grad-CAM heat of the predicted
 * class lies mostly on the garment, not the background. Garment = pixels
 * above 10% gray, and the same grown by 2 pixels (the 7x7 layer's cells are 4
 * pixels wide). Measured with torch on the ten one-per-class test images
 * (fixtures model, default layer): 0.524 of the mass on the garment (area
 * 0.512), 0.724 on the grown garment (area 0.694): the heat follows the
 * garment about in proportion to its area, no more. Asserted with a margin. */
Test(cam, fashion_mnist_heat_on_garment)
{
    struct model *m = model_load("fixtures/models/fmnist.onnx");
    cr_assert(m, "%s", error_message());
    struct cam *c = cam_new(m, -1);
    cr_assert(c);
    struct model_prep prep = model_prep_default();
    int H = c->ih, W = c->iw;
    size_t hw = (size_t)H * W;
    float *x = xmalloc(sizeof(float) * hw),
          *map = xmalloc(sizeof(float) * (size_t)c->lh * c->lw);
    float *up = xmalloc(sizeof(float) * hw);
    char *fg = xmalloc(hw), *grown = xmalloc(hw);
    double frac = 0, frac_grown = 0, area = 0, area_grown = 0;
    int maps = 0;
    for (int k = 0; k < 10; k++) {
        char path[128];
        snprintf(path, sizeof path, "fixtures/models/images/gray/%02d_class%d.png", k, k);
        cr_assert_eq(model_preprocess_file(m, path, &prep, x), 0, "%s", error_message());
        cr_assert_eq(cam_forward(c, x), 0);
        struct cam_info info;
        cr_assert_eq(cam_map(c, cam_pred(c), CAM_GRADCAM, map, &info), 0);
        cam_upsample(map, c->lh, c->lw, up, H, W);
        for (size_t p = 0; p < hw; p++)
            fg[p] = x[p] > 0.1f;
        for (int y = 0; y < H; y++) /* 2 steps of 4-neighbour dilation = diamond of radius 2 */
            for (int xx = 0; xx < W; xx++) {
                char g = 0;
                for (int dy = -2; dy <= 2 && !g; dy++)
                    for (int dx = -2; dx <= 2 && !g; dx++) {
                        int yy = y + dy, xq = xx + dx;
                        if (abs(dy) + abs(dx) <= 2 && yy >= 0 && yy < H && xq >= 0 && xq < W)
                            g = fg[(size_t)yy * W + xq];
                    }
                grown[(size_t)y * W + xx] = g;
            }
        double s = 0, sf = 0, sg = 0, af = 0, ag = 0;
        for (size_t p = 0; p < hw; p++) {
            s += up[p];
            if (fg[p]) sf += up[p], af++;
            if (grown[p]) sg += up[p], ag++;
        }
        if (s <= 0) continue;
        frac += sf / s, frac_grown += sg / s, area += af / hw, area_grown += ag / hw, maps++;
    }
    cr_assert(maps >= 8, "only %d non-blank maps", maps);
    frac /= maps, frac_grown /= maps, area /= maps, area_grown /= maps;
    cr_log_info(
        "Grad-CAM mass on the garment %.3f (area %.3f), on the grown garment %.3f (area %.3f)",
        frac, area, frac_grown, area_grown);
    cr_expect(frac >= 0.47, "Grad-CAM mass on the garment %.3f (area %.3f)", frac, area);
    cr_expect(frac_grown >= 0.67, "Grad-CAM mass on the grown garment %.3f (area %.3f)",
              frac_grown, area_grown);
    free(x), free(map), free(up), free(fg), free(grown);
    cam_free(c);
    model_free(m);
}

/* ---------------------------------------------------------------- batches */
/* max |a - b| over n, relative to max |b| (absolute when b is all zero) */
static double rel_to_max(const float *a, const float *b, size_t n)
{
    double mx = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(b[i]) > mx) mx = fabs(b[i]);
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= d)) d = e;
    }
    return mx > 0 ? d / mx : d;
}

/* A batch of B items (the fixture's images repeated: at least two per
 * thread, so the forward goes item by item through the conv layers) through
 * cam_new_batch, fused below the layer (CAM_LAYER_ONLY), against the one-
 * image context (every layer unfused) image by image: probabilities, scores
 * and every class's Grad-CAM, Grad-CAM++ and saliency map, to 1e-5 of their
 * maximum. */
static void batch_model(const char *name)
{
    char mpath[256], lname[256];
    cam_meta_get(name, "model", mpath, sizeof mpath);
    cam_meta_get(name, "layer", lname, sizeof lname);
    int N = cam_meta_int(name, "images"), K = cam_meta_int(name, "classes"), B = 9;
    struct model *m = model_load(mpath);
    cr_assert(m, "%s: %s", mpath, error_message());
    int layer = model_tensor_find(m, lname);
    struct cam *one = cam_new(m, layer), *bat = cam_new_batch(m, layer, B, CAM_LAYER_ONLY);
    struct cam *sal = cam_new_batch(m, model_input(m), B, CAM_LAYER_ONLY);
    cr_assert(one && bat && sal, "%s", error_message());
    struct array *in = cam_ref_load(name, "input.npy");
    size_t item = model_tensor_item(m, model_input(m));
    size_t lhw = (size_t)one->lh * one->lw, ihw = (size_t)one->ih * one->iw;
    float *x = xmalloc(sizeof(float) * item * B);
    for (int b = 0; b < B; b++)
        memcpy(x + b * item, (const float *)in->data + (size_t)(b % N) * item,
               sizeof(float) * item);
    cr_assert_eq(cam_forward_batch(bat, x, B), 0, "%s", error_message());
    cr_assert_eq(cam_forward_batch(sal, x, B), 0, "%s", error_message());
    cr_assert_eq(bat->n, B);
    float *maps = xmalloc(sizeof(float) * lhw * B), *smaps = xmalloc(sizeof(float) * ihw * B);
    float *ref = xmalloc(sizeof(float) * (lhw > ihw ? lhw : ihw));
    struct cam_info *info = xcalloc((size_t)B, sizeof *info),
                    *sinfo = xcalloc((size_t)B, sizeof *sinfo), ri;
    int *cls = xmalloc(sizeof(int) * B);
    double worst = 0;
    for (int k = 0; k < K; k++)
        for (int meth = 0; meth < 3; meth++) {
            for (int b = 0; b < B; b++)
                cls[b] = (k + b) % K; /* a different class per item */
            if (meth < 2)
                cr_assert_eq(
                    cam_map_batch(bat, cls, meth ? CAM_GRADCAM_PP : CAM_GRADCAM, maps, info), 0,
                    "%s", error_message());
            else
                cr_assert_eq(cam_saliency_batch(sal, cls, smaps, sinfo), 0, "%s",
                             error_message());
            for (int b = 0; b < B; b++) {
                cr_assert_eq(cam_forward(one, x + b * item), 0);
                if (k == 0 && meth == 0) {
                    cr_expect_eq(cam_pred_item(bat, b), cam_pred(one), "%s item %d", name, b);
                    for (int c = 0; c < one->score.nclass; c++)
                        cr_expect(fabsf(bat->probs[(size_t)b * one->score.nclass + c] -
                                        one->probs[c]) <= 1e-6f,
                                  "%s item %d: p[%d]", name, b, c);
                }
                const float *got;
                const struct cam_info *gi;
                size_t n;
                if (meth < 2) {
                    cr_assert_eq(
                        cam_map(one, cls[b], meth ? CAM_GRADCAM_PP : CAM_GRADCAM, ref, &ri), 0);
                    got = maps + b * lhw, gi = &info[b], n = lhw;
                } else {
                    cr_assert_eq(cam_saliency(one, cls[b], ref, &ri), 0);
                    got = smaps + b * ihw, gi = &sinfo[b], n = ihw;
                }
                double e = rel_to_max(got, ref, n);
                if (e > worst) worst = e;
                cr_expect(e <= 1e-5, "%s item %d class %d method %d: batch vs one image %.3g",
                          name, b, cls[b], meth, e);
                cr_expect(fabs(gi->prob - ri.prob) <= 1e-6 &&
                              fabs(gi->score - ri.score) <= 1e-5 * (1 + fabs(ri.score)),
                          "%s item %d: score %g vs %g", name, b, gi->score, ri.score);
                cr_expect_eq(gi->flag, ri.flag, "%s item %d class %d method %d: flag", name, b,
                             cls[b], meth);
            }
        }
    cr_log_info("cam batch %-8s worst batch vs one image %.2g of the map's maximum", name,
                worst);
    /* a context bounded at a layer above the input has no input gradient */
    if (layer != model_input(m)) {
        cr_expect_neq(cam_saliency_batch(bat, cls, smaps, sinfo), 0);
        cr_expect(strstr(error_message(), "down to"), "%s", error_message());
    }
    cr_expect_neq(cam_forward_batch(bat, x, B + 1), 0);
    free(x), free(maps), free(smaps), free(ref), free(info), free(sinfo), free(cls);
    array_free(in);
    cam_free(one), cam_free(bat), cam_free(sal);
    model_free(m);
}

Test(cam, batch_fmnist)
{
    batch_model("fmnist");
}
Test(cam, batch_rgb)
{
    batch_model("rgb");
}
Test(cam, batch_nhwc)
{
    batch_model("nhwc");
}
Test(cam, batch_ops)
{
    batch_model("ops");
}
Test(cam, batch_binary)
{
    batch_model("binary");
}

/* ---------------------------------------------------------------- the rest of the family */
/* fixtures/trust/MODEL/cam_METHOD.npy (make_trust.py, written from
 * pytorch-grad-cam's definitions): every image and class, at the layer. */
static void cam_family_model(const char *name)
{
    char mpath[256], lname[256], dir[256];
    cam_meta_get(name, "model", mpath, sizeof mpath);
    cam_meta_get(name, "layer", lname, sizeof lname);
    int N = cam_meta_int(name, "images"), K = cam_meta_int(name, "classes");
    struct model *m = model_load(mpath);
    cr_assert(m, "%s: %s", mpath, error_message());
    struct cam *c = cam_new(m, model_tensor_find(m, lname));
    cr_assert(c, "%s", error_message());
    struct array *in = cam_ref_load(name, "input.npy");
    size_t lhw = (size_t)c->lh * c->lw, item = model_tensor_item(m, model_input(m));
    float *map = xmalloc(sizeof(float) * lhw);
    snprintf(dir, sizeof dir, "fixtures/trust/%s/", name);
    for (int meth = CAM_HIRESCAM; meth < CAM_METHOD_COUNT; meth++) {
        char file[64];
        snprintf(file, sizeof file, "cam_%s.npy", cam_method_name(meth));
        struct array *R = fixture_load(dir, file, DT_F32, 4);
        cr_assert_eq(R->shape[0] * R->shape[1], (size_t)N * K, "%s %s", name, file);
        cr_assert_eq(R->shape[2] * R->shape[3], lhw, "%s %s", name, file);
        for (int i = 0; i < N; i++) {
            cr_assert_eq(cam_forward(c, (const float *)in->data + (size_t)i * item), 0);
            for (int k = 0; k < K; k++) {
                struct cam_info info;
                cr_assert_eq(cam_map(c, k, meth, map, &info), 0, "%s", error_message());
                check_map(cam_method_name(meth), name, i, k, map,
                          (const float *)R->data + ((size_t)i * K + k) * lhw, lhw, c->lw);
            }
        }
        array_free(R);
    }
    free(map);
    array_free(in);
    cam_free(c);
    model_free(m);
}

Test(cam_family, fmnist)
{
    cam_family_model("fmnist");
}
Test(cam_family, fmnist_folded)
{
    cam_family_model("fmnist_folded");
}
Test(cam_family, rgb)
{
    cam_family_model("rgb");
}
Test(cam_family, ops_negative_layer)
{
    cam_family_model("ops");
}
Test(cam_family, nhwc)
{
    cam_family_model("nhwc");
}
Test(cam_family, binary_sigmoid)
{
    cam_family_model("binary");
}

/* EigenCAM's sign (cam.h): the projection's largest-magnitude value is made
 * positive, so on a post-ReLU layer the map lies where the channels' summed
 * activation is high. Checked before the ReLU through EigenGradCAM's and
 * EigenCAM's maps: the map's maximum is positive and it correlates positively
 * with the channel sum of the activations. */
Test(cam_family, eigencam_sign)
{
    struct model *m = model_load("fixtures/models/fmnist.onnx");
    cr_assert(m);
    struct cam *c = cam_new(m, -1);
    struct array *in = cam_ref_load("fmnist", "input.npy");
    size_t lhw = (size_t)c->lh * c->lw, item = model_tensor_item(m, model_input(m));
    float *map = xmalloc(sizeof(float) * lhw), *sum = xcalloc(lhw, sizeof(float));
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(cam_forward(c, (const float *)in->data + (size_t)i * item), 0);
        struct cam_info info;
        cr_assert_eq(cam_map(c, cam_pred(c), CAM_EIGENCAM, map, &info), 0);
        cr_expect(info.max > 0, "image %d: EigenCAM's map is blank (sign flipped?)", i);
        const float *A = model_run_tensor(c->run, c->layer);
        for (size_t p = 0; p < lhw; p++) {
            sum[p] = 0;
            for (int k = 0; k < c->lc; k++)
                sum[p] += A[(size_t)k * lhw + p];
        }
        struct cmp r = compare(map, sum, lhw);
        cr_expect(r.r > 0.5, "image %d: EigenCAM vs summed activation r = %.3f", i, r.r);
    }
    free(map);
    free(sum);
    array_free(in);
    cam_free(c);
    model_free(m);
}

Test(cam_family, method_names)
{
    for (int k = 0; k < CAM_METHOD_COUNT; k++)
        cr_expect_eq(cam_method_parse(cam_method_name(k)), k);
    cr_expect_eq(cam_method_parse("Score-CAM"), CAM_SCORECAM);
    cr_expect_eq(cam_method_parse("grad_cam_plus_plus"), CAM_GRADCAM_PP);
    cr_expect_eq(cam_method_parse("gradcampp"), CAM_GRADCAM_PP);
    cr_expect_eq(cam_method_parse("scorcam"), -1);
    cr_expect(!cam_method_uses_gradients(CAM_EIGENCAM) &&
              cam_method_uses_gradients(CAM_LAYERCAM));
}
