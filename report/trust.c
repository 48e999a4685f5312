/* trust.c - the report's "Can these maps be trusted?" stage: the evaluation
 * (analysis/evaluate.h) of Grad-CAM, Grad-CAM++, occlusion, Integrated
 * Gradients and SmoothGrad, with the random and edge controls, on a few of
 * the explained images; its figures and montage in figures/.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/outfile.h"
#include "../core/util.h"
#include "../plots/eval_figures.h"
#include "report_int.h"

static void trust_progress(void *ctx, const char *stage, size_t done, size_t total,
                           const char *note)
{
    (void)stage;
    rep_stage(ctx, ST_TRUST, done, total, note);
}

void rep_trust_release(struct rep *R)
{
    for (int j = 0; R->trust_text && j < R->trust.nmeth; j++)
        free(R->trust_text[j]);
    eval_result_release(&R->trust);
    free(R->trust_rows);
    free(R->trust_text);
    free(R->trust_img);
    free(R->trust_sum);
    R->trust_sum = NULL;
    for (int k = 0; k < EVAL_FIGURES; k++)
        rep_fig_release(&R->f_trust[k]);
    rep_fig_release(&R->f_montage);
    R->trust_rows = NULL, R->trust_text = NULL, R->trust_img = NULL;
}

int rep_stage_trust(struct rep *R)
{
    int n = R->p->trust_images;
    if (n <= 0) return 0;
    if (!R->npicks) {
        rep_note(R, "the trust section needs explained images (--per-class 0): skipped");
        return 0;
    }
    if ((size_t)n > R->npicks) n = (int)R->npicks;
    /* the methods: the report's two maps, Grad-CAM++, two attributions, and
     * the two controls the sentences compare with */
    static const char *const all[] = {"gradcam",    "gradcam++", "occlusion", "ig",
                                      "smoothgrad", "random",    "sobel"};
    struct explainer_spec specs[7];
    int ns = 0;
    for (int k = 0; k < 7; k++) {
        if (!R->cam_layer && k < 2) continue; /* no 4-D layer: no CAM */
        explainer_parse(all[k], &specs[ns++]);
    }
    struct explainer_params ep = explainer_params_default();
    ep.seed = ep.attr.seed = R->p->seed;
    ep.occ.patch = R->occ_patch, ep.occ.stride = R->occ_stride;
    struct eval_params p = eval_params_default();
    p.steps = R->p->trust_steps > 0 ? R->p->trust_steps : 50;
    p.seed = R->p->seed;
    p.single = R->p->trust_single;
    struct eval *ev = eval_new(R->m, &R->p->prep, specs, ns, &ep, &p);
    if (!ev) {
        rep_note(R, "the trust section was skipped: %s", error_message());
        error_clear();
        return 0;
    }
    /* the images: spread over the explained ones (one per class first) */
    R->trust_rows = xmalloc(sizeof(size_t) * (size_t)n);
    R->trust_img = xcalloc((size_t)n, sizeof(char *));
    float *buf = xmalloc(sizeof(float) * R->item * (size_t)n);
    const float **x = xmalloc(sizeof(float *) * (size_t)n);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        size_t k = (size_t)i * R->npicks / (size_t)n;
        R->trust_rows[i] = R->picks[k].row;
        R->trust_img[i] = R->files[R->picks[k].row];
        x[i] = buf + (size_t)i * R->item;
        rc = model_preprocess_file(R->m, R->files[R->picks[k].row], &R->p->prep, (float *)x[i]);
    }
    struct progress prog = {trust_progress, R};
    double t0 = now_seconds();
    if (!rc) rc = eval_run(ev, x, n, &R->trust, &prog);
    R->trust_seconds = now_seconds() - t0;
    free(x);
    free(buf);
    eval_free(ev);
    if (rc) return rc;
    R->trust_fail_rho = p.fail_rho;
    R->trust_sum = xcalloc((size_t)ns, sizeof *R->trust_sum);
    eval_summary(&R->trust, p.fail_rho, R->trust_sum);
    R->trust_text = xcalloc((size_t)ns, sizeof(char *));
    for (int j = 0; j < ns; j++) {
        R->trust_text[j] = xmalloc(1024);
        eval_describe(&R->trust, R->trust_sum, j, p.fail_rho, R->trust_text[j], 1024);
    }
    struct plot_result figs[EVAL_FIGURES];
    char *dir = R->figdir;
    if ((rc = eval_figures_write(dir, &R->trust, figs))) return rc;
    for (int k = 0; k < EVAL_FIGURES; k++) {
        if (figs[k].script)
            rep_fig_from_plot(R, &R->f_trust[k], eval_figure_names[k], &figs[k]);
        else
            plot_result_release(&figs[k]);
    }
    char *path = path_join(dir, "randomization_montage.png");
    int cell = R->in.h >= 96 ? R->in.h : 96;
    rc = eval_montage_write(path, &R->trust, cell);
    free(path);
    if (!rc) rep_fig_from_file(R, &R->f_montage, "figures", "randomization_montage.png");
    return rc;
}
