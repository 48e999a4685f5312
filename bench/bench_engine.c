/* bench_engine.c - interp's side of bench/bench_engine.sh: forward throughput
 * of one model at a given batch size on fixed inputs. Built by the script
 * against build/libinterp.a; prints one JSON object.
 *
 *     bench_engine MODEL INPUTS.bin BATCH REPS [LOGITS_OUT.bin]
 *
 * INPUTS.bin holds k items of model_tensor_item(input) float32 (k >= 1); a
 * batch of B takes items i mod k. Times REPS forwards (after one warm-up) and
 * reports each (wall and process CPU seconds); LOGITS_OUT gets the logits of the first batch (B x K float32).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/error.h"
#include "../core/model.h"
#include "../core/util.h"

/* CPU seconds of the whole process (all threads): on a loaded machine the
 * wall time mostly measures the scheduler; this measures the work. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_engine MODEL INPUTS.bin BATCH REPS [LOGITS_OUT.bin]\n");
        return 2;
    }
    struct model *m = model_load(argv[1]);
    if (!m) {
        fprintf(stderr, "%s\n", error_message());
        return 1;
    }
    int B = atoi(argv[3]), reps = atoi(argv[4]);
    if (B < 1 || reps < 1 || reps > 1000) return 2;
    size_t item = model_tensor_item(m, model_input(m));
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    size_t k = (size_t)ftell(f) / (sizeof(float) * item);
    fseek(f, 0, SEEK_SET);
    if (k < 1) return 1;
    float *all = xmalloc(sizeof(float) * item * k);
    if (fread(all, sizeof(float) * item, k, f) != k) return 1;
    fclose(f);
    float *x = xmalloc(sizeof(float) * item * (size_t)B);
    for (int i = 0; i < B; i++)
        memcpy(x + (size_t)i * item, all + (size_t)(i % (int)k) * item, sizeof(float) * item);
    struct model_run *r = model_run_new(m, B, MODEL_RUN_FORWARD, NULL, 0);
    if (!r) {
        fprintf(stderr, "%s\n", error_message());
        return 1;
    }
    /* warm-up, as ort_engine.js does: half a second of forwards (pages
     * touched, threads started and the clock up: the first ~50 one-image
     * forwards of a fresh process ran at 2.5 ms, the rest at 1.0 ms) */
    double w0 = now_seconds();
    do
        model_forward(r, x, B);
    while (now_seconds() - w0 < 0.5);
    if (argc > 5) {
        FILE *o = fopen(argv[5], "wb");
        size_t K = (size_t)model_num_classes(m);
        if (!o || fwrite(model_run_tensor(r, model_logits(m)), sizeof(float) * K, (size_t)B, o) !=
                      (size_t)B)
            return 1;
        fclose(o);
    }
    double *wall = xmalloc(sizeof(double) * (size_t)reps), *cpu = xmalloc(sizeof(double) * (size_t)reps);
    /* CPU time over the whole loop, the same share for each run: a thread
     * that spins between runs is charged at the scheduler's ticks, so one
     * run's difference missed most of the other thread's time */
    double c0 = cpu_seconds();
    for (int i = 0; i < reps; i++) {
        double t0 = now_seconds();
        model_forward(r, x, B);
        wall[i] = now_seconds() - t0;
    }
    double ct = cpu_seconds() - c0;
    for (int i = 0; i < reps; i++)
        cpu[i] = ct / reps;
    printf("{\"batch\": %d, \"times_s\": [", B);
    for (int i = 0; i < reps; i++)
        printf("%s%.6f", i ? ", " : "", wall[i]);
    printf("], \"cpu_s\": [");
    for (int i = 0; i < reps; i++)
        printf("%s%.6f", i ? ", " : "", cpu[i]);
    printf("]}\n");
    free(wall), free(cpu);
    model_run_free(r);
    model_free(m);
    free(x);
    free(all);
    return 0;
}
