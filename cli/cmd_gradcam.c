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
    "                      [--classes NAMES] [--outputs LIST] [--on-error stop|skip]\n"
    "                      [--scale S] [--mean M] [--std S] [-o DIR] [--json]\n"
    "                      [--shard K/N [--force]]\n"
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
    "is written, flagged in the JSON with its likely reason, and noted on stderr.\n"
    "--outputs npy,heatmap,overlay,json: the files to write (default all of them).\n"
    "Images go through the model in batches (one forward and one backward each;\n"
    "scorecam and ablationcam then run their own forwards image by image), decoded\n"
    "and written on two more threads.\n"
    "--shard K/N (K = 0..N-1) explains the K-th of N slices: the list cut into the\n"
    "batches an unsharded run computes (32 images; fewer under --max-memory), batch\n"
    "j to shard j mod N, into a part folder (default gradcam-out/part-K-of-N) with\n"
    "the files an unsharded run names the same way, rows.npy, with --on-error skip\n"
    "skipped_rows.npy, and, last, manifest.json; `interp merge` joins the parts into\n"
    "that run's files (every shard with the same options and --max-memory). A\n"
    "finished part is not run again (--force runs it again).\n"
    "\n" ON_ERROR_USAGE;

enum { OPT_LAYER = OPT_COMMAND_BASE, OPT_METHOD };

/* One batch's maps (explain_run_batches): one forward, one backward per
 * class slot (the gradient methods), each map upsampled to the input. */
struct gradcam_job {
    struct cam *cam;
    enum cam_method method;
    int spec;
    char **images;
};

static int gradcam_batch(void *arg, struct explain_batch *b)
{
    struct gradcam_job *g = arg;
    struct cam *cam = g->cam;
    size_t lhw = (size_t)cam->lh * cam->lw, ihw = (size_t)cam->ih * cam->iw;
    if (cam_forward_batch(cam, b->x, b->n) || explain_batch_classes(b, cam, g->spec)) {
        error_set_path_if_missing(g->images[b->img[0]]);
        return cli_fail();
    }
    for (int k = 0; k < b->nout; k++) {
        size_t j = (size_t)k * b->n;
        if (cam_map_batch(cam, b->cls + j, g->method, b->lmap + j * lhw, b->info + j)) {
            error_set_path_if_missing(g->images[b->img[0]]);
            return cli_fail();
        }
        for (int i = 0; i < b->n; i++)
            cam_upsample(b->lmap + (j + i) * lhw, cam->lh, cam->lw, b->imap + (j + i) * ihw,
                         cam->ih, cam->iw);
    }
    return 0;
}

int cmd_gradcam(int argc, char **argv)
{
    static const struct option opts[] = {{"layer", required_argument, 0, OPT_LAYER},
                                         {"method", required_argument, 0, OPT_METHOD},
                                         EXPLAIN_LONG_OPTIONS,
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
        case OPT_METHOD:
            if ((int)(method = cam_method_parse(optarg)) < 0) {
                const char *names[CAM_METHOD_COUNT];
                for (int k = 0; k < CAM_METHOD_COUNT; k++)
                    names[k] = cam_method_name(k);
                return cli_unknown_name("--method", "CAM method", optarg, names,
                                        CAM_METHOD_COUNT);
            }
            break;
        default: explain_option(&s, &c, &prep, ch, optarg, argv, opts);
        }
    }
    s.settings =
        cli_shard_options(argc, argv, opts, NULL); /* argv is permuted: options first */
    struct model *m = explain_model_load(&s, argc - optind, argv + optind, &status);
    if (!m) return status;
    struct cam *cam = NULL;
    int layer = explain_layer(m, s.model_path, layer_name), batch = 0;
    if (layer < 0) {
        status = EXIT_USAGE;
        goto done;
    }
    if (cam_layer_gradient_check(m, layer, method) ||
        !(cam = explain_cam_new(m, layer, CAM_LAYER_ONLY, s.nimg, &batch))) {
        error_set_path_if_missing(s.model_path);
        status = cli_fail();
        goto done;
    }
    int K = cam->score.nclass;
    const char *lname = model_tensor_name(m, layer);
    s.unit = batch; /* --shard deals whole batches: each map's bytes are the unsharded run's */
    if ((status = explain_open(&s, cam_method_name(method), lname, cam->score.what, K)))
        goto done;
    struct gradcam_job job = {cam, method, s.spec, s.images};
    struct explain_batches eb = {.batch = batch,
                                 .nout = s.spec == EXPLAIN_ALL ? K : 1,
                                 .lh = cam->lh,
                                 .lw = cam->lw,
                                 .ih = cam->ih,
                                 .iw = cam->iw,
                                 .lname = lname,
                                 .score_what = cam->score.what,
                                 .fn = gradcam_batch,
                                 .ctx = &job};
    status = explain_run_batches(&s, m, &prep, &eb);
    if (status == EXIT_OK) status = explain_finish(&s);
done:
    explain_setup_release(&s);
    cam_free(cam);
    model_free(m);
    return cli_finish(status);
}
