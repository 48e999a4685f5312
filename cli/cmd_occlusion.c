/* cmd_occlusion.c - `interp occlusion MODEL IMG...`: the drop in class
 * probability as a gray patch slides over the image, per image and class,
 * written like the Grad-CAM maps with a diverging colour map centred at 0.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../analysis/occlusion.h"
#include "../core/error.h"
#include "../core/image.h"
#include "../core/model.h"
#include "../core/util.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp occlusion MODEL IMG... [--patch P] [--stride S] [--fill F]\n"
    "                        [--class pred|INDEX|NAME|all] [--batch B] [--exact]\n"
    "                        [--colormap MAP] [--alpha A] [--classes NAMES]\n"
    "                        [--outputs LIST] [--on-error stop|skip] [--scale S] [--mean M]\n"
    "                        [--std S] [-o DIR] [--json] [--shard K/N [--force]]\n"
    "\n"
    "Occlusion sensitivity: a P x P patch (default 24) of pixel value F (default 0.5,\n"
    "in [0,1] before --scale/--mean/--std) slides over the model input at stride S\n"
    "(default 8; the last patch flush with the border); a patch's value is\n"
    "p(class | image) - p(class | occluded), a pixel's the mean over the patches\n"
    "covering it. Each occluded copy is recomputed only where the patch can reach\n"
    "(its receptive field), the rest reused from the original image; --exact runs\n"
    "every copy through the whole model. --batch: copies per pass (default 64).\n"
    "Per image and class, in DIR (default occlusion-out): STEM.cK.occlusion.layer.npy\n"
    "(the patch grid), .input.npy (per pixel), .heatmap.png, .overlay.png (on the\n"
    "original image) and .json. Colour map: coolwarm (default), centred at 0.\n"
    "--outputs npy,heatmap,overlay,json: the files to write (default all of them).\n"
    "--shard K/N (K = 0..N-1) explains images i = K mod N of the list into a part\n"
    "folder (default occlusion-out/part-K-of-N) with the files an unsharded run\n"
    "names the same way, rows.npy, with --on-error skip skipped_rows.npy, and, last,\n"
    "manifest.json; `interp merge` joins the parts into that run's files (the same\n"
    "maps; each JSON's \"seconds\" is the shard's). A finished part is not run again\n"
    "(--force runs it again).\n"
    "\n" ON_ERROR_USAGE;

enum { OPT_PATCH = OPT_COMMAND_BASE, OPT_STRIDE, OPT_FILL, OPT_BATCH, OPT_EXACT };

struct occ_extra {
    const struct occlusion *o;
    double seconds;
};

static void occ_json(struct json *j, void *ctx)
{
    const struct occ_extra *e = ctx;
    const struct occlusion *o = e->o;
    json_key(j, "patch");
    json_int(j, o->ph);
    json_key(j, "stride");
    json_int(j, o->p.stride);
    json_key(j, "fill");
    json_double(j, o->p.fill);
    json_key(j, "grid");
    json_array_begin(j);
    json_int(j, o->ny);
    json_int(j, o->nx);
    json_array_end(j);
    json_key(j, "path");
    json_string(j, o->incremental ? "incremental" : "full");
    json_key(j, "uncovered_pixels");
    json_int(j, (int64_t)o->uncovered);
    json_key(j, "seconds");
    json_double(j, e->seconds);
}

int cmd_occlusion(int argc, char **argv)
{
    static const struct option opts[] = {{"patch", required_argument, 0, OPT_PATCH},
                                         {"stride", required_argument, 0, OPT_STRIDE},
                                         {"fill", required_argument, 0, OPT_FILL},
                                         {"batch", required_argument, 0, OPT_BATCH},
                                         {"exact", no_argument, 0, OPT_EXACT},
                                         EXPLAIN_LONG_OPTIONS,
                                         COMMON_LONG_OPTIONS,
                                         {0}};
    struct cli_common c = cli_common_default(USAGE);
    struct model_prep prep = model_prep_default();
    struct occlusion_params p = occlusion_params_default();
    struct explain_setup s = explain_setup_default(&c, "occlusion", "coolwarm");
    int ch, status;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case OPT_PATCH: p.patch = (int)cli_parse_long("--patch", optarg, 1, 1 << 20); break;
        case OPT_STRIDE: p.stride = (int)cli_parse_long("--stride", optarg, 1, 1 << 20); break;
        case OPT_FILL: p.fill = cli_parse_double("--fill", optarg, 0, 1); break;
        case OPT_BATCH: p.batch = (int)cli_parse_long("--batch", optarg, 1, 4096); break;
        case OPT_EXACT: p.exact = 1; break;
        default: explain_option(&s, &c, &prep, ch, optarg, argv, opts);
        }
    }
    s.settings =
        cli_shard_options(argc, argv, opts, NULL); /* argv is permuted: options first */
    struct model *m = explain_model_load(&s, argc - optind, argv + optind, &status);
    if (!m) return status;
    float *x = NULL, *grid = NULL, *map = NULL;
    int *cls = NULL;
    struct occlusion *o = occlusion_new(m, &p, &prep);
    if (!o) {
        error_set_path_if_missing(s.model_path);
        status = cli_fail();
        goto done;
    }
    int K = o->score.nclass;
    if ((status = explain_open(&s, "occlusion", NULL, o->score.what, K))) goto done;
    size_t hw = (size_t)o->h * o->w, g = (size_t)o->ny * o->nx;
    x = xmalloc(sizeof(float) * model_tensor_item(m, model_input(m)));
    cls = xmalloc(sizeof(int) * (size_t)K);
    if (!(grid = big_alloc(sizeof(float) * g * (size_t)K, NULL, "occlusion grids")) ||
        !(map = big_alloc(sizeof(float) * hw * (size_t)K, NULL, "occlusion maps"))) {
        status = cli_fail();
        goto done;
    }
    if (o->uncovered)
        cli_note(&c, "stride %d > patch %d leaves %zu pixels uncovered (value 0)", p.stride,
                 o->ph, o->uncovered);
    for (int t = 0; t < s.nrun && status == EXIT_OK; t++) {
        int i = s.run[t];
        struct image *im = explain_image_load(&s, i, m, &prep, x, NULL, &status);
        if (!im) {
            if (status) break;
            continue; /* left out by --on-error skip */
        }
        /* the predicted class needs the original's probabilities first */
        int pred = 0;
        if (occlusion_predict(o, x)) goto fail_img;
        for (int k = 1; k < K; k++)
            if (o->probs[k] > o->probs[pred]) pred = k;
        int n = explain_class_list(s.spec, pred, K, cls);
        double t0 = now_seconds();
        if (occlusion_run(o, x, cls, n, grid, map, &c.progress)) goto fail_img;
        struct occ_extra ex = {o, now_seconds() - t0};
        for (int k = 0; k < n && status == EXIT_OK; k++) {
            struct cam_info info;
            const float *mk = map + (size_t)k * hw;
            occlusion_map_check(o, mk, hw, cls[k], &info);
            double a = fabs(info.min) > fabs(info.max) ? fabs(info.min) : fabs(info.max);
            if (!isfinite(a)) a = 0;
            status = explain_write(&s.out, s.images[i], i, im, cls[k], pred,
                                   grid + (size_t)k * g, o->ny, o->nx, NULL, mk, o->h, o->w, -a,
                                   a, &info, NULL, occ_json, &ex);
        }
        image_free(im);
        continue;
    fail_img:
        error_set_path_if_missing(s.images[i]);
        image_free(im);
        status = cli_fail();
    }
    if (status == EXIT_OK) status = explain_finish(&s);
done:
    free(x);
    free(grid);
    free(map);
    free(cls);
    explain_setup_release(&s);
    occlusion_free(o);
    model_free(m);
    return cli_finish(status);
}
