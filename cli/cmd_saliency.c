/* cmd_saliency.c - `interp saliency MODEL IMG...`: the gradient of the class
 * logit with respect to the input pixels, max of |.| over channels
 * (Simonyan et al. 2014), written like the Grad-CAM maps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../analysis/cam.h"
#include "../core/error.h"
#include "../core/image.h"
#include "../core/model.h"
#include "../core/util.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp saliency MODEL IMG... [--class pred|INDEX|NAME|all] [--colormap MAP]\n"
    "                       [--alpha A] [--classes NAMES] [--scale S] [--mean M] [--std S]\n"
    "                       [-o DIR] [--json] [--shard K/N [--force]]\n"
    "\n"
    "Input-gradient saliency of each image: max over channels of |d logit / d pixel|\n"
    "at the model input's resolution (the logit before any final Softmax/Sigmoid).\n"
    "Per image and class, in DIR (default saliency-out): STEM.cK.saliency.input.npy,\n"
    ".heatmap.png, .overlay.png (on the original image) and .json. --class: pred\n"
    "(default), all, an index, or a name from --classes. --colormap: jet (default),\n"
    "viridis, inferno, magma, turbo. --alpha: heat opacity (default 0.5).\n"
    "--shard K/N (K = 0..N-1) explains images i = K mod N of the list into a part\n"
    "folder (default saliency-out/part-K-of-N) with the maps an unsharded run names the\n"
    "same way, rows.npy and, last, manifest.json; `interp merge` joins the parts. A\n"
    "finished part is not run again (--force runs it again).\n";

enum { OPT_CLASS = OPT_COMMAND_BASE, OPT_CMAP, OPT_ALPHA, OPT_CLASSES };

int cmd_saliency(int argc, char **argv)
{
    static const struct option opts[] = {{"class", required_argument, 0, OPT_CLASS},
                                         {"colormap", required_argument, 0, OPT_CMAP},
                                         {"alpha", required_argument, 0, OPT_ALPHA},
                                         {"classes", required_argument, 0, OPT_CLASSES},
                                         PREP_LONG_OPTIONS,
                                         SHARD_LONG_OPTIONS,
                                         COMMON_LONG_OPTIONS,
                                         {0}};
    struct cli_common c = cli_common_default(USAGE);
    struct model_prep prep = model_prep_default();
    struct explain_setup s = explain_setup_default(&c, "saliency", "jet");
    int ch, status;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case OPT_CLASS: s.class_arg = optarg; break;
        case OPT_CMAP: s.cmap = optarg; break;
        case OPT_ALPHA: s.alpha = cli_parse_double("--alpha", optarg, 0, 1); break;
        case OPT_CLASSES: s.classes_arg = optarg; break;
        default:
            if (!cli_prep_option(&prep, ch, optarg) && !cli_shard_option(&s.shard, ch, optarg))
                cli_common_option(&c, ch, optarg, argv, opts);
        }
    }
    s.settings =
        cli_shard_options(argc, argv, opts, NULL); /* argv is permuted: options first */
    struct model *m = explain_model_load(&s, argc - optind, argv + optind, &status);
    if (!m) return status;
    float *x = NULL, *imap = NULL;
    int *cls = NULL;
    /* saliency needs no layer: any 4-D one satisfies cam_new, the input always does */
    struct cam *cam = cam_new(m, model_input(m));
    if (!cam) {
        error_set_path_if_missing(s.model_path);
        status = cli_fail();
        goto done;
    }
    int K = cam->score.nclass;
    if ((status = explain_open(&s, "saliency", NULL, cam->score.what, K))) goto done;
    x = xmalloc(sizeof(float) * model_tensor_item(m, model_input(m)));
    imap = xmalloc(sizeof(float) * (size_t)cam->ih * cam->iw);
    cls = xmalloc(sizeof(int) * (size_t)K);
    for (int t = 0; t < s.nrun && status == EXIT_OK; t++) {
        int i = s.run[t];
        struct image *im = explain_image_load(m, &prep, s.images[i], x, cam);
        if (!im) {
            status = cli_fail();
            break;
        }
        int pred = cam_pred(cam);
        int n = explain_class_list(s.spec, pred, K, cls);
        for (int k = 0; k < n && status == EXIT_OK; k++) {
            struct cam_info info;
            if (cam_saliency(cam, cls[k], imap, &info)) {
                error_set_path_if_missing(s.images[i]);
                status = cli_fail();
                break;
            }
            status = explain_write(&s.out, s.images[i], i, im, cls[k], pred, NULL, 0, 0, NULL,
                                   imap, cam->ih, cam->iw, 0.0, info.max > 0 ? info.max : 0.0,
                                   &info, cam->score.what, NULL, NULL);
        }
        image_free(im);
        progress_update(&c.progress, "saliency", (size_t)t + 1, (size_t)s.nrun, NULL);
    }
    if (status == EXIT_OK) status = explain_finish(&s);
done:
    free(x);
    free(imap);
    free(cls);
    explain_setup_release(&s);
    cam_free(cam);
    model_free(m);
    return cli_finish(status);
}
