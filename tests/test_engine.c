/* test_engine.c - the model engine against PyTorch: logits, latents and
 * gradients of every fixture model (fixtures/make_models.py), every op's
 * backward against finite differences, and every load-time error.
 */
#include <criterion/criterion.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/conv_direct.h"
#include "../core/error.h"
#include "../core/graph.h"
#include "../core/image.h"
#include "../core/model.h"
#include "../core/rng.h"
#include "../core/util.h"

#define MDIR "fixtures/models/"

/* ---------------------------------------------------------------- helpers */
struct npy {
    int ndim;
    size_t shape[8];
    size_t count;
    float *data;
};

/* A minimal reader for the little-endian float32 C-order files the fixtures
 * script writes (kept here so these tests do not depend on core/npy.c). */
static struct npy npy_load_f32(const char *path)
{
    struct npy a = {0};
    FILE *fp = fopen(path, "rb");
    cr_assert(fp, "cannot open %s", path);
    unsigned char head[10];
    cr_assert_eq(fread(head, 1, 10, fp), 10);
    cr_assert(!memcmp(head, "\x93NUMPY", 6), "%s: not .npy", path);
    size_t hl = head[8] | (size_t)head[9] << 8;
    if (head[6] >= 2) {
        unsigned char more[2];
        cr_assert_eq(fread(more, 1, 2, fp), 2);
        hl |= (size_t)more[0] << 16 | (size_t)more[1] << 24;
    }
    char *h = calloc(1, hl + 1);
    cr_assert_eq(fread(h, 1, hl, fp), hl);
    cr_assert(strstr(h, "'<f4'") && strstr(h, "False"), "%s: want <f4 C order: %s", path, h);
    char *s = strchr(strstr(h, "'shape'"), '(') + 1;
    a.count = 1;
    while (*s && *s != ')') {
        char *e;
        long v = strtol(s, &e, 10);
        if (e == s) break;
        a.shape[a.ndim++] = (size_t)v;
        a.count *= (size_t)v;
        s = e;
        while (*s == ',' || *s == ' ')
            s++;
    }
    free(h);
    a.data = malloc(sizeof(float) * (a.count ? a.count : 1));
    cr_assert_eq(fread(a.data, sizeof(float), a.count, fp), a.count, "%s: short", path);
    fclose(fp);
    return a;
}

/* The value of `key` in fixtures/models/NAME.meta. */
static void meta_get(const char *name, const char *key, char *out, size_t size)
{
    char path[256], line[512];
    snprintf(path, sizeof path, MDIR "%s.meta", name);
    FILE *fp = fopen(path, "r");
    cr_assert(fp, "cannot open %s", path);
    out[0] = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, fp))
        if (!strncmp(line, key, kl) && line[kl] == ' ') {
            line[strcspn(line, "\n")] = 0;
            snprintf(out, size, "%s", line + kl + 1);
        }
    fclose(fp);
}

/* Max |a-b| with its index; asserts <= tol. */
static void check_abs(const float *a, const float *ref, size_t n, double tol, const char *what)
{
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= worst)) worst = d, at = i;
    }
    cr_log_info("%s: worst abs diff %.3g at %zu (got %.7g, torch %.7g)", what, worst, at,
                (double)a[at], (double)ref[at]);
    cr_assert(worst <= tol, "%s: worst abs diff %.3g at %zu (got %.7g, want %.7g)", what, worst,
              at, (double)a[at], (double)ref[at]);
}

/* ||a-ref|| / ||ref|| <= tol, reporting the worst element too. */
static void check_rel(const float *a, const float *ref, size_t n, double tol, const char *what)
{
    double num = 0, den = 0, worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d, den += (double)ref[i] * ref[i];
        if (!(fabs(d) <= worst)) worst = fabs(d), at = i;
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    cr_log_info("%s: relative error %.3g (worst element %zu: %.7g vs %.7g)", what, rel, at,
                (double)a[at], (double)ref[at]);
    cr_assert(rel <= tol, "%s: relative error %.3g (worst element %zu: %.7g vs %.7g)", what,
              rel, at, (double)a[at], (double)ref[at]);
}

static struct model *load_ok(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, MDIR "%s.onnx", name);
    struct model *m = model_load(path);
    cr_assert(m, "%s: %s", path, error_message());
    return m;
}

/* ---------------------------------------------------------------- forward vs torch */
/* Runs every reference image at batch 1 and all at once; compares logits,
 * probabilities (when the model ends in Softmax) and the default latent. */
static void check_forward(const char *model_name, const char *ref_name)
{
    struct model *m = load_ok(model_name);
    char dir[256], path[320], want[256];
    snprintf(dir, sizeof dir, MDIR "ref/%s/", ref_name);
    snprintf(path, sizeof path, "%sinput.npy", dir);
    struct npy x = npy_load_f32(path);
    snprintf(path, sizeof path, "%slogits.npy", dir);
    struct npy lg = npy_load_f32(path);
    snprintf(path, sizeof path, "%sprobs.npy", dir);
    struct npy pr = npy_load_f32(path);
    snprintf(path, sizeof path, "%slatent.npy", dir);
    struct npy lat = npy_load_f32(path);
    int N = (int)x.shape[0];
    int in = model_input(m), lo = model_logits(m), la = model_default_latent(m);
    size_t in_item = model_tensor_item(m, in);
    cr_assert_eq(in_item * N, x.count, "input size %zu per item", in_item);
    cr_assert_eq((size_t)model_num_classes(m), lg.shape[1]);
    cr_assert(la >= 0, "no default latent");
    meta_get(model_name, "latent", want, sizeof want);
    cr_assert_str_eq(model_tensor_name(m, la), want, "default latent");
    meta_get(model_name, "cam_layer", want, sizeof want);
    cr_assert(model_default_cam_layer(m) >= 0, "no default cam layer");
    cr_assert_str_eq(model_tensor_name(m, model_default_cam_layer(m)), want,
                     "default cam layer");
    size_t K = lg.shape[1], D = lat.shape[1];
    cr_assert_eq(model_tensor_item(m, la), D);
    char what[128];
    int cam = model_default_cam_layer(m);
    size_t ca = model_tensor_item(m, cam);
    float *cam_act = malloc(sizeof(float) * ca * N);
    for (int flags = 1; flags >= 0; flags--) {
        /* batch > 1 (all images, through a run sized for more); the
         * forward-only run fuses conv chains, and must still give the kept
         * Grad-CAM activation exactly as the unfused backward run does */
        int keep[2] = {la, cam};
        struct model_run *r = model_run_new(m, N + 3, flags, keep, 2);
        cr_assert(r, "%s", error_message());
        cr_assert_eq(model_forward(r, x.data, N), 0);
        snprintf(what, sizeof what, "%s logits, batch %d, %s", model_name, N,
                 flags ? "backward run" : "forward run");
        check_abs(model_run_tensor(r, lo), lg.data, lg.count, 1e-4, what);
        snprintf(what, sizeof what, "%s latent, batch %d", model_name, N);
        check_abs(model_run_tensor(r, la), lat.data, lat.count, 1e-4, what);
        if (model_output_is_softmax(m)) {
            snprintf(what, sizeof what, "%s probabilities", model_name);
            check_abs(model_run_tensor(r, model_output(m)), pr.data, pr.count, 1e-5, what);
        }
        if (flags) {
            memcpy(cam_act, model_run_tensor(r, cam), sizeof(float) * ca * N);
        } else {
            snprintf(what, sizeof what, "%s kept cam activation, fused vs unfused run",
                     model_name);
            check_rel(model_run_tensor(r, cam), cam_act, ca * N, 1e-6, what);
        }
        model_run_free(r);
    }
    free(cam_act);
    /* batch 1, one image at a time */
    int keep[1] = {la};
    struct model_run *r = model_run_new(m, 1, MODEL_RUN_FORWARD, keep, 1);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(model_forward(r, x.data + (size_t)i * in_item, 1), 0);
        snprintf(what, sizeof what, "%s logits, image %d at batch 1", model_name, i);
        check_abs(model_run_tensor(r, lo), lg.data + (size_t)i * K, K, 1e-4, what);
        snprintf(what, sizeof what, "%s latent, image %d at batch 1", model_name, i);
        check_abs(model_run_tensor(r, la), lat.data + (size_t)i * D, D, 1e-4, what);
    }
    model_run_free(r);
    free(x.data), free(lg.data), free(pr.data), free(lat.data);
    model_free(m);
}

Test(engine, forward_fmnist)
{
    check_forward("fmnist", "fmnist");
}
Test(engine, forward_fmnist_folded)
{
    check_forward("fmnist_folded", "fmnist");
}
Test(engine, forward_rgb)
{
    check_forward("rgb", "rgb");
}
Test(engine, forward_ops)
{
    check_forward("ops", "ops");
}
Test(engine, forward_ops_opset9)
{
    check_forward("ops_opset9", "ops");
}
Test(engine, forward_nhwc)
{
    check_forward("nhwc", "nhwc");
}
Test(engine, forward_acts)
{
    check_forward("acts", "acts");
}

