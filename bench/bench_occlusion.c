/* bench_occlusion.c - interp's side of the occlusion rows of
 * bench/bench_speed.sh: occlusion of one image (patch 24, fill 0.5, batch
 * 64) at a stride, incremental or full (--exact), timed REPS times after a
 * warm-up. Built by the script against build/libinterp.a; prints one JSON
 * object (wall and process CPU seconds of each run, the copies, the
 * incremental multiply-adds per copy relative to a full forward).
 *
 *     bench_occlusion MODEL INPUT.bin STRIDE EXACT REPS
 *
 * INPUT.bin: one model input item of float32 (the first is used). Its
 * includes go through -I (the tree it is built against, which may be an
 * older one: bench_speed.sh BASE=DIR).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "analysis/occlusion.h"
#include "core/error.h"
#include "core/graph_region.h"
#include "core/model.h"
#include "core/util.h"

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bench_occlusion MODEL INPUT.bin STRIDE EXACT REPS\n");
        return 2;
    }
    struct model *m = model_load(argv[1]);
    if (!m) {
        fprintf(stderr, "%s\n", error_message());
        return 1;
    }
    size_t item = model_tensor_item(m, model_input(m));
    float *x = xmalloc(sizeof(float) * item);
    FILE *f = fopen(argv[2], "rb");
    if (!f || fread(x, sizeof(float), item, f) != item) {
        fprintf(stderr, "%s: cannot read one input\n", argv[2]);
        return 1;
    }
    fclose(f);
    struct occlusion_params p = occlusion_params_default();
    p.stride = atoi(argv[3]), p.exact = atoi(argv[4]), p.batch = 64;
    int reps = atoi(argv[5]);
    if (p.stride < 1 || reps < 1 || reps > 100) return 2;
    struct model_prep prep = model_prep_default();
    struct occlusion *o = occlusion_new(m, &p, &prep);
    if (!o) {
        fprintf(stderr, "%s\n", error_message());
        return 1;
    }
    int cls = 1;
    float *map = xmalloc(sizeof(float) * (size_t)o->h * o->w);
    if (occlusion_run(o, x, &cls, 1, NULL, map, NULL)) { /* warm-up */
        fprintf(stderr, "%s\n", error_message());
        return 1;
    }
    printf("{\"copies\": %d, \"cost_ratio\": %.5f, \"times_s\": [", o->ny * o->nx,
           o->rr_ ? region_run_cost_ratio(o->rr_) : 1.0);
    double *cpu = xmalloc(sizeof(double) * (size_t)reps);
    for (int r = 0; r < reps; r++) {
        double t0 = now_seconds(), c0 = cpu_seconds();
        occlusion_run(o, x, &cls, 1, NULL, map, NULL);
        cpu[r] = cpu_seconds() - c0;
        printf("%s%.6f", r ? ", " : "", now_seconds() - t0);
    }
    printf("], \"cpu_s\": [");
    for (int r = 0; r < reps; r++)
        printf("%s%.6f", r ? ", " : "", cpu[r]);
    printf("]}\n");
    free(cpu);
    free(map);
    free(x);
    occlusion_free(o);
    model_free(m);
    return 0;
}
