/* cmd_saliency.c - `interp saliency MODEL IMG...`: the gradient of the class
 * logit with respect to the input pixels, max of |.| over channels
 * (Simonyan et al. 2014), written like the Grad-CAM maps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../analysis/cam.h"
#include "../core/array.h"
#include "../core/error.h"
#include "../core/image.h"
#include "../core/model.h"
#include "../core/util.h"
#include "../plots/colormap.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp saliency MODEL IMG... [--class pred|INDEX|NAME|all] [--colormap MAP]\n"
    "                       [--alpha A] [--classes NAMES] [--scale S] [--mean M] [--std S]\n"
    "                       [-o DIR] [--json]\n"
    "\n"
    "Input-gradient saliency of each image: max over channels of |d logit / d pixel|\n"
    "at the model input's resolution (the logit before any final Softmax/Sigmoid).\n"
    "Per image and class, in DIR (default saliency-out): STEM.cK.saliency.input.npy,\n"
    ".heatmap.png, .overlay.png (on the original image) and .json. --class: pred\n"
    "(default), all, an index, or a name from --classes. --colormap: jet (default),\n"
    "viridis, inferno, magma, turbo. --alpha: heat opacity (default 0.5).\n";

enum { OPT_CLASS = OPT_COMMAND_BASE, OPT_CMAP, OPT_ALPHA, OPT_CLASSES };

int cmd_saliency(int argc, char **argv)
{
    static const struct option opts[] = {{"class", required_argument, 0, OPT_CLASS},
                                         {"colormap", required_argument, 0, OPT_CMAP},
                                         {"alpha", required_argument, 0, OPT_ALPHA},
                                         {"classes", required_argument, 0, OPT_CLASSES},
                                         PREP_LONG_OPTIONS,
                                         COMMON_LONG_OPTIONS,
                                         {0}};
    struct cli_common c = cli_common_default(USAGE);
    struct model_prep prep = model_prep_default();
    const char *class_arg = "pred", *classes_arg = NULL, *cmap = "jet";
    double alpha = 0.5;
    int ch;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case OPT_CLASS: class_arg = optarg; break;
        case OPT_CMAP: cmap = optarg; break;
        case OPT_ALPHA: alpha = cli_parse_double("--alpha", optarg, 0, 1); break;
        case OPT_CLASSES: classes_arg = optarg; break;
        default:
            if (!cli_prep_option(&prep, ch, optarg))
                cli_common_option(&c, ch, optarg, argv, opts);
        }
    }
    if (argc - optind < 2) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    const struct colormap *cm = explain_colormap(cmap);
    if (!cm) return EXIT_USAGE;
    const char *model_path = argv[optind];
    char **images = argv + optind + 1;
    int nimg = argc - optind - 1;
    struct model *m = model_load(model_path);
    if (!m) return cli_fail();
    int status = EXIT_OK, spec = EXPLAIN_PRED;
    char **names = NULL, *dir = NULL;
    size_t nnames = 0;
    float *x = NULL, *imap = NULL;
    int *cls = NULL;
    struct json j;
    struct explain_out out = {0};
    /* saliency needs no layer: any 4-D one satisfies cam_new, the input always does */
    struct cam *cam = cam_new(m, model_input(m));
    if (!cam) {
        error_set_path_if_missing(model_path);
        status = cli_fail();
        goto done;
    }
    int K = cam->score.nclass;
    if (classes_arg && (status = explain_names_load(classes_arg, K, &names, &nnames)))
        goto done;
    if ((status = explain_class_parse(class_arg, K, names, nnames, &spec))) goto done;
    if (!(dir = cli_out_dir(&c, "saliency-out"))) {
        status = EXIT_USAGE;
        goto done;
    }
    out = (struct explain_out){&c,     dir,   "saliency",
                               cm,     alpha, names,
                               nnames, NULL,  explain_stems_unique(images, nimg)};
    if (c.json) {
        json_init(&j, stdout);
        json_object_begin(&j);
        json_key(&j, "command");
        json_string(&j, "saliency");
        json_key(&j, "model");
        json_string(&j, model_path);
        json_key(&j, "score_used");
        json_string(&j, cam->score.what);
        json_key(&j, "maps");
        json_array_begin(&j);
        out.j = &j;
    }
    x = xmalloc(sizeof(float) * model_tensor_item(m, model_input(m)));
    imap = xmalloc(sizeof(float) * (size_t)cam->ih * cam->iw);
    cls = xmalloc(sizeof(int) * (size_t)K);
    for (int i = 0; i < nimg && status == EXIT_OK; i++) {
        struct image *im = image_load(images[i]);
        if (!im || model_preprocess(m, im, &prep, x) || cam_forward(cam, x)) {
            error_set_path_if_missing(images[i]);
            image_free(im);
            status = cli_fail();
            break;
        }
        int pred = cam_pred(cam);
        int n = explain_class_list(spec, pred, K, cls);
        for (int k = 0; k < n && status == EXIT_OK; k++) {
            struct cam_info info;
            if (cam_saliency(cam, cls[k], imap, &info)) {
                error_set_path_if_missing(images[i]);
                status = cli_fail();
                break;
            }
            status = explain_write(&out, images[i], i, im, cls[k], pred, NULL, 0, 0, NULL, imap,
                                   cam->ih, cam->iw, 0.0, info.max > 0 ? info.max : 0.0, &info,
                                   cam->score.what, NULL, NULL);
        }
        image_free(im);
        progress_update(&c.progress, "saliency", (size_t)i + 1, (size_t)nimg, NULL);
    }
    if (status == EXIT_OK) explain_finish(&out);
done:
    free(x);
    free(imap);
    free(cls);
    free(dir);
    if (names) class_names_free(names, nnames);
    cam_free(cam);
    model_free(m);
    return cli_finish(status);
}