/* ---------------------------------------------------------------- gradients vs torch */
/* d logit_k / d (default cam layer) and / d input for every class, against
 * torch autograd, 1e-4 relative; also a backward that stops at the cam layer. */
static void check_grads(const char *model_name, const char *ref_name)
{
    struct model *m = load_ok(model_name);
    char dir[256], path[320], what[160];
    snprintf(dir, sizeof dir, MDIR "ref/%s/", ref_name);
    snprintf(path, sizeof path, "%sinput.npy", dir);
    struct npy x = npy_load_f32(path);
    snprintf(path, sizeof path, "%sgrad_act.npy", dir);
    struct npy ga = npy_load_f32(path);
    snprintf(path, sizeof path, "%sgrad_input.npy", dir);
    struct npy gi = npy_load_f32(path);
    int n = (int)ga.shape[0], K = (int)ga.shape[1];
    int cam = model_default_cam_layer(m), in = model_input(m);
    size_t ca = model_tensor_item(m, cam), ii = model_tensor_item(m, in);
    cr_assert_eq(ga.count, (size_t)n * K * ca, "cam gradient size");
    cr_assert_eq(gi.count, (size_t)n * K * ii, "input gradient size");
    struct model_run *r = model_run_new(m, n, MODEL_RUN_BACKWARD, NULL, 0);
    cr_assert(r);
    cr_assert_eq(model_forward(r, x.data, n), 0);
    float *got = malloc(sizeof(float) * (ca > ii ? ca : ii) * n);
    float *want = malloc(sizeof(float) * (ca > ii ? ca : ii) * n);
    for (int k = 0; k < K; k++) {
        int cls[64];
        for (int i = 0; i < n; i++)
            cls[i] = k;
        cr_assert_eq(model_backward_class(r, cls, in), 0, "%s", error_message());
        for (int pass = 0; pass < 2; pass++) {
            size_t item = pass ? ii : ca;
            const struct npy *ref = pass ? &gi : &ga;
            const float *g = model_run_grad(r, pass ? in : cam);
            cr_assert(g, "no gradient computed");
            for (int i = 0; i < n; i++) { /* ref is n x K x item */
                memcpy(want + (size_t)i * item, ref->data + ((size_t)i * K + k) * item,
                       sizeof(float) * item);
                memcpy(got + (size_t)i * item, g + (size_t)i * item, sizeof(float) * item);
            }
            snprintf(what, sizeof what, "%s d logit %d / d %s", model_name, k,
                     pass ? "input" : model_tensor_name(m, cam));
            check_rel(got, want, item * n, 1e-4, what);
        }
        /* stopping at the cam layer gives the same, and no input gradient */
        cr_assert_eq(model_backward_class(r, cls, cam), 0);
        cr_assert_null(model_run_grad(r, in));
        for (int i = 0; i < n; i++)
            memcpy(want + (size_t)i * ca, ga.data + ((size_t)i * K + k) * ca,
                   sizeof(float) * ca);
        snprintf(what, sizeof what, "%s d logit %d / d cam (stopping there)", model_name, k);
        check_rel(model_run_grad(r, cam), want, ca * n, 1e-4, what);
    }
    model_run_free(r);
    /* a run bounded at the cam layer (the layers below it fused, their
     * intermediates not kept): the same gradient, no input gradient */
    r = model_run_new_grad(m, n, cam, NULL, 0);
    cr_assert(r, "%s", error_message());
    cr_assert_eq(model_forward(r, x.data, n), 0);
    for (int k = 0; k < K; k++) {
        int cls[64];
        for (int i = 0; i < n; i++)
            cls[i] = k;
        cr_assert_eq(model_backward_class(r, cls, cam), 0, "%s", error_message());
        for (int i = 0; i < n; i++)
            memcpy(want + (size_t)i * ca, ga.data + ((size_t)i * K + k) * ca,
                   sizeof(float) * ca);
        snprintf(what, sizeof what, "%s d logit %d / d cam (a run bounded there)", model_name,
                 k);
        check_rel(model_run_grad(r, cam), want, ca * n, 1e-4, what);
        cr_expect_eq(model_backward_class(r, cls, in), ERR_INPUT);
        cr_expect(strstr(error_message(), "down to"), "%s", error_message());
    }
    cr_expect_null(model_run_new_grad(m, n, model_graph(m)->nt, NULL, 0));
    free(got), free(want);
    model_run_free(r);
    free(x.data), free(ga.data), free(gi.data);
    model_free(m);
}

Test(engine, grads_fmnist)
{
    check_grads("fmnist", "fmnist");
}
Test(engine, grads_fmnist_folded)
{
    check_grads("fmnist_folded", "fmnist");
}
Test(engine, grads_rgb)
{
    check_grads("rgb", "rgb");
}
Test(engine, grads_ops)
{
    check_grads("ops", "ops");
}
Test(engine, grads_ops_opset9)
{
    check_grads("ops_opset9", "ops");
}
Test(engine, grads_nhwc)
{
    check_grads("nhwc", "nhwc");
}
Test(engine, grads_acts)
{
    check_grads("acts", "acts");
}

/* ---------------------------------------------------------------- preprocessing */
/* image_load + model_preprocess equal the reference's PIL + F.interpolate + /255. */
static void check_prep(const char *model_name)
{
    struct model *m = load_ok(model_name);
    char path[320], line[512];
    snprintf(path, sizeof path, MDIR "ref/%s/input.npy", model_name);
    struct npy x = npy_load_f32(path);
    snprintf(path, sizeof path, MDIR "ref/%s/files.txt", model_name);
    FILE *fp = fopen(path, "r");
    cr_assert(fp);
    size_t item = model_tensor_item(m, model_input(m));
    float *buf = malloc(sizeof(float) * item);
    struct model_prep p = model_prep_default();
    int i = 0;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = 0;
        struct image *im = image_load(line);
        cr_assert(im, "%s: %s", line, error_message());
        cr_assert_eq(model_preprocess(m, im, &p, buf), 0, "%s", error_message());
        char what[600];
        snprintf(what, sizeof what, "%s preprocessed %s", model_name, line);
        /* JPEG decoders may differ by a level; PNG must be exact to rounding */
        check_abs(buf, x.data + (size_t)i * item, item, strstr(line, ".jpg") ? 1.5 / 255 : 1e-5,
                  what);
        image_free(im);
        i++;
    }
    cr_assert_eq((size_t)i * item, x.count);
    fclose(fp);
    free(buf);
    free(x.data);
    model_free(m);
}

Test(engine, preprocess_gray)
{
    check_prep("fmnist");
}
Test(engine, preprocess_rgb)
{
    check_prep("rgb");
}
Test(engine, preprocess_resize_rgb_to_32)
{
    check_prep("ops");
}
Test(engine, preprocess_nhwc)
{
    check_prep("nhwc");
}

Test(engine, describe)
{
    struct model *m = load_ok("fmnist");
    struct model_input_info info;
    cr_assert_eq(model_input_info(m, &info), 0);
    cr_assert(info.layout == MODEL_NCHW && info.c == 1 && info.h == 28 && info.w == 28);
    /* conv 1*32*9+32 + 32*64*9+64 + 64*64*9+64, BN 4*(32+64+64), dense 576*128+128 + 128*10+10
     */
    size_t want =
        (288 + 32) + (18432 + 64) + (36864 + 64) + 4 * 160 + (73728 + 128) + (1280 + 10);
    cr_assert_eq(model_param_count(m), want, "params %zu, want %zu", model_param_count(m),
                 want);
    int64_t d[MODEL_MAX_DIMS];
    int cam = model_default_cam_layer(m);
    cr_assert_eq(model_tensor_shape(m, cam, d), 4);
    cr_assert(d[0] == -1 && d[1] == 64 && d[2] == 7 && d[3] == 7);
    cr_assert_eq(model_opset(m), 13);
    model_free(m);
    m = load_ok("nhwc");
    cr_assert_eq(model_input_info(m, &info), 0);
    cr_assert(info.layout == MODEL_NHWC && info.c == 1 && info.h == 28 && info.w == 28);
    model_free(m);
}

/* ---------------------------------------------------------------- load-time errors */
static void check_bad(const char *name, const char *const *phrases)
{
    char path[256];
    snprintf(path, sizeof path, MDIR "%s.onnx", name);
    error_clear();
    struct model *m = model_load(path);
    cr_assert_null(m, "%s loaded", path);
    cr_assert_eq(error_code(), ERR_INPUT, "%s: code %d (%s)", path, error_code(),
                 error_message());
    cr_assert(error_path() && !strcmp(error_path(), path), "%s: path %s", path,
              error_path() ? error_path() : "(none)");
    for (; *phrases; phrases++)
        cr_assert(strstr(error_message(), *phrases), "%s: message '%s' lacks '%s'", path,
                  error_message(), *phrases);
}

