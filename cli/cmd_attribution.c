/* cmd_attribution.c - `interp attribution MODEL IMG...`: input attributions
 * with Captum's definitions (Integrated Gradients, SmoothGrad, Gradient x
 * Input, Guided Backpropagation, Guided Grad-CAM) per image and class,
 * written by the explanation helpers (explain.c) plus the full attribution.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../analysis/attribution.h"
#include "../core/array.h"
#include "../core/error.h"
#include "../core/image.h"
#include "../core/model.h"
#include "../core/util.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp attribution MODEL IMG... [--method NAME] [--class pred|INDEX|NAME|all]\n"
    "                          [--steps N] [--baseline black|gray|blur] [--integration RULE]\n"
    "                          [--samples N] [--noise S] [--seed N] [--layer NAME]\n"
    "                          [--batch N] [--colormap MAP] [--alpha A] [--classes NAMES]\n"
    "                          [--outputs LIST] [--on-error stop|skip] [--scale S]\n"
    "                          [--mean M] [--std S] [-o DIR] [--json] [--shard K/N [--force]]\n"
    "\n"
    "Input attributions, as Captum defines them: how much each input value (after\n"
    "preprocessing) adds to the class score f (the logit before any final\n"
    "Softmax/Sigmoid). --method:\n"
    "  ig               Integrated Gradients (default): (x - x') times the integral of\n"
    "                   df/dx from the baseline x' to x. --steps N (default 50),\n"
    "                   --integration gausslegendre (Captum's default) | riemann_left |\n"
    "                   riemann_right | riemann_middle | riemann_trapezoid, --baseline\n"
    "                   black (default) | gray | blur (RISE's 11x11 Gaussian, sigma 5).\n"
    "                   The JSON gives the completeness gap sum - (f(x) - f(x')).\n"
    "  smoothgrad       mean of |df/dx| over --samples N (default 25) noisy copies,\n"
    "                   noise N(0, S^2) in the model's input units: --noise S (default\n"
    "                   15% of the image's value range), drawn from --seed (default 0)\n"
    "  gxi              gradient x input\n"
    "  guided-backprop  df/dx with every ReLU passing only positive gradients\n"
    "  guided-gradcam   guided backprop times Grad-CAM at --layer (nearest upsampling)\n"
    "Per image and class, in DIR (default attribution-out):\n"
    "  STEM.cK.METHOD.attr.npy    the attribution, C x H x W\n"
    "  STEM.cK.METHOD.input.npy   the map: its sum over the channels, H x W\n"
    "  STEM.cK.METHOD.heatmap.png colour heatmap (diverging, symmetric about 0)\n"
    "  STEM.cK.METHOD.overlay.png the heat over the original image, at its size\n"
    "  STEM.cK.METHOD.json        class, probability, map min/max, parameters, flag\n"
    "--class: pred (default), all, an index, or a name from --classes. --colormap:\n"
    "coolwarm (default), jet, viridis, inferno, magma, turbo. --batch: items per\n"
    "forward/backward pass (default 16). --outputs npy,heatmap,overlay,json chooses\n"
    "the files (all by default; npy covers attr.npy and input.npy). --on-error skip\n"
    "leaves unreadable images out and lists them in skipped.txt. --shard K/N explains\n"
    "the K-th of N slices of the list into a part folder for `interp merge`, as\n"
    "gradcam does.\n";

enum {
    OPT_METHOD = OPT_COMMAND_BASE,
    OPT_STEPS,
    OPT_BASELINE,
    OPT_INTEGRATION,
    OPT_SAMPLES,
    OPT_NOISE,
    OPT_LAYER,
    OPT_BATCH
};

struct attr_extra {
    const struct attr *a;
    enum attr_method method;
    const struct attr_info *info;
    const char *attr_path;
    double seconds;
};

static void json_num(struct json *j, const char *key, double v)
{
    json_key(j, key);
    if (isfinite(v))
        json_double(j, v);
    else
        json_null(j);
}

static void attr_json(struct json *j, void *ctx)
{
    const struct attr_extra *e = ctx;
    const struct attr_params *p = &e->a->p;
    if (e->method == ATTR_IG) {
        json_key(j, "steps");
        json_int(j, p->steps);
        json_key(j, "integration");
        json_string(j, attr_integration_name(p->integration));
        json_key(j, "baseline");
        json_string(j, attr_baseline_name(p->baseline));
        json_num(j, "f_input", e->info->score);
        json_num(j, "f_baseline", e->info->f_base);
        json_num(j, "attribution_sum", e->info->sum);
        json_num(j, "completeness_gap", e->info->gap);
    } else if (e->method == ATTR_SMOOTHGRAD) {
        json_key(j, "samples");
        json_int(j, p->samples);
        json_num(j, "noise", e->info->noise);
        json_key(j, "seed");
        json_int(j, (int64_t)p->seed);
    }
    if (e->attr_path) {
        json_key(j, "attribution_npy");
        json_string(j, e->attr_path);
    }
    json_key(j, "seconds");
    json_double(j, e->seconds);
}

/* The attribution as C x H x W float32 .npy (NHWC models transposed). */
static int write_attr(const char *path, const struct attr *a, const float *at)
{
    size_t shape[3] = {(size_t)a->in.c, (size_t)a->in.h, (size_t)a->in.w};
    size_t hw = shape[1] * shape[2];
    struct array *arr = array_new(DT_F32, 3, shape);
    if (!arr) return ERR_FAIL;
    float *d = (float *)arr->data;
    for (size_t c = 0; c < shape[0]; c++)
        for (size_t p = 0; p < hw; p++)
            d[c * hw + p] = a->in.layout == MODEL_NHWC ? at[p * shape[0] + c] : at[c * hw + p];
    int rc = npy_write(path, arr);
    array_free(arr);
    return rc;
}

