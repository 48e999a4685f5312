/* bench_explain.c - interp's side of bench/bench_explain.sh: Grad-CAM per
 * image, occlusion per image (full and incremental) on one model and image.
 * Built by the script against build/libinterp.a; prints one JSON object.
 *
 *     bench_explain MODEL IMG
 */
#include <stdio.h>
#include <stdlib.h>

#include "../analysis/cam.h"
#include "../analysis/occlusion.h"
#include "../core/error.h"
#include "../core/graph_region.h"
#include "../core/model.h"
#include "../core/util.h"

static double best(double *t, int n, double *median)
{
    for (int i = 1; i < n; i++) /* insertion sort: n is small */
        for (int k = i; k > 0 && t[k - 1] > t[k]; k--) {
            double s = t[k];
            t[k] = t[k - 1], t[k - 1] = s;
        }
    *median = t[n / 2];
    return t[0];
}

static int occl(struct model *m, const float *x, int stride, int exact, double *b, double *med,
                double *ratio)
{
    struct occlusion_params p = occlusion_params_default();
    p.stride = stride, p.exact = exact, p.batch = 64;
    struct model_prep prep = model_prep_default();
    struct occlusion *o = occlusion_new(m, &p, &prep);
    if (!o) return -1;
    int cls = 1, reps = exact ? 3 : 7;
    double t[8];
    float *map = xmalloc(sizeof(float) * (size_t)o->h * o->w);
    occlusion_run(o, x, &cls, 1, NULL, map, NULL); /* warm up */
    for (int r = 0; r < reps; r++) {
        double t0 = now_seconds();
        occlusion_run(o, x, &cls, 1, NULL, map, NULL);
        t[r] = now_seconds() - t0;
    }
    *b = best(t, reps, med);
    *ratio = o->rr_ ? region_run_cost_ratio(o->rr_) : 1.0;
    free(map);
    occlusion_free(o);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_explain MODEL IMG\n");
        return 2;
    }
    struct model *m = model_load(argv[1]);
    if (!m) {
        fprintf(stderr, "%s\n", error_message());
        return 1;
    }
    struct model_prep prep = model_prep_default();
    size_t item = model_tensor_item(m, model_input(m));
    float *x = xmalloc(sizeof(float) * item);
    if (model_preprocess_file(m, argv[2], &prep, x)) {
        fprintf(stderr, "%s\n", error_message());
        return 1;
    }
    struct cam *c = cam_new(m, -1);
    float *map = xmalloc(sizeof(float) * (size_t)c->lh * c->lw);
    float *up = xmalloc(sizeof(float) * (size_t)c->ih * c->iw);
    struct cam_info info;
    double t[20], gmed;
    for (int r = 0; r < 20; r++) {
        double t0 = now_seconds();
        cam_forward(c, x);
        cam_map(c, 1, CAM_GRADCAM, map, &info);
        cam_upsample(map, c->lh, c->lw, up, c->ih, c->iw);
        t[r] = now_seconds() - t0;
    }
    double g = best(t, 20, &gmed);
    printf("{\"gradcam_s\": [%.6f, %.6f]", g, gmed);
    for (int s = 8; s >= 4; s -= 4)
        for (int exact = 1; exact >= 0; exact--) {
            double b, med, ratio;
            if (occl(m, x, s, exact, &b, &med, &ratio)) {
                fprintf(stderr, "%s\n", error_message());
                return 1;
            }
            printf(", \"occlusion_s%d_%s_s\": [%.6f, %.6f]", s, exact ? "full" : "incremental",
                   b, med);
            if (!exact) printf(", \"cost_ratio_s%d\": %.4f", s, ratio);
        }
    printf("}\n");
    free(x), free(map), free(up);
    cam_free(c);
    model_free(m);
    return 0;
}