Test(engine, tiny_loads)
{
    struct model *m = load_ok("tiny");
    cr_assert_eq(model_num_classes(m), 3);
    model_free(m);
}
Test(engine, bad_op)
{
    check_bad("bad_op",
              (const char *[]){"fancy1", "FancyRelu", "com.example", "not supported", NULL});
}
Test(engine, bad_attr)
{
    check_bad("bad_attr", (const char *[]){"conv1", "auto_pad", "SIDEWAYS", NULL});
}
Test(engine, bad_external)
{
    check_bad("bad_external", (const char *[]){"'w'", "external", "weights.bin", NULL});
}
Test(engine, bad_cycle)
{
    check_bad("bad_cycle", (const char *[]){"cycle", "_cycle'", NULL});
}
Test(engine, bad_missing)
{
    check_bad("bad_missing", (const char *[]){"relu1", "'nowhere'", "not produced", NULL});
}
Test(engine, bad_initsize)
{
    check_bad("bad_initsize", (const char *[]){"'w'", "40 bytes", "[2,1,3,3]", "72", NULL});
}
Test(engine, bad_opset)
{
    check_bad("bad_opset", (const char *[]){"opset 18", NULL});
}
Test(engine, bad_dtype)
{
    check_bad("bad_dtype", (const char *[]){"'x'", "float32", NULL});
}
Test(engine, bad_shape)
{
    check_bad("bad_shape", (const char *[]){"gemm1", "inner dimensions", NULL});
}
Test(engine, bad_truncated)
{
    check_bad("bad_truncated", (const char *[]){"not an ONNX model", NULL});
}
Test(engine, missing_file)
{
    cr_assert_null(model_load(MDIR "no_such_model.onnx"));
    cr_assert_eq(error_code(), ERR_INPUT);
}

/* ---------------------------------------------------------------- finite differences */
/* Every backward against central differences of L = sum(w * forward(x)) with
 * random w, on small random tensors kept away from kinks (ReLU at 0, ties in
 * max-pool windows, Clip bounds). A forward/backward pair is a closure. */
struct fd_case {
    const char *name;
    size_t nin, nout;
    void (*fwd)(const struct fd_case *c, const float *x, float *y);
    void (*bwd)(const struct fd_case *c, const float *x, const float *y, const float *dy,
                float *dx);
    const void *p;  /* params */
    const float *w; /* a weight for conv/gemm, b operand for eltwise */
    int n;          /* batch */
    int op;
};

/* the library's generator (core/rng.h), one seeded stream for the file */
static struct rng test_rng = {{0x9E3779B97F4A7C15ULL, 0xBF58476D1CE4E5B9ULL,
                               0x94D049BB133111EBULL, 0x2545F4914F6CDD1DULL}};
static double urand(void)
{
    return rng_uniform(&test_rng);
}
static float nrand(void)
{
    return (float)rng_normal(&test_rng);
}
/* values spread apart (|x| >= 0.1, distinct by >= 0.02) for kinked ops */
static void fill_kinkfree(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = (float)((double)(i + 1) * 0.031 + 0.1);
        x[i] = (i % 2 ? -v : v);
    }
    for (size_t i = n - 1; i > 0; i--) { /* shuffle */
        size_t j = (size_t)(urand() * (double)(i + 1));
        float t = x[i];
        x[i] = x[j], x[j] = t;
    }
}

static void fd_check(const struct fd_case *c, int kinkfree)
{
    float *x = malloc(sizeof(float) * c->nin), *y = malloc(sizeof(float) * c->nout);
    float *w = malloc(sizeof(float) * c->nout), *dx = calloc(c->nin, sizeof(float));
    float *num = malloc(sizeof(float) * c->nin);
    if (kinkfree)
        fill_kinkfree(x, c->nin);
    else
        for (size_t i = 0; i < c->nin; i++)
            x[i] = nrand();
    for (size_t i = 0; i < c->nout; i++)
        w[i] = nrand();
    c->fwd(c, x, y);
    c->bwd(c, x, y, w, dx);
    const float eps = 2e-3f;
    for (size_t i = 0; i < c->nin; i++) {
        float keep = x[i];
        double lp = 0, lm = 0;
        x[i] = keep + eps;
        c->fwd(c, x, y);
        for (size_t k = 0; k < c->nout; k++)
            lp += (double)w[k] * y[k];
        x[i] = keep - eps;
        c->fwd(c, x, y);
        for (size_t k = 0; k < c->nout; k++)
            lm += (double)w[k] * y[k];
        x[i] = keep;
        num[i] = (float)((lp - lm) / (2.0 * eps));
    }
    char what[128];
    snprintf(what, sizeof what, "finite differences: %s", c->name);
    check_rel(dx, num, c->nin, 2e-3, what);
    /* accumulation: a second backward adds the same again */
    c->bwd(c, x, y, w, dx);
    for (size_t i = 0; i < c->nin; i++)
        num[i] *= 2;
    snprintf(what, sizeof what, "accumulated backward: %s", c->name);
    check_rel(dx, num, c->nin, 2e-3, what);
    free(x), free(y), free(w), free(dx), free(num);
}

static float col_buf[1 << 16];

static void conv_f(const struct fd_case *c, const float *x, float *y)
{
    const struct conv_params *p = c->p;
    conv_forward(y, x, c->w, c->w + 4096, p, c->n, col_buf);
}
static void conv_b(const struct fd_case *c, const float *x, const float *y, const float *dy,
                   float *dx)
{
    conv_backward(dx, dy, c->w, c->p, c->n, col_buf);
}

Test(engine_fd, conv)
{
    /* stride 2, asymmetric pads, dilation 2, 2 groups; a pointwise conv; 3x3 pad 1 */
    struct conv_params ps[3] = {{.c = 4,
                                 .h = 7,
                                 .w = 6,
                                 .m = 6,
                                 .kh = 3,
                                 .kw = 2,
                                 .sh = 2,
                                 .sw = 1,
                                 .dh = 2,
                                 .dw = 1,
                                 .pt = 1,
                                 .pl = 0,
                                 .pb = 2,
                                 .pr = 1,
                                 .group = 2},
                                {.c = 3,
                                 .h = 4,
                                 .w = 5,
                                 .m = 2,
                                 .kh = 1,
                                 .kw = 1,
                                 .sh = 1,
                                 .sw = 1,
                                 .dh = 1,
                                 .dw = 1,
                                 .group = 1},
                                {.c = 2,
                                 .h = 5,
                                 .w = 6,
                                 .m = 3,
                                 .kh = 3,
                                 .kw = 3,
                                 .sh = 1,
                                 .sw = 1,
                                 .dh = 1,
                                 .dw = 1,
                                 .pt = 1,
                                 .pl = 1,
                                 .pb = 1,
                                 .pr = 1,
                                 .group = 1}};
    static float w[4096 + 64];
    for (int i = 0; i < 4096 + 64; i++)
        w[i] = nrand();
    for (int k = 0; k < 3; k++) {
        struct conv_params *p = &ps[k];
        p->oh = (p->h + p->pt + p->pb - p->dh * (p->kh - 1) - 1) / p->sh + 1;
        p->ow = (p->w + p->pl + p->pr - p->dw * (p->kw - 1) - 1) / p->sw + 1;
        struct fd_case c = {"conv",
                            (size_t)2 * p->c * p->h * p->w,
                            (size_t)2 * p->m * p->oh * p->ow,
                            conv_f,
                            conv_b,
                            p,
                            w,
                            2,
                            0};
        fd_check(&c, 0);
    }
}

static void pool_f(const struct fd_case *c, const float *x, float *y)
{
    static int32_t am[4096];
    if (c->op == OP_MAXPOOL)
        maxpool_forward(y, am, x, c->p, c->n);
    else if (c->op == OP_AVGPOOL)
        avgpool_forward(y, x, c->p, c->n);
    else {
        const struct pool_params *p = c->p;
        gap_forward(y, x, p->c, (size_t)p->h * p->w, c->n);
    }
}
static void pool_b(const struct fd_case *c, const float *x, const float *y, const float *dy,
                   float *dx)
{
    const struct pool_params *p = c->p;
    if (c->op == OP_MAXPOOL) {
        int32_t am[4096];
        float tmp[4096];
        maxpool_forward(tmp, am, x, p, c->n);
        maxpool_backward(dx, dy, am, p, c->n);
    } else if (c->op == OP_AVGPOOL)
        avgpool_backward(dx, dy, p, c->n);
    else
        gap_backward(dx, dy, p->c, (size_t)p->h * p->w, c->n);
}

Test(engine_fd, pools)
{
    /* max 3x3/2 pad 1 with ceil mode's extra row; avg with and without pads counted; GAP */
    struct pool_params mp = {.c = 3,
                             .h = 6,
                             .w = 7,
                             .oh = 4,
                             .ow = 4,
                             .kh = 3,
                             .kw = 3,
                             .sh = 2,
                             .sw = 2,
                             .pt = 1,
                             .pl = 1,
                             .pb = 1,
                             .pr = 1};
    struct pool_params ap0 = mp, ap1 = mp;
    ap0.oh = 3, ap0.ow = 4, ap1.oh = 3, ap1.ow = 4, ap1.count_include_pad = 1;
    struct pool_params gp = {.c = 3, .h = 5, .w = 4};
    struct fd_case cs[4] = {
        {"maxpool", 2 * 3 * 42, 2 * 3 * 16, pool_f, pool_b, &mp, NULL, 2, OP_MAXPOOL},
        {"avgpool", 2 * 3 * 42, 2 * 3 * 12, pool_f, pool_b, &ap0, NULL, 2, OP_AVGPOOL},
        {"avgpool count_include_pad", 2 * 3 * 42, 2 * 3 * 12, pool_f, pool_b, &ap1, NULL, 2,
         OP_AVGPOOL},
        {"globalaveragepool", 2 * 3 * 20, 2 * 3, pool_f, pool_b, &gp, NULL, 2, OP_GAP}};
    for (int k = 0; k < 4; k++)
        fd_check(&cs[k], k == 0);
}