static int parse_name(const char *opt, const char *what, const char *arg,
                      int (*parse)(const char *), const char *(*name)(int), int n)
{
    int v = parse(arg);
    if (v >= 0) return v;
    const char *names[16];
    for (int k = 0; k < n && k < 16; k++)
        names[k] = name(k);
    exit(cli_unknown_name(opt, what, arg, names, n));
}

static const char *method_name_i(int k)
{
    return attr_method_name(k);
}
static const char *baseline_name_i(int k)
{
    return attr_baseline_name(k);
}
static const char *integration_name_i(int k)
{
    return attr_integration_name(k);
}

int cmd_attribution(int argc, char **argv)
{
    static const struct option opts[] = {{"method", required_argument, 0, OPT_METHOD},
                                         {"steps", required_argument, 0, OPT_STEPS},
                                         {"baseline", required_argument, 0, OPT_BASELINE},
                                         {"integration", required_argument, 0, OPT_INTEGRATION},
                                         {"samples", required_argument, 0, OPT_SAMPLES},
                                         {"noise", required_argument, 0, OPT_NOISE},
                                         {"layer", required_argument, 0, OPT_LAYER},
                                         {"batch", required_argument, 0, OPT_BATCH},
                                         EXPLAIN_LONG_OPTIONS,
                                         COMMON_LONG_OPTIONS,
                                         {0}};
    struct cli_common c = cli_common_default(USAGE);
    struct model_prep prep = model_prep_default();
    struct explain_setup s = explain_setup_default(&c, "attribution", "coolwarm");
    struct attr_params p = attr_params_default();
    enum attr_method method = ATTR_IG;
    const char *layer_name = NULL;
    int ch, status;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case OPT_METHOD:
            method = parse_name("--method", "attribution method", optarg, attr_method_parse,
                                method_name_i, ATTR_METHOD_COUNT);
            break;
        case OPT_STEPS:
            p.steps = (int)cli_parse_long("--steps", optarg, 1, ATTR_STEPS_MAX);
            break;
        case OPT_BASELINE:
            p.baseline = parse_name("--baseline", "baseline", optarg, attr_baseline_parse,
                                    baseline_name_i, 3);
            break;
        case OPT_INTEGRATION:
            p.integration = parse_name("--integration", "integration rule", optarg,
                                       attr_integration_parse, integration_name_i, 5);
            break;
        case OPT_SAMPLES:
            p.samples = (int)cli_parse_long("--samples", optarg, 1, ATTR_SAMPLES_MAX);
            break;
        case OPT_NOISE: p.noise = cli_parse_double("--noise", optarg, 0, 1e30); break;
        case OPT_LAYER: layer_name = optarg; break;
        case OPT_BATCH: p.batch = (int)cli_parse_long("--batch", optarg, 1, 4096); break;
        default: explain_option(&s, &c, &prep, ch, optarg, argv, opts);
        }
    }
    if (c.seed_set) p.seed = c.seed;
    if (p.integration != ATTR_GAUSS_LEGENDRE && p.steps < 2)
        return cli_usage_error(NULL, "--steps: %s needs at least 2 steps",
                               attr_integration_name(p.integration));
    s.settings =
        cli_shard_options(argc, argv, opts, NULL); /* argv is permuted: options first */
    struct model *m = explain_model_load(&s, argc - optind, argv + optind, &status);
    if (!m) return status;
    struct attr *a = NULL;
    float *x = NULL, *at = NULL, *map = NULL;
    int *cls = NULL;
    if (method == ATTR_GUIDED_GRADCAM) {
        if ((p.layer = explain_layer(m, s.model_path, layer_name)) < 0) {
            status = EXIT_USAGE;
            goto done;
        }
        if (cam_layer_gradient_check(m, p.layer, CAM_GRADCAM)) {
            error_set_path_if_missing(s.model_path);
            status = cli_fail();
            goto done;
        }
    } else if (layer_name) {
        cli_note(&c, "--layer is used by guided-gradcam only; ignored");
    }
    if (!(a = attr_new(m, &prep, &p))) {
        error_set_path_if_missing(s.model_path);
        status = cli_fail();
        goto done;
    }
    int K = a->score.nclass;
    if ((status =
             explain_open(&s, attr_method_name(method),
                          method == ATTR_GUIDED_GRADCAM ? model_tensor_name(m, p.layer) : NULL,
                          a->score.what, K)))
        goto done;
    size_t hw = (size_t)a->in.h * a->in.w;
    x = xmalloc(sizeof(float) * a->item);
    at = xmalloc(sizeof(float) * a->item);
    map = xmalloc(sizeof(float) * hw);
    cls = xmalloc(sizeof(int) * (size_t)K);
    int want = s.out.outputs ? s.out.outputs : EXPLAIN_OUT_ALL;
    for (int t = 0; t < s.nrun && status == EXIT_OK; t++) {
        int i = s.run[t];
        struct image *im = explain_image_load(&s, i, m, &prep, x, NULL, &status);
        if (!im) {
            if (status) break;
            continue; /* left out by --on-error skip */
        }
        if (attr_forward(a, x)) {
            error_set_path_if_missing(s.images[i]);
            image_free(im);
            status = cli_fail();
            break;
        }
        int pred = attr_pred(a);
        int n = explain_class_list(s.spec, pred, K, cls);
        for (int k = 0; k < n && status == EXIT_OK; k++) {
            struct attr_info info;
            double t0 = now_seconds();
            if (attr_map(a, cls[k], method, at, map, &info)) {
                error_set_path_if_missing(s.images[i]);
                status = cli_fail();
                break;
            }
            struct attr_extra ex = {a, method, &info, NULL, now_seconds() - t0};
            char *path = NULL;
            if (want & EXPLAIN_OUT_NPY) {
                path = explain_path(&s.out, s.images[i], i, cls[k], "attr.npy");
                if (cli_wrote_result(xstrdup(path), write_attr(path, a, at)) < 0) {
                    free(path);
                    status = cli_fail();
                    break;
                }
            }
            ex.attr_path = path;
            struct cam_info ci = {info.score, info.prob, info.min,
                                  info.max,   info.flag, info.reason};
            double r = fabs(info.min) > fabs(info.max) ? fabs(info.min) : fabs(info.max);
            if (!isfinite(r)) r = 0;
            status =
                explain_write(&s.out, s.images[i], i, im, cls[k], pred, NULL, 0, 0, NULL, map,
                              a->in.h, a->in.w, -r, r, &ci, a->score.what, attr_json, &ex);
            if (status == EXIT_OK && method == ATTR_IG)
                cli_note(&c, "%s: class %d: completeness gap %.4g (f(x) - f(x') = %.4g)",
                         s.images[i], cls[k], info.gap, info.score - info.f_base);
            free(path);
        }
        image_free(im);
        progress_update(&c.progress, "attribution", (size_t)t + 1, (size_t)s.nrun, NULL);
    }
    if (status == EXIT_OK) status = explain_finish(&s);
done:
    free(x);
    free(at);
    free(map);
    free(cls);
    explain_setup_release(&s);
    attr_free(a);
    model_free(m);
    return cli_finish(status);
}
