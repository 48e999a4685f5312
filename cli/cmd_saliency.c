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
    "                       [--alpha A] [--classes NAMES] [--outputs LIST] [--scale S]\n"
    "                       [--mean M] [--std S] [--on-error stop|skip] [-o DIR] [--json]\n"
    "                       [--shard K/N [--force]]\n"
    "\n"
    "Input-gradient saliency of each image: max over channels of |d logit / d pixel|\n"
    "at the model input's resolution (the logit before any final Softmax/Sigmoid).\n"
    "Per image and class, in DIR (default saliency-out): STEM.cK.saliency.input.npy,\n"
    ".heatmap.png, .overlay.png (on the original image) and .json. --class: pred\n"
    "(default), all, an index, or a name from --classes. --colormap: jet (default),\n"
    "viridis, inferno, magma, turbo. --alpha: heat opacity (default 0.5).\n"
    "--outputs npy,heatmap,overlay,json: the files to write (default all of them).\n"
    "Images go through the model in batches, decoded and written on two more threads.\n"
    "--shard K/N (K = 0..N-1) explains the K-th of N slices: the list cut into the\n"
    "batches an unsharded run computes (8 images; fewer under --max-memory), batch j\n"
    "to shard j mod N, into a part folder (default saliency-out/part-K-of-N) with\n"
    "the files an unsharded run names the same way, rows.npy, with --on-error skip\n"
    "skipped_rows.npy, and, last, manifest.json; `interp merge` joins the parts into\n"
    "that run's files (every shard with the same options and --max-memory). A\n"
    "finished part is not run again (--force runs it again).\n"
    "\n" ON_ERROR_USAGE;

/* One batch's maps (explain_run_batches): one forward, one backward to the
 * input per class slot. */
struct saliency_job {
    struct cam *cam;
    int spec;
    char **images;
};

static int saliency_batch(void *arg, struct explain_batch *b)
{
    struct saliency_job *g = arg;
    struct cam *cam = g->cam;
    size_t ihw = (size_t)cam->ih * cam->iw;
    if (cam_forward_batch(cam, b->x, b->n) || explain_batch_classes(b, cam, g->spec)) {
        error_set_path_if_missing(g->images[b->img[0]]);
        return cli_fail();
    }
    for (int k = 0; k < b->nout; k++) {
        size_t j = (size_t)k * b->n;
        if (cam_saliency_batch(cam, b->cls + j, b->imap + j * ihw, b->info + j)) {
            error_set_path_if_missing(g->images[b->img[0]]);
            return cli_fail();
        }
    }
    return 0;
}

int cmd_saliency(int argc, char **argv)
{
    static const struct option opts[] = {EXPLAIN_LONG_OPTIONS, COMMON_LONG_OPTIONS, {0}};
    struct cli_common c = cli_common_default(USAGE);
    struct model_prep prep = model_prep_default();
    struct explain_setup s = explain_setup_default(&c, "saliency", "jet");
    int ch, status;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1)
        explain_option(&s, &c, &prep, ch, optarg, argv, opts);
    s.settings =
        cli_shard_options(argc, argv, opts, NULL); /* argv is permuted: options first */
    struct model *m = explain_model_load(&s, argc - optind, argv + optind, &status);
    if (!m) return status;
    /* saliency needs no layer: any 4-D one satisfies cam_new, the input always does */
    int batch = 0;
    struct cam *cam = explain_cam_new(m, model_input(m), CAM_LAYER_ONLY, s.nimg, &batch);
    if (!cam) {
        error_set_path_if_missing(s.model_path);
        status = cli_fail();
        goto done;
    }
    int K = cam->score.nclass;
    s.unit = batch; /* --shard deals whole batches: each map's bytes are the unsharded run's */
    if ((status = explain_open(&s, "saliency", NULL, cam->score.what, K))) goto done;
    struct saliency_job job = {cam, s.spec, s.images};
    struct explain_batches eb = {.batch = batch,
                                 .nout = s.spec == EXPLAIN_ALL ? K : 1,
                                 .ih = cam->ih,
                                 .iw = cam->iw,
                                 .score_what = cam->score.what,
                                 .fn = saliency_batch,
                                 .ctx = &job};
    status = explain_run_batches(&s, m, &prep, &eb);
    if (status == EXIT_OK) status = explain_finish(&s);
done:
    explain_setup_release(&s);
    cam_free(cam);
    model_free(m);
    return cli_finish(status);
}