Test(engine_fd, maxpool_first_maximum)
{
    /* PyTorch's convention: a tie sends the gradient to the first maximum */
    struct pool_params p = {
        .c = 1, .h = 2, .w = 2, .oh = 1, .ow = 1, .kh = 2, .kw = 2, .sh = 2, .sw = 2};
    float x[4] = {0.5f, 2.0f, 2.0f, 1.0f}, y, dy = 1.0f, dx[4] = {0};
    int32_t am;
    maxpool_forward(&y, &am, x, &p, 1);
    maxpool_backward(dx, &dy, &am, &p, 1);
    cr_assert(y == 2.0f && dx[1] == 1.0f && dx[2] == 0.0f && dx[0] == 0.0f);
}

static void act_f(const struct fd_case *c, const float *x, float *y)
{
    if (c->op == OP_SOFTMAX)
        softmax_forward(y, x, c->p, c->n);
    else if (c->op == OP_BATCHNORM)
        batchnorm_forward(y, x, c->p, c->n);
    else
        act_forward(c->op, y, x, c->nin, c->p);
}
static void act_b(const struct fd_case *c, const float *x, const float *y, const float *dy,
                  float *dx)
{
    if (c->op == OP_SOFTMAX)
        softmax_backward(dx, dy, y, c->p, c->n);
    else if (c->op == OP_BATCHNORM)
        batchnorm_backward(dx, dy, c->p, c->n);
    else
        act_backward(c->op, dx, dy, y, x, c->nin, c->p);
}

Test(engine_fd, activations)
{
    struct act_params ap = {.alpha = 0.1f, .lo = -0.5f, .hi = 0.6f};
    struct act_params ep = {.alpha = 1.3f}, hp = {.alpha = 1.0f / 6, .beta = 0.5f};
    struct act_params sep = {.alpha = 1.6732632f, .gamma = 1.050701f}, gp = {.approximate = 1};
    struct softmax_params sp = {.outer = 2, .len = 5, .inner = 3};
    float a[4] = {0.5f, -1.0f, 2.0f, 1.5f}, b[4] = {0.1f, 0.2f, -0.3f, 0.0f};
    struct bn_params bp = {.c = 4, .plane = 6, .a = a, .b = b};
    struct fd_case cs[] = {
        {"relu", 60, 60, act_f, act_b, &ap, NULL, 1, OP_RELU},
        {"leakyrelu", 60, 60, act_f, act_b, &ap, NULL, 1, OP_LEAKYRELU},
        {"sigmoid", 60, 60, act_f, act_b, &ap, NULL, 1, OP_SIGMOID},
        {"tanh", 60, 60, act_f, act_b, &ap, NULL, 1, OP_TANH},
        {"clip", 60, 60, act_f, act_b, &ap, NULL, 1, OP_CLIP},
        {"elu", 60, 60, act_f, act_b, &ep, NULL, 1, OP_ELU},
        {"selu", 60, 60, act_f, act_b, &sep, NULL, 1, OP_SELU},
        {"softplus", 60, 60, act_f, act_b, &ap, NULL, 1, OP_SOFTPLUS},
        {"softsign", 60, 60, act_f, act_b, &ap, NULL, 1, OP_SOFTSIGN},
        {"hardsigmoid", 60, 60, act_f, act_b, &hp, NULL, 1, OP_HARDSIGMOID},
        {"exp", 60, 60, act_f, act_b, &ap, NULL, 1, OP_EXP},
        {"gelu", 60, 60, act_f, act_b, &ap, NULL, 1, OP_GELU},
        {"gelu tanh", 60, 60, act_f, act_b, &gp, NULL, 1, OP_GELU},
        {"softmax", 60, 60, act_f, act_b, &sp, NULL, 2, OP_SOFTMAX},
        {"batchnorm", 48, 48, act_f, act_b, &bp, NULL, 2, OP_BATCHNORM},
    };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++)
        fd_check(&cs[k], 1);
    /* values against the definitions (in double), on both sides of 0 */
    const float xs[] = {-3.0f, -0.7f, -1e-3f, 0.0f, 0.4f, 2.5f};
    for (size_t k = 0; k < sizeof xs / sizeof xs[0]; k++) {
        double x = xs[k];
        struct {
            enum op_type op;
            const struct act_params *p;
            double want;
        } v[] = {
            {OP_ELU, &ep, x > 0 ? x : 1.3 * expm1(x)},
            {OP_SELU, &sep, 1.050701 * (x > 0 ? x : 1.6732632 * expm1(x))},
            {OP_SOFTPLUS, &ap, log(1 + exp(x))},
            {OP_SOFTSIGN, &ap, x / (1 + fabs(x))},
            {OP_HARDSIGMOID, &hp, fmax(0, fmin(1, x / 6 + 0.5))},
            {OP_EXP, &ap, exp(x)},
            {OP_GELU, &ap, 0.5 * x * (1 + erf(x / sqrt(2)))},
            {OP_GELU, &gp, 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)))},
        };
        for (size_t j = 0; j < sizeof v / sizeof v[0]; j++) {
            float xf = xs[k], y;
            act_forward(v[j].op, &y, &xf, 1, v[j].p);
            cr_expect(fabs(y - v[j].want) <= 2e-6 * fmax(1, fabs(v[j].want)),
                      "%s(%g) = %.9g, want %.9g", op_name(v[j].op), x, y, v[j].want);
        }
    }
    /* ReLU'(0) = 0, as PyTorch */
    float x0 = 0.0f, y0, d0 = 0.0f, one = 1.0f;
    act_forward(OP_RELU, &y0, &x0, 1, &ap);
    act_backward(OP_RELU, &d0, &one, &y0, &x0, 1, &ap);
    cr_assert_eq(d0, 0.0f);
}

static void gemm_f(const struct fd_case *c, const float *x, float *y)
{
    gemm_forward(y, x, c->w, c->p, c->n);
}
static void gemm_b(const struct fd_case *c, const float *x, const float *y, const float *dy,
                   float *dx)
{
    gemm_backward(dx, dy, c->w, c->p, c->n);
}

Test(engine_fd, gemm_matmul)
{
    static float w[64], bias[8];
    for (int i = 0; i < 64; i++)
        w[i] = nrand();
    for (int i = 0; i < 8; i++)
        bias[i] = nrand();
    struct gemm_params g1 = {
        .rows = 1, .k = 6, .m = 5, .trans_b = 1, .alpha = 0.7f, .beta = 1, .bias = bias};
    struct gemm_params g2 = {.rows = 3, .k = 4, .m = 7, .trans_b = 0, .alpha = 1, .beta = 1};
    struct fd_case c1 = {"gemm transB alpha", 3 * 6, 3 * 5, gemm_f, gemm_b, &g1, w, 3, 0};
    struct fd_case c2 = {"matmul rows", 2 * 3 * 4, 2 * 3 * 7, gemm_f, gemm_b, &g2, w, 2, 0};
    fd_check(&c1, 0);
    fd_check(&c2, 0);
}

/* Eltwise: x packs both operands (a then b) when both are activations. */
struct elt_case {
    struct eltwise_params p;
    size_t na;
};
static void elt_f(const struct fd_case *c, const float *x, float *y)
{
    const struct elt_case *e = c->p;
    eltwise_forward(c->op, y, x, x + e->na, &e->p, c->n);
}
static void elt_b(const struct fd_case *c, const float *x, const float *y, const float *dy,
                  float *dx)
{
    const struct elt_case *e = c->p;
    eltwise_backward(c->op, dx, dx + e->na, dy, x, x + e->na, &e->p, c->n);
}

