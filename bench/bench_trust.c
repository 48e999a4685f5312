/* bench_trust.c - interp's side of bench/bench_trust.sh: ScoreCAM,
 * AblationCAM and Integrated Gradients (50 steps) per image, and a full
 * `interp evaluate` of the six default methods on one image, through the
 * library. Prints one JSON object: best and median wall seconds, CPU
 * seconds per run, and the 1-minute load average around each measurement.
 *
 *     bench_trust MODEL IMG
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../analysis/attribution.h"
#include "../analysis/cam.h"
#include "../analysis/evaluate.h"
#include "../core/error.h"
#include "../core/model.h"
#include "../core/util.h"

static double cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec +
           u.ru_stime.tv_usec * 1e-6;
}

static double load1(void)
{
    double l = -1;
    FILE *fp = fopen("/proc/loadavg", "r");
    if (fp) {
        if (fscanf(fp, "%lf", &l) != 1) l = -1;
        fclose(fp);
    }
    return l;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct task {
    const char *name;
    int reps;
    int (*run)(void *ctx);
    void *ctx;
};

/* Runs t once to warm up, then reps times; prints its JSON member. */
static void measure(const struct task *t, int first)
{
    double w[16], c0, w0, l0 = load1();
    if (t->run(t->ctx)) {
        fprintf(stderr, "%s: %s\n", t->name, error_message());
        exit(1);
    }
    c0 = cpu_seconds();
    for (int r = 0; r < t->reps; r++) {
        w0 = now_seconds();
        t->run(t->ctx);
        w[r] = now_seconds() - w0;
    }
    double cpu = (cpu_seconds() - c0) / t->reps, l1 = load1();
    qsort(w, (size_t)t->reps, sizeof(double), cmp);
    printf("%s\"%s\": {\"best_s\": %.4f, \"median_s\": %.4f, \"cpu_s\": %.4f, \"reps\": %d, "
           "\"load_before\": %.2f, \"load_after\": %.2f}",
           first ? "" : ",\n  ", t->name, w[0], w[t->reps / 2], cpu, t->reps, l0, l1);
    fflush(stdout);
}

struct cam_ctx {
    struct cam *c;
    const float *x;
    float *map;
    enum cam_method method;
};
static int run_cam(void *p)
{
    struct cam_ctx *k = p;
    struct cam_info info;
    return cam_forward(k->c, k->x) || cam_map(k->c, cam_pred(k->c), k->method, k->map, &info);
}

struct ig_ctx {
    struct attr *a;
    const float *x;
    float *map;
};
static int run_ig(void *p)
{
    struct ig_ctx *k = p;
    struct attr_info info;
    return attr_forward(k->a, k->x) || attr_map(k->a, attr_pred(k->a), ATTR_IG, NULL, k->map, &info);
}

struct ev_ctx {
    struct eval *ev;
    const float *x;
    struct eval_result res;
};
static int run_eval(void *p)
{
    struct ev_ctx *k = p;
    eval_result_release(&k->res);
    return eval_run(k->ev, &k->x, 1, &k->res, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_trust MODEL IMG\n");
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
    printf("{\"threads\": \"%s\",\n  ", getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "?");
    struct cam *c = cam_new(m, -1);
    float *map = xmalloc(sizeof(float) * item);
    struct cam_ctx sc = {c, x, map, CAM_SCORECAM}, ab = {c, x, map, CAM_ABLATIONCAM};
    struct task t1 = {"scorecam", 7, run_cam, &sc}, t2 = {"ablationcam", 7, run_cam, &ab};
    measure(&t1, 1);
    measure(&t2, 0);
    struct attr_params ap = attr_params_default();
    struct attr *a = attr_new(m, &prep, &ap);
    struct ig_ctx ig = {a, x, map};
    struct task t3 = {"ig50", 7, run_ig, &ig};
    measure(&t3, 0);
    static const char *const names[] = {"gradcam", "gradcam++", "ig",
                                        "smoothgrad", "gxi", "guided-backprop"};
    struct explainer_spec specs[6];
    for (int j = 0; j < 6; j++)
        explainer_parse(names[j], &specs[j]);
    struct explainer_params ep = explainer_params_default();
    struct eval_params p = eval_params_default();
    struct ev_ctx ec = {eval_new(m, &prep, specs, 6, &ep, &p), x, {0}};
    if (!ec.ev) {
        fprintf(stderr, "%s\n", error_message());
        return 1;
    }
    struct task t4 = {"evaluate6", 3, run_eval, &ec};
    measure(&t4, 0);
    printf(",\n  \"evaluate_parts_s\": {\"maps\": %.3f, \"deletion_insertion\": %.3f, "
           "\"road\": %.3f, \"randomization\": %.3f}, \"weight_layers\": %d}\n",
           ec.res.seconds_maps, ec.res.seconds_curves, ec.res.seconds_road,
           ec.res.seconds_rand, ec.res.nlayers);
    eval_result_release(&ec.res);
    eval_free(ec.ev);
    attr_free(a);
    cam_free(c);
    free(map);
    free(x);
    model_free(m);
    return 0;
}
