/* cmd_gradcam.c - `interp gradcam MODEL IMG...`: the CAM family (Grad-CAM,
 * Grad-CAM++, HiResCAM, XGradCAM, LayerCAM, EigenCAM, EigenGradCAM,
 * GradCAMElementWise, ScoreCAM, AblationCAM) per image and class, written by
 * the explanation helpers (explain.c).
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
    "usage: interp gradcam MODEL IMG... [--layer NAME] [--class pred|INDEX|NAME|all]\n"
    "                      [--method NAME] [--colormap MAP] [--alpha A]\n"
    "                      [--classes NAMES] [--scale S] [--mean M] [--std S] [-o DIR] "
    "[--json]\n"
    "\n"
    "Grad-CAM (or another CAM method) of each image: where the model looked for a\n"
    "class. The class score is the logit before any final Softmax/Sigmoid; Grad-CAM's\n"
    "weights are the spatial mean of its gradient at --layer (default: the last 4-D\n"
    "activation before the spatial dimensions collapse, see `interp info`);\n"
    "map = ReLU(sum_k w_k A_k), upsampled bilinearly. --method, as pytorch-grad-cam\n"
    "defines them (A activations, G gradients at the layer):\n"
    "  gradcam             w_k = mean G_k (default)\n"
    "  gradcam++           Grad-CAM++ weights (positive gradients, 2nd/3rd powers)\n"
    "  hirescam            sum_k G_k * A_k\n"
    "  xgradcam            w_k = sum G_k A_k / sum A_k\n"
    "  layercam            sum_k relu(G_k) * A_k\n"
    "  gradcamelementwise  sum_k relu(G_k * A_k)\n"
    "  eigencam            first principal component of A (no gradient; sign: the\n"
    "                      largest-magnitude value made positive)\n"
    "  eigengradcam        the same of G * A\n"
    "  scorecam            w = softmax of the class score of the image masked by each\n"
    "                      channel (one forward per channel, batched)\n"
    "  ablationcam         w_k = relative drop of the score with channel k zeroed (one\n"
    "                      forward of the layers after --layer per channel, batched)\n"
    "Per image and class, in DIR (default gradcam-out):\n"
    "  STEM.cK.METHOD.layer.npy   the raw map at the layer's resolution\n"
    "  STEM.cK.METHOD.input.npy   the map at the model input's resolution\n"
    "  STEM.cK.METHOD.heatmap.png colour heatmap with a colour bar\n"
    "  STEM.cK.METHOD.overlay.png the heat over the original image, at its size\n"
    "  STEM.cK.METHOD.json        class, probability, layer, map min/max, scale, flag\n"
    "--class: pred (default), all, an index, or a name from --classes (a file or a\n"
    "comma list). --colormap: jet (default), viridis, inferno, magma, turbo.\n"
    "--alpha: heat opacity in the overlay (default 0.5). An all-zero or constant map\n"
    "is written, flagged in the JSON with its likely reason, and noted on stderr.\n";

enum { OPT_LAYER = OPT_COMMAND_BASE, OPT_CLASS, OPT_METHOD, OPT_CMAP, OPT_ALPHA, OPT_CLASSES };

int cmd_gradcam(int argc, char **argv)
{
    static const struct option opts[] = {{"layer", required_argument, 0, OPT_LAYER},
                                         {"class", required_argument, 0, OPT_CLASS},
                                         {"method", required_argument, 0, OPT_METHOD},
                                         {"colormap", required_argument, 0, OPT_CMAP},
                                         {"alpha", required_argument, 0, OPT_ALPHA},
                                         {"classes", required_argument, 0, OPT_CLASSES},
                                         PREP_LONG_OPTIONS,
                                         COMMON_LONG_OPTIONS,
                                         {0}};
    struct cli_common c = cli_common_default(USAGE);
    struct model_prep prep = model_prep_default();
    struct explain_setup s = explain_setup_default(&c, "gradcam", "jet");
    const char *layer_name = NULL;
    enum cam_method method = CAM_GRADCAM;
    int ch, status;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case OPT_LAYER: layer_name = optarg; break;
        case OPT_CLASS: s.class_arg = optarg; break;
        case OPT_METHOD:
            if ((int)(method = cam_method_parse(optarg)) < 0) {
                const char *names[CAM_METHOD_COUNT];
                for (int k = 0; k < CAM_METHOD_COUNT; k++)
                    names[k] = cam_method_name(k);
                return cli_unknown_name("--method", "CAM method", optarg, names,
                                        CAM_METHOD_COUNT);
            }
            break;
        case OPT_CMAP: s.cmap = optarg; break;
        case OPT_ALPHA: s.alpha = cli_parse_double("--alpha", optarg, 0, 1); break;
        case OPT_CLASSES: s.classes_arg = optarg; break;
        default:
            if (!cli_prep_option(&prep, ch, optarg))
                cli_common_option(&c, ch, optarg, argv, opts);
        }
    }
    struct model *m = explain_model_load(&s, argc - optind, argv + optind, &status);
    if (!m) return status;
    struct cam *cam = NULL;
    float *x = NULL, *lmap = NULL, *imap = NULL;
    int *cls = NULL;
    int layer = explain_layer(m, s.model_path, layer_name);
    if (layer < 0) {
        status = EXIT_USAGE;
        goto done;
    }
    if (cam_layer_gradient_check(m, layer, method) || !(cam = cam_new(m, layer))) {
        error_set_path_if_missing(s.model_path);
        status = cli_fail();
        goto done;
    }
    int K = cam->score.nclass;
    const char *lname = model_tensor_name(m, layer);
    if ((status = explain_open(&s, cam_method_name(method), lname, cam->score.what, K)))
        goto done;
    x = xmalloc(sizeof(float) * model_tensor_item(m, model_input(m)));
    lmap = xmalloc(sizeof(float) * (size_t)cam->lh * cam->lw);
    imap = xmalloc(sizeof(float) * (size_t)cam->ih * cam->iw);
    cls = xmalloc(sizeof(int) * (size_t)K);
    for (int i = 0; i < s.nimg && status == EXIT_OK; i++) {
        struct image *im = explain_image_load(m, &prep, s.images[i], x, cam);
        if (!im) {
            status = cli_fail();
            break;
        }
        int pred = cam_pred(cam);
        int n = explain_class_list(s.spec, pred, K, cls);
        for (int k = 0; k < n && status == EXIT_OK; k++) {
            struct cam_info info;
            if (cam_map(cam, cls[k], method, lmap, &info)) {
                error_set_path_if_missing(s.images[i]);
                status = cli_fail();
                break;
            }
            cam_upsample(lmap, cam->lh, cam->lw, imap, cam->ih, cam->iw);
            status =
                explain_write(&s.out, s.images[i], i, im, cls[k], pred, lmap, cam->lh, cam->lw,
                              lname, imap, cam->ih, cam->iw, 0.0, info.max > 0 ? info.max : 0.0,
                              &info, cam->score.what, NULL, NULL);
        }
        image_free(im);
        progress_update(&c.progress, "gradcam", (size_t)i + 1, (size_t)s.nimg, NULL);
    }
    if (status == EXIT_OK) explain_finish(&s.out);
done:
    free(x);
    free(lmap);
    free(imap);
    free(cls);
    explain_setup_release(&s);
    cam_free(cam);
    model_free(m);
    return cli_finish(status);
}