Test(engine_fd, eltwise_broadcast)
{
    /* a: N x 3 x 4 x 5, b: N x 3 x 1 x 5 (both activations, b broadcast) */
    struct tensor a = {.ndim = 4, .dims = {1, 3, 4, 5}, .batched = 1};
    struct tensor b = {.ndim = 4, .dims = {1, 3, 1, 5}, .batched = 1};
    struct tensor o = {0};
    tensor_update_item(&a), tensor_update_item(&b);
    struct elt_case e;
    char err[128];
    cr_assert_eq(eltwise_prepare(&e.p, &a, &b, &o, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.item, 60);
    int n = 2;
    e.na = a.item * n;
    enum op_type ops[4] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV};
    const char *names[4] = {"add broadcast", "sub broadcast", "mul broadcast", "div broadcast"};
    for (int k = 0; k < 4; k++) {
        struct fd_case c = {
            names[k], (a.item + b.item) * n, o.item * n, elt_f, elt_b, &e, NULL, n, ops[k]};
        fd_check(&c, 1); /* kink-free values keep the divisor away from 0 */
    }
    /* numpy rules: a constant of rank 2 (4 x 5) against N x 3 x 4 x 5 */
    struct tensor k2 = {.ndim = 2, .dims = {4, 5}};
    tensor_update_item(&k2);
    cr_assert_eq(eltwise_prepare(&e.p, &a, &k2, &o, err, sizeof err), 0, "%s", err);
    float A[60], K2[20], Y[60];
    for (int i = 0; i < 60; i++)
        A[i] = (float)i;
    for (int i = 0; i < 20; i++)
        K2[i] = (float)(100 * i);
    eltwise_forward(OP_ADD, Y, A, K2, &e.p, 1);
    for (int i = 0; i < 60; i++)
        cr_assert_eq(Y[i], (float)i + 100.0f * (i % 20));
    /* mismatched shapes are refused */
    struct tensor bad = {.ndim = 2, .dims = {3, 5}};
    tensor_update_item(&bad);
    cr_assert_neq(eltwise_prepare(&e.p, &a, &bad, &o, err, sizeof err), 0);
}

static void tr_f(const struct fd_case *c, const float *x, float *y)
{
    transpose_forward(y, x, c->p, c->n);
}
static void tr_b(const struct fd_case *c, const float *x, const float *y, const float *dy,
                 float *dx)
{
    transpose_backward(dx, dy, c->p, c->n);
}
static void cat_f(const struct fd_case *c, const float *x, float *y)
{
    const struct concat_params *p = c->p;
    const float *ins[2] = {x, x + p->outer * p->inner[0] * c->n};
    concat_forward(y, ins, p, c->n);
}
static void cat_b(const struct fd_case *c, const float *x, const float *y, const float *dy,
                  float *dx)
{
    const struct concat_params *p = c->p;
    float *d[2] = {dx, dx + p->outer * p->inner[0] * c->n};
    concat_backward(d, dy, p, c->n);
}
static void pad_f(const struct fd_case *c, const float *x, float *y)
{
    pad_forward(y, x, c->p, c->n);
}
static void pad_b(const struct fd_case *c, const float *x, const float *y, const float *dy,
                  float *dx)
{
    pad_backward(dx, dy, c->p, c->n);
}
static void cp_f(const struct fd_case *c, const float *x, float *y)
{
    copy_forward(y, x, c->nin / c->n, c->n);
}
static void cp_b(const struct fd_case *c, const float *x, const float *y, const float *dy,
                 float *dx)
{
    copy_backward(dx, dy, c->nin / c->n, c->n);
}

static void sl_f(const struct fd_case *c, const float *x, float *y)
{
    slice_forward(y, x, c->p, c->n);
}
static void sl_b(const struct fd_case *c, const float *x, const float *y, const float *dy,
                 float *dx)
{
    slice_backward(dx, dy, c->p, c->n);
}

Test(engine_fd, shape_ops)
{
    struct transpose_params tp = {
        .ndim = 3, .in_dims = {2, 3, 4}, .perm = {2, 0, 1}, .item = 24};
    struct concat_params cp = {.nin = 2, .outer = 2, .inner = {6, 9}, .out_inner = 15};
    struct pad_params pp = {.ndim = 3,
                            .in_dims = {2, 3, 4},
                            .out_dims = {2, 6, 5},
                            .begin = {0, 1, 1},
                            .in_item = 24,
                            .out_item = 60,
                            .value = 0.5f};
    /* a window 2x3x4 at (0,1,1) of a 2x6x5 item: the pad above, reversed */
    struct pad_params sl = {.ndim = 3,
                            .in_dims = {2, 6, 5},
                            .out_dims = {2, 3, 4},
                            .begin = {0, 1, 1},
                            .in_item = 60,
                            .out_item = 24};
    struct fd_case cs[] = {
        {"transpose", 48, 48, tr_f, tr_b, &tp, NULL, 2, 0},
        {"pad", 48, 120, pad_f, pad_b, &pp, NULL, 2, 0},
        {"concat", 2 * 2 * 15, 2 * 2 * 15, cat_f, cat_b, &cp, NULL, 2, 0},
        {"copy", 30, 30, cp_f, cp_b, NULL, NULL, 3, 0},
        {"slice", 120, 48, sl_f, sl_b, &sl, NULL, 2, 0},
    };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++)
        fd_check(&cs[k], 0);
    /* pad values: the input lands at (c, y+1, x+1), 0.5 elsewhere */
    float pin[24], pout[60];
    for (int i = 0; i < 24; i++)
        pin[i] = (float)i;
    pad_forward(pout, pin, &pp, 1);
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 5; x++) {
                int inside = y >= 1 && y < 4 && x >= 1 && x < 5;
                float want = inside ? pin[(c * 3 + y - 1) * 4 + x - 1] : 0.5f;
                cr_assert_eq(pout[(c * 6 + y) * 5 + x], want, "pad at %d,%d,%d", c, y, x);
            }
    /* slice values: the window of pad's output is pad's input */
    float sout[24];
    slice_forward(sout, pout, &sl, 1);
    for (int i = 0; i < 24; i++)
        cr_assert_eq(sout[i], pin[i], "slice at %d", i);
    /* transpose values: out[i][j][k] = in[j][k][i] for perm (2,0,1) */
    float in[24], out[24];
    for (int i = 0; i < 24; i++)
        in[i] = (float)i;
    transpose_forward(out, in, &tp, 1);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 3; k++)
                cr_assert_eq(out[(i * 2 + j) * 3 + k], in[(j * 3 + k) * 4 + i]);
}

/* ---------------------------------------------------------------- malformed files */
/* Mutated and truncated copies of a valid model: each either loads (and then
 * runs) or is refused with ERR_INPUT; never a crash (run under DEBUG=1). */
Test(engine, mutated_models_never_crash)
{
    FILE *fp = fopen(MDIR "tiny.onnx", "rb");
    cr_assert(fp);
    unsigned char buf[4096], mut[4096];
    size_t len = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    int loaded = 0, refused = 0;
    float x[16] = {0};
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(mut, buf, len);
        size_t l = len;
        int edits = 1 + (int)(urand() * 4);
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)(urand() * (double)len);
            mut[at] = (unsigned char)(urand() * 256);
        }
        if (iter % 7 == 0) l = (size_t)(urand() * (double)len);
        error_clear();
        struct model *m = model_parse(mut, l, "mutated.onnx");
        if (!m) {
            cr_assert_eq(error_code(), ERR_INPUT, "iteration %d: code %d (%s)", iter,
                         error_code(), error_message());
            refused++;
            continue;
        }
        loaded++;
        if (model_tensor_item(m, model_input(m)) <= 16) {
            struct model_run *r = model_run_new(m, 1, MODEL_RUN_BACKWARD, NULL, 0);
            if (r) {
                model_forward(r, x, 1);
                model_run_free(r);
            }
        }
        model_free(m);
    }
    cr_log_info("mutations: %d loaded, %d refused", loaded, refused);
    cr_assert(refused > 0);
}

/* A batch goes through the conv layers one item at a time per thread (the
 * segments): the kept activations of each item equal, bit for bit, those of
 * the same image run alone (whose convs split into row tiles instead) on the
 * 128x128 model and the Fashion-MNIST one. */
Test(engine, batch_items_equal_single_runs)
{
    const char *names[] = {"rgb", "fmnist"};
    for (int k = 0; k < 2; k++) {
        struct model *m = load_ok(names[k]);
        int cam = model_default_cam_layer(m), B = 9;
        size_t item = model_tensor_item(m, model_input(m)), ca = model_tensor_item(m, cam);
        float *x = malloc(sizeof(float) * item * B);
        struct rng g;
        rng_seed(&g, 5);
        for (size_t i = 0; i < item * B; i++)
            x[i] = (float)rng_uniform(&g);
        struct model_run *rb = model_run_new(m, B, MODEL_RUN_FORWARD, &cam, 1);
        struct model_run *r1 = model_run_new(m, 1, MODEL_RUN_FORWARD, &cam, 1);
        cr_assert(rb && r1, "%s", error_message());
        cr_assert_eq(model_forward(rb, x, B), 0);
        for (int b = 0; b < B; b++) {
            cr_assert_eq(model_forward(r1, x + b * item, 1), 0);
            cr_expect(!memcmp(model_run_tensor(rb, cam) + b * ca, model_run_tensor(r1, cam),
                              sizeof(float) * ca),
                      "%s item %d: the batch's %s differs from the image run alone", names[k],
                      b, model_tensor_name(m, cam));
        }
        model_run_free(rb), model_run_free(r1);
        free(x);
        model_free(m);
    }
}

/* The dense layers too (issue 18): each item's latent and probabilities in
 * batches of 9, in another order, two at a time and alone, with one thread
 * and with two, are the same bytes. One sgemm over the batch rounded a row
 * differently beside other rows; a sharded embed and an --on-error skip
 * batch one image short rely on a row being the same in any batch. */
Test(engine, dense_rows_do_not_depend_on_the_batch_or_threads)
{
    const char *names[] = {"rgb", "fmnist"};
#ifdef _OPENMP
    int saved = omp_get_max_threads();
#endif
    for (int k = 0; k < 2; k++) {
        struct model *m = load_ok(names[k]);
        int lat = model_default_latent(m), B = 9, K = model_prob_classes(m);
        size_t item = model_tensor_item(m, model_input(m)), d = model_tensor_item(m, lat);
        float *x = malloc(sizeof(float) * item * B), *y = malloc(sizeof(float) * item * B);
        float *lat9 = malloc(sizeof(float) * d * B), *p9 = malloc(sizeof(float) * K * B);
        float *p = malloc(sizeof(float) * K * B);
        struct rng g;
        rng_seed(&g, 7);
        for (size_t i = 0; i < item * B; i++)
            x[i] = (float)rng_uniform(&g);
        const int perm[9] = {4, 8, 0, 3, 7, 1, 6, 2, 5}; /* y's item i is x's perm[i] */
        for (int i = 0; i < B; i++)
            memcpy(y + i * item, x + perm[i] * item, sizeof(float) * item);
        for (int nt = 1; nt <= 2; nt++) {
#ifdef _OPENMP
            omp_set_num_threads(nt);
#endif
            struct model_run *r = model_run_new(m, B, MODEL_RUN_FORWARD, &lat, 1);
            cr_assert(r, "%s", error_message());
            cr_assert_eq(model_forward(r, x, B), 0);
            if (nt == 1) {
                memcpy(lat9, model_run_tensor(r, lat), sizeof(float) * d * B);
                model_run_probs(r, p9);
            } else {
                cr_expect(!memcmp(lat9, model_run_tensor(r, lat), sizeof(float) * d * B),
                          "%s: the latent differs with 2 threads", names[k]);
            }
            cr_assert_eq(model_forward(r, y, B), 0);
            model_run_probs(r, p);
            for (int i = 0; i < B; i++) {
                cr_expect(!memcmp(model_run_tensor(r, lat) + i * d, lat9 + perm[i] * d,
                                  sizeof(float) * d),
                          "%s: item %d's latent differs at another place in the batch",
                          names[k], perm[i]);
                cr_expect(!memcmp(p + i * K, p9 + perm[i] * K, sizeof(float) * K),
                          "%s: item %d's probabilities differ", names[k], perm[i]);
            }
            for (int i = 0; i + 1 < B; i += 2) { /* two at a time, then alone */
                for (int n = 2; n >= 1; n--) {
                    cr_assert_eq(model_forward(r, x + i * item, n), 0);
                    model_run_probs(r, p);
                    for (int t = 0; t < n; t++)
                        cr_expect(!memcmp(model_run_tensor(r, lat) + t * d, lat9 + (i + t) * d,
                                          sizeof(float) * d) &&
                                      !memcmp(p + t * K, p9 + (i + t) * K, sizeof(float) * K),
                                  "%s: item %d in a batch of %d differs from the batch of 9",
                                  names[k], i + t, n);
                }
            }
            model_run_free(r);
        }
#ifdef _OPENMP
        omp_set_num_threads(saved);
#endif
        free(x), free(y), free(lat9), free(p9), free(p);
        model_free(m);
    }
}

/* ---------------------------------------------------------------- forward from a tensor */
/* A random input item for model m. */
static float *random_input(const struct model *m, int n, uint64_t seed)
{
    size_t item = model_tensor_item(m, model_input(m));
    float *x = xmalloc(sizeof(float) * item * (size_t)n);
    struct rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < item * (size_t)n; i++)
        x[i] = (float)rng_uniform(&r);
    return x;
}

/* model_forward_from(t) with t's own values gives the full forward's
 * logits; with n items of different inputs (a sequential model), each item's
 * logits are those of its input; in a forward-only run keeping what
 * model_forward_from_keep lists as in a backward run. */
static void check_forward_from(const char *name, const char *layer_name)
{
    struct model *m = load_ok(name);
    int t = model_tensor_find(m, layer_name), lg = model_logits(m), n = 3;
    cr_assert(t >= 0, "%s: no %s", name, layer_name);
    size_t item = model_tensor_item(m, t), K = model_tensor_item(m, lg);
    float *x = random_input(m, n, 7), *a = xmalloc(sizeof(float) * item * n);
    float *ref = xmalloc(sizeof(float) * K * n), *got = xmalloc(sizeof(float) * K * n);
    int keep[64], nk = model_forward_from_keep(m, t, keep, 64);
    cr_assert(nk >= 1 && nk <= 64 && keep[0] == t);
    for (int mode = 0; mode < 2; mode++) {
        struct model_run *r = mode ? model_run_new(m, n, MODEL_RUN_BACKWARD, NULL, 0)
                                   : model_run_new(m, n, MODEL_RUN_FORWARD, keep, nk);
        cr_assert(r);
        /* one image at a time: the reference logits and t's values */
        for (int i = 0; i < n; i++) {
            size_t in = model_tensor_item(m, model_input(m));
            cr_assert_eq(model_forward(r, x + i * in, 1), 0);
            memcpy(ref + i * K, model_run_tensor(r, lg), sizeof(float) * K);
            memcpy(a + i * item, model_run_tensor(r, t), sizeof(float) * item);
        }
        /* the last forward was image n-1: item 0 of the other inputs is its */
        cr_assert_eq(model_forward_from(r, t, a + (n - 1) * item, 1), 0, "%s", error_message());
        check_abs(model_run_tensor(r, lg), ref + (n - 1) * K, K, 1e-5, "forward_from, 1 item");
        if (nk == 1) { /* nothing else read after t: items are independent */
            cr_assert_eq(model_forward_from(r, t, a, n), 0, "%s", error_message());
            memcpy(got, model_run_tensor(r, lg), sizeof(float) * K * n);
            check_abs(got, ref, K * n, 1e-5, "forward_from, n items");
        } else { /* the others come from item 0: n copies of image 0's values */
            cr_assert_eq(model_forward(r, x, 1), 0);
            for (int i = 1; i < n; i++)
                memcpy(a + i * item, a, sizeof(float) * item);
            cr_assert_eq(model_forward_from(r, t, a, n), 0, "%s", error_message());
            for (int i = 0; i < n; i++)
                check_abs(model_run_tensor(r, lg) + i * K, ref, K, 1e-5,
                          "forward_from, spread");
        }
        model_run_free(r);
    }
    free(x), free(a), free(ref), free(got);
    model_free(m);
}

Test(engine, forward_from_rgb)
{
    check_forward_from("rgb", "/Relu_1_output_0");
}
Test(engine, forward_from_ops_side_inputs)
{
    check_forward_from("ops", "/Sub_1_output_0");
    check_forward_from("ops", "/Relu_output_0");
}
Test(engine, forward_from_nhwc)
{
    check_forward_from("nhwc", "r2");
}

Test(engine, forward_from_errors)
{
    struct model *m = load_ok("ops");
    int t = model_tensor_find(m, "/Relu_output_0");
    struct model_run *r = model_run_new(m, 2, MODEL_RUN_FORWARD, &t, 1);
    float *x = random_input(m, 2, 3);
    cr_expect_eq(model_forward_from(r, t, x, 1), ERR_FAIL, "before any forward");
    model_forward(r, x, 1);
    cr_expect_eq(model_forward_from(r, t, model_run_tensor(r, t), 3), ERR_INPUT);
    struct model_node_info conv;
    model_node_info(m, 0, &conv); /* the first Conv, fused with its BatchNormalization */
    cr_expect_eq(model_forward_from(r, conv.output, x, 1), ERR_FAIL);
    cr_expect(strstr(error_message(), "keep"), "%s", error_message());
    int keep[64], nk = model_forward_from_keep(m, t, keep, 64);
    if (nk > 1) { /* a side input not kept is refused */
        cr_expect_eq(model_forward_from(r, t, model_run_tensor(r, t), 1), ERR_FAIL);
        cr_expect(strstr(error_message(), "also reads"), "%s", error_message());
    }
    cr_expect(model_tensor_depends(m, model_logits(m), t));
    cr_expect(!model_tensor_depends(m, t, model_logits(m)));
    free(x);
    model_run_free(r);
    model_free(m);
}

/* ---------------------------------------------------------------- guided backward */
Test(engine, relu_backward_guided)
{
    float inp[4] = {1, -1, 2, 0}, dout[4] = {0.5f, 0.5f, -3, 2}, d[4] = {1, 1, 1, 1};
    relu_backward_guided(d, dout, inp, 4);
    float want[4] = {1.5f, 1, 1, 1}; /* only x > 0 and dout > 0 pass */
    for (int i = 0; i < 4; i++)
        cr_expect_eq(d[i], want[i], "element %d: %g", i, d[i]);
    /* in a run: the flag changes only the gradient, and turning it off restores it */
    struct model *m = load_ok("fmnist");
    struct model_run *r = model_run_new(m, 1, MODEL_RUN_BACKWARD, NULL, 0);
    float *x = random_input(m, 1, 11);
    size_t n = model_tensor_item(m, model_input(m));
    float *g0 = xmalloc(sizeof(float) * n), *g1 = xmalloc(sizeof(float) * n);
    int cls = 3;
    model_forward(r, x, 1);
    model_backward_class(r, &cls, model_input(m));
    memcpy(g0, model_run_grad(r, model_input(m)), sizeof(float) * n);
    model_run_set_guided(r, 1);
    model_backward_class(r, &cls, model_input(m));
    memcpy(g1, model_run_grad(r, model_input(m)), sizeof(float) * n);
    double diff = 0;
    for (size_t i = 0; i < n; i++)
        diff += fabs(g0[i] - g1[i]);
    cr_expect(diff > 0, "guided gradient equals the plain one");
    model_run_set_guided(r, 0);
    model_backward_class(r, &cls, model_input(m));
    check_abs(model_run_grad(r, model_input(m)), g0, n, 0, "guided off again");
    free(x), free(g0), free(g1);
    model_run_free(r);
    model_free(m);
}

/* ---------------------------------------------------------------- clones */
Test(engine, clone_and_randomize)
{
    struct model *m = load_ok("fmnist");
    cr_assert_eq(model_weight_layer_count(m), 5, "3 convs and 2 dense layers");
    struct model *c = model_clone(m);
    cr_assert(c, "%s", error_message());
    float *x = random_input(m, 1, 5);
    struct model_run *ro = model_run_new(m, 1, MODEL_RUN_FORWARD, NULL, 0);
    struct model_run *rc = model_run_new(c, 1, MODEL_RUN_FORWARD, NULL, 0);
    size_t K = (size_t)model_num_classes(m);
    float ref[16];
    model_forward(ro, x, 1);
    memcpy(ref, model_run_tensor(ro, model_logits(m)), sizeof(float) * K);
    model_forward(rc, x, 1);
    check_abs(model_run_tensor(rc, model_logits(c)), ref, K, 0, "clone's logits");
    model_run_free(rc);
    cr_expect_eq(model_weight_layer_randomize(m, 0, 1), ERR_FAIL, "only clones");
    cr_expect_eq(model_weight_layer_randomize(c, 5, 1), ERR_INPUT);
    for (int i = 0; i < 5; i++) {
        struct model_weight_layer L;
        cr_assert_eq(model_weight_layer_info(c, i, &L), 0);
        cr_expect(L.bias >= 0, "layer %d (%s) has a bias", i, L.name);
        cr_assert_eq(model_weight_layer_randomize(c, i, 42), 0);
        const float *w = model_run_tensor(ro, L.weight); /* constants: their values */
        double b = 1.0 / sqrt(L.fan_in), s = 0, s2 = 0;
        struct rng r;
        rng_seed(&r, 42 + (uint64_t)i);
        const float *cw = NULL;
        struct model_run *tmp = model_run_new(c, 1, MODEL_RUN_BACKWARD, NULL, 0);
        cw = model_run_tensor(tmp, L.weight);
        cr_expect_neq(w, cw, "the clone's weights are its own");
        for (size_t k = 0; k < L.nweight; k++) {
            cr_assert(fabs(cw[k]) <= b, "layer %d weight %zu: %g outside +-%g", i, k, cw[k], b);
            cr_assert_eq(cw[k], (float)(b * (2 * rng_uniform(&r) - 1)));
            s += cw[k], s2 += (double)cw[k] * cw[k];
        }
        double var = s2 / L.nweight - (s / L.nweight) * (s / L.nweight);
        cr_expect(fabs(var - b * b / 3) < 0.1 * b * b, "layer %d: variance %g vs %g", i, var,
                  b * b / 3);
        model_run_free(tmp);
    }
    rc = model_run_new(c, 1, MODEL_RUN_FORWARD, NULL, 0);
    model_forward(rc, x, 1);
    double d = 0;
    for (size_t k = 0; k < K; k++)
        d += fabs(model_run_tensor(rc, model_logits(c))[k] - ref[k]);
    cr_expect(d > 1e-3, "randomised clone gives the same logits");
    model_forward(ro, x, 1);
    check_abs(model_run_tensor(ro, model_logits(m)), ref, K, 0, "the original is untouched");
    model_run_free(rc);
    model_run_free(ro);
    model_free(c);
    free(x);
    /* a MatMul's bias in the Add after it (Keras through tf2onnx) */
    m = load_ok("nhwc");
    int found = 0;
    for (int i = 0; i < model_weight_layer_count(m); i++) {
        struct model_weight_layer L;
        model_weight_layer_info(m, i, &L);
        found += L.bias_node >= 0;
    }
    cr_expect_eq(found, 2, "both MatMul + Add layers");
    model_free(m);
}

/* A lean backward run (fused Conv -> BN -> Relu in its forward) gives the
 * plain run's gradients, at the input and at a kept layer. */
Test(engine, lean_backward_same_gradients)
{
    static const char *const names[] = {"fmnist", "rgb", "ops", "nhwc", "fmnist_folded"};
    for (int k = 0; k < 5; k++) {
        struct model *m = load_ok(names[k]);
        int layer = model_default_cam_layer(m), n = 2, in = model_input(m);
        struct model_run *a = model_run_new(m, n, MODEL_RUN_BACKWARD, NULL, 0);
        struct model_run *b =
            model_run_new(m, n, MODEL_RUN_BACKWARD | MODEL_RUN_LEAN, &layer, 1);
        cr_assert(a && b);
        float *x = random_input(m, n, 21 + (uint64_t)k);
        int cls[2] = {1, 0};
        for (int to = 0; to < 2; to++) {
            int t = to ? layer : in;
            model_forward(a, x, n), model_forward(b, x, n);
            cr_assert_eq(model_backward_class(a, cls, t), 0);
            cr_assert_eq(model_backward_class(b, cls, t), 0);
            char what[96];
            snprintf(what, sizeof what, "%s: lean gradient at %s", names[k],
                     to ? "the layer" : "the input");
            check_rel(model_run_grad(b, t), model_run_grad(a, t),
                      model_tensor_item(m, t) * (size_t)n, 1e-4, what);
            check_rel(model_run_tensor(b, layer), model_run_tensor(a, layer),
                      model_tensor_item(m, layer) * (size_t)n, 1e-5, "the kept layer");
        }
        free(x);
        model_run_free(a);
        model_run_free(b);
        model_free(m);
    }
}

/* The 2x2 max-pool (its AVX2 path on 8 windows at once and the scalar tail)
 * against the rule written out: the first maximum in row-major window order,
 * a NaN propagating (the first one wins), argmax = y * W + x; many ties. */
Test(engine, maxpool2x2_first_max)
{
    struct rng r;
    rng_seed(&r, 9);
    for (int trial = 0; trial < 4; trial++) {
        int C = 3, H = 2 * (5 + trial * 7), W = 2 * (3 + trial * 9) + (trial & 1);
        struct pool_params p = {.c = C,
                                .h = H,
                                .w = W,
                                .oh = H / 2,
                                .ow = W / 2,
                                .kh = 2,
                                .kw = 2,
                                .sh = 2,
                                .sw = 2};
        size_t in = (size_t)C * H * W, on = (size_t)C * p.oh * p.ow;
        float *x = xmalloc(sizeof(float) * in), *y = xmalloc(sizeof(float) * on);
        int32_t *am = xmalloc(sizeof(int32_t) * on);
        for (size_t i = 0; i < in; i++)
            x[i] = (float)(int)(rng_uniform(&r) * 3); /* 0, 1, 2: ties everywhere */
        if (trial >= 2) x[5] = NAN, x[W + 17] = NAN;
        maxpool_forward(y, am, x, &p, 1);
        for (int c = 0; c < C; c++)
            for (int oy = 0; oy < p.oh; oy++)
                for (int ox = 0; ox < p.ow; ox++) {
                    const float *pl = x + (size_t)c * H * W;
                    int best = -1;
                    for (int k = 0; k < 4; k++) {
                        int at = (2 * oy + k / 2) * W + 2 * ox + k % 2;
                        if (best < 0 || pl[at] > pl[best] ||
                            (isnan(pl[at]) && !isnan(pl[best])))
                            best = at;
                    }
                    size_t o = ((size_t)c * p.oh + oy) * p.ow + ox;
                    cr_assert_eq(am[o], best, "trial %d plane %d (%d,%d): argmax %d, want %d",
                                 trial, c, oy, ox, am[o], best);
                    cr_assert(y[o] == pl[best] || (isnan(y[o]) && isnan(pl[best])));
                }
        free(x), free(y), free(am);
    }
}

/* check() on every instruction-set level this CPU runs, each forced in
 * turn, then the default level back. */
static void on_every_isa(void (*check)(void))
{
    enum conv_isa saved = conv_isa_default();
    for (int isa = CONV_ISA_PORTABLE; isa <= (int)conv_isa_best(); isa++) {
        cr_assert_eq(conv_isa_set((enum conv_isa)isa), 0);
        check();
    }
    conv_isa_set(saved);
}

/* The model runs' dense kernel (gemm_pack + gemm_forward_part) against a
 * double-precision sum, on shapes that leave partial column blocks and input
 * chunks, both weight layouts, alpha and bias, on every level the CPU has:
 * each row's result the same bytes alone, in any batch and for any split
 * over threads. */
static void packed_dense_check(void);
Test(engine, packed_dense_matches_a_double_sum)
{
    on_every_isa(packed_dense_check);
}

static void packed_dense_check(void)
{
    const int shapes[][3] = {{1, 5, 1}, {7, 33, 3}, {9, 1100, 47}, {6, 513, 128}, {13, 64, 16}};
    struct rng g;
    rng_seed(&g, 11);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int tb = 0; tb < 2; tb++) {
            int R = shapes[s][0], K = shapes[s][1], M = shapes[s][2];
            float *w = malloc(sizeof(float) * K * M), *x = malloc(sizeof(float) * R * K);
            float *bias = malloc(sizeof(float) * M), *y = malloc(sizeof(float) * R * M);
            float *y1 = malloc(sizeof(float) * M), *y2 = malloc(sizeof(float) * R * M);
            for (int i = 0; i < K * M; i++)
                w[i] = (float)rng_uniform(&g) - 0.5f;
            for (int i = 0; i < R * K; i++)
                x[i] = (float)rng_uniform(&g) * 2 - 1;
            for (int j = 0; j < M; j++)
                bias[j] = (float)rng_uniform(&g);
            struct gemm_params p = {.rows = 1,
                                    .k = K,
                                    .m = M,
                                    .trans_b = tb,
                                    .alpha = 0.75f,
                                    .beta = 1,
                                    .bias = bias};
            float *pk = malloc(sizeof(float) * gemm_pack_floats(&p));
            gemm_pack(pk, w, &p);
            gemm_forward_part(y, x, pk, &p, R, 0, 1);
            for (int r = 0; r < R; r++)
                for (int j = 0; j < M; j++) {
                    double sum = 0, mag = 0;
                    for (int k = 0; k < K; k++) {
                        double t = (double)x[r * K + k] * (tb ? w[j * K + k] : w[k * M + j]);
                        sum += t, mag += fabs(t);
                    }
                    double want = 0.75 * sum + bias[j];
                    cr_assert(fabs(y[r * M + j] - want) <= 1e-6 * (mag + fabs(bias[j])),
                              "%dx%dx%d trans_b %d: [%d][%d] %.9g, want %.9g", R, K, M, tb, r,
                              j, y[r * M + j], want);
                }
            for (int r = 0; r < R; r++) { /* a row alone */
                gemm_forward_part(y1, x + (size_t)r * K, pk, &p, 1, 0, 1);
                cr_assert(!memcmp(y1, y + (size_t)r * M, sizeof(float) * M),
                          "%dx%dx%d: row %d alone differs", R, K, M, r);
            }
            for (int nt = 2; nt <= 3; nt++) { /* the columns split over threads */
                for (int t = 0; t < nt; t++)
                    gemm_forward_part(y2, x, pk, &p, R, t, nt);
                cr_assert(!memcmp(y2, y, sizeof(float) * R * M), "%dx%dx%d: %d threads differ",
                          R, K, M, nt);
            }
            free(w), free(x), free(bias), free(y), free(y1), free(y2), free(pk);
        }
}

static void relu_unpool_check(void)
{
    const int shapes[][2] = {{1, 1}, {5, 13}, {4, 8}, {3, 16}, {7, 33}};
    struct rng g;
    rng_seed(&g, 13);
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++)
        for (int guided = 0; guided < 2; guided++) {
            int oh = shapes[t][0], ow = shapes[t][1], h = 2 * oh, w = 2 * ow;
            size_t ip = (size_t)h * w, op = (size_t)oh * ow;
            float *x = malloc(sizeof(float) * ip), *y = malloc(sizeof(float) * op);
            float *dy = malloc(sizeof(float) * op), *d = malloc(sizeof(float) * ip);
            float *want = calloc(ip, sizeof(float));
            int32_t *am = malloc(sizeof(int32_t) * op);
            for (size_t i = 0; i < ip; i++) { /* ReLU'd, coarse: ties and zero windows */
                float v = (float)(int)(rng_uniform(&g) * 6) - 2;
                x[i] = v > 0 ? v : 0;
            }
            for (size_t i = 0; i < op; i++)
                dy[i] = (float)rng_uniform(&g) * 2 - 1;
            struct pool_params p = {
                .c = 1, .h = h, .w = w, .oh = oh, .ow = ow, .kh = 2, .kw = 2, .sh = 2, .sw = 2};
            maxpool_forward(y, am, x, &p, 1);
            for (size_t k = 0; k < op; k++)
                if (x[am[k]] > 0 && (!guided || dy[k] > 0)) want[am[k]] = 0.5f * dy[k];
            for (size_t i = 0; i < ip; i++)
                d[i] = NAN; /* written whole */
            maxpool2x2_relu_backward(d, dy, y, am, oh, ow, 0.5f, guided);
            cr_assert(!memcmp(d, want, sizeof(float) * ip), "%dx%d guided %d: differs", oh, ow,
                      guided);
            free(x), free(y), free(dy), free(d), free(want), free(am);
        }
}

/* ReLU -> 2x2 MaxPool's fused gradient (the pool chains of lean runs)
 * against the scatter it replaces, on every level the CPU has. */
Test(engine, relu_maxpool_backward_matches_the_scatter)
{
    on_every_isa(relu_unpool_check);
}

static void dense_backward_check(void);

/* The runs' input gradient of a dense layer against a double sum: each
 * input's sum the same for a row alone and with the inputs split over
 * threads, both weight layouts (trans_b: in place; else the transposed copy),
 * on every level the CPU has. */
Test(engine, dense_backward_matches_a_double_sum)
{
    on_every_isa(dense_backward_check);
}

static void dense_backward_check(void)
{
    const int shapes[][3] = {{1, 5, 1}, {7, 33, 3}, {9, 1100, 47}, {6, 512, 128}, {13, 64, 16}};
    struct rng g;
    rng_seed(&g, 12);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int tb = 0; tb < 2; tb++) {
            int R = shapes[s][0], K = shapes[s][1], M = shapes[s][2];
            float *w = malloc(sizeof(float) * K * M), *dy = malloc(sizeof(float) * R * M);
            float *dx = malloc(sizeof(float) * R * K), *dx1 = malloc(sizeof(float) * K);
            float *dx2 = malloc(sizeof(float) * R * K), *ref = malloc(sizeof(float) * R * K);
            for (int i = 0; i < K * M; i++)
                w[i] = (float)rng_uniform(&g) - 0.5f;
            for (int i = 0; i < R * M; i++)
                dy[i] = (float)rng_uniform(&g) * 2 - 1;
            struct gemm_params p = {.rows = 1, .k = K, .m = M, .trans_b = tb, .alpha = 0.75f};
            size_t nw = gemm_bwd_pack_floats(&p);
            cr_assert_eq(nw, tb ? 0 : (size_t)K * M);
            float *wt = tb ? w : malloc(sizeof(float) * nw);
            if (!tb) gemm_bwd_pack(wt, w, &p);
            for (int i = 0; i < R * K; i++) /* accumulated: start from 1 */
                dx[i] = dx2[i] = ref[i] = 1.0f;
            gemm_backward_part(dx, dy, wt, &p, R, 0, 1);
            gemm_backward(ref, dy, w, &p, R); /* the sgemm */
            for (int r = 0; r < R; r++)
                for (int k = 0; k < K; k++) {
                    double sum = 0, mag = 0;
                    for (int j = 0; j < M; j++) {
                        double t = (double)dy[r * M + j] * (tb ? w[j * K + k] : w[k * M + j]);
                        sum += t, mag += fabs(t);
                    }
                    double want = 1 + 0.75 * sum;
                    cr_assert(fabs(dx[r * K + k] - want) <= 1e-6 * (mag + 1),
                              "%dx%dx%d trans_b %d: [%d][%d] %.9g, want %.9g", R, K, M, tb, r,
                              k, dx[r * K + k], want);
                    cr_assert(fabs(ref[r * K + k] - want) <= 1e-6 * (mag + 1));
                }
            for (int r = 0; r < R; r++) { /* a row alone */
                for (int k = 0; k < K; k++)
                    dx1[k] = 1.0f;
                gemm_backward_part(dx1, dy + (size_t)r * M, wt, &p, 1, 0, 1);
                cr_assert(!memcmp(dx1, dx + (size_t)r * K, sizeof(float) * K),
                          "%dx%dx%d: row %d alone differs", R, K, M, r);
            }
            for (int t = 0; t < 3; t++) /* the inputs split over 3 threads */
                gemm_backward_part(dx2, dy, wt, &p, R, t, 3);
            cr_assert(!memcmp(dx2, dx, sizeof(float) * R * K), "%dx%dx%d: 3 threads differ", R,
                      K, M);
            if (!tb) free(wt);
            free(w), free(dy), free(dx), free(dx1), free(dx2), free(ref);
        }
}
