/* attribution.c - Integrated Gradients, SmoothGrad, Gradient x Input, Guided
 * Backpropagation and Guided Grad-CAM over the engine's batched backward
 * pass (Captum's definitions, see attribution.h), and RISE's blur.
 */
#include "attribution.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/rng.h"
#include "../core/util.h"

/* ---------------------------------------------------------------- names */
static const char *const method_names[ATTR_METHOD_COUNT] = {
    [ATTR_IG] = "ig",
    [ATTR_SMOOTHGRAD] = "smoothgrad",
    [ATTR_GXI] = "gxi",
    [ATTR_GUIDED_BP] = "guided-backprop",
    [ATTR_GUIDED_GRADCAM] = "guided-gradcam"};

const char *attr_method_name(enum attr_method m)
{
    return (unsigned)m < ATTR_METHOD_COUNT ? method_names[m] : "?";
}

/* lower case without '-', '_' and ' ' */
static void squash(const char *s, char *out, size_t size)
{
    size_t k = 0;
    for (; *s && k + 1 < size; s++)
        if (*s != '-' && *s != '_' && *s != ' ') out[k++] = (char)tolower((unsigned char)*s);
    out[k] = 0;
}

static int lookup(const char *s, const char *const *names, int n)
{
    char a[64], b[64];
    squash(s, a, sizeof a);
    for (int i = 0; i < n; i++) {
        squash(names[i], b, sizeof b);
        if (!strcmp(a, b)) return i;
    }
    return -1;
}

int attr_method_parse(const char *s)
{
    static const char *const alias[] = {"integrated-gradients", "input-x-gradient",
                                        "gradient-x-input",     "guidedbp",
                                        "guided-grad-cam",      "inputxgradient"};
    static const int to[] = {ATTR_IG, ATTR_GXI, ATTR_GXI, ATTR_GUIDED_BP, ATTR_GUIDED_GRADCAM,
                             ATTR_GXI};
    int m = lookup(s, method_names, ATTR_METHOD_COUNT);
    if (m >= 0) return m;
    int k = lookup(s, alias, (int)(sizeof alias / sizeof *alias));
    return k >= 0 ? to[k] : -1;
}

static const char *const baseline_names[] = {"black", "gray", "blur"};
const char *attr_baseline_name(enum attr_baseline b)
{
    return (unsigned)b < 3 ? baseline_names[b] : "?";
}
int attr_baseline_parse(const char *s)
{
    if (!strcmp(s, "grey")) return ATTR_BASE_GRAY;
    if (!strcmp(s, "blurred")) return ATTR_BASE_BLUR;
    return lookup(s, baseline_names, 3);
}

static const char *const integration_names[] = {
    "gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"};
const char *attr_integration_name(enum attr_integration i)
{
    return (unsigned)i < 5 ? integration_names[i] : "?";
}
int attr_integration_parse(const char *s)
{
    return lookup(s, integration_names, 5);
}

/* ---------------------------------------------------------------- integration */
/* n-point Gauss-Legendre nodes t (ascending) and weights w on [-1, 1]:
 * Newton's method on P_n from the Tricomi initial guesses, P_n by its
 * three-term recurrence (what numpy's leggauss returns, to rounding). */
static void gauss_legendre(int n, double *t, double *w)
{
    for (int i = 0; i < (n + 1) / 2; i++) {
        double z = cos(M_PI * (i + 0.75) / (n + 0.5)), pp = 1;
        for (int it = 0; it < 100; it++) {
            double p1 = 1, p2 = 0;
            for (int j = 1; j <= n; j++) {
                double p3 = p2;
                p2 = p1;
                p1 = ((2.0 * j - 1) * z * p2 - (j - 1.0) * p3) / j;
            }
            pp = n * (z * p1 - p2) / (z * z - 1);
            double z1 = z;
            z = z1 - p1 / pp;
            if (fabs(z - z1) < 1e-15) {
                /* one more derivative at the converged node */
                p1 = 1, p2 = 0;
                for (int j = 1; j <= n; j++) {
                    double p3 = p2;
                    p2 = p1;
                    p1 = ((2.0 * j - 1) * z * p2 - (j - 1.0) * p3) / j;
                }
                pp = n * (z * p1 - p2) / (z * z - 1);
                break;
            }
        }
        t[i] = -z, t[n - 1 - i] = z;
        w[i] = w[n - 1 - i] = 2.0 / ((1 - z * z) * pp * pp);
    }
    if (n % 2) t[n / 2] = 0; /* the middle node exactly */
}

void attr_integration_points(enum attr_integration m, int n, double *a, double *s)
{
    if (m == ATTR_GAUSS_LEGENDRE) {
        gauss_legendre(n, a, s);
        for (int i = 0; i < n; i++)
            a[i] = 0.5 * (1 + a[i]), s[i] *= 0.5;
        return;
    }
    for (int i = 0; i < n; i++) {
        s[i] = 1.0 / n;
        switch (m) {
        case ATTR_RIEMANN_LEFT: a[i] = (double)i / n; break;
        case ATTR_RIEMANN_RIGHT: a[i] = (double)(i + 1) / n; break;
        case ATTR_RIEMANN_MIDDLE: a[i] = (i + 0.5) / n; break;
        default: a[i] = n > 1 ? (double)i / (n - 1) : 0; break;
        }
    }
    if (m == ATTR_RIEMANN_TRAPEZOID) s[0] /= 2, s[n - 1] /= 2;
}

/* ---------------------------------------------------------------- blur */
/* RISE's gkern(11, 5) as one axis: scipy's gaussian_filter1d (sigma 5,
 * truncate 4: radius 20, normalised) of a delta at 5 in 11 samples, mode
 * reflect (d c b a | a b c d | d c b a). The 2-D kernel is k x k. */
#define BLUR_LEN 11
static void blur_kernel(double k[BLUR_LEN])
{
    const double sigma = 5;
    const int radius = (int)(4.0 * sigma + 0.5);
    double w[2 * 20 + 1], sum = 0;
    for (int j = -radius; j <= radius; j++)
        sum += (w[j + radius] = exp(-0.5 * j * j / (sigma * sigma)));
    for (int p = 0; p < BLUR_LEN; p++) {
        k[p] = 0;
        for (int j = -radius; j <= radius; j++) {
            int i = p + j;
            while (i < 0 || i >= BLUR_LEN)
                i = i < 0 ? -i - 1 : 2 * BLUR_LEN - i - 1;
            if (i == BLUR_LEN / 2) k[p] += w[j + radius] / sum;
        }
    }
}

void attr_blur(const struct model_input_info *in, const float *x, float *out)
{
    double k[BLUR_LEN];
    blur_kernel(k);
    int H = in->h, W = in->w, C = in->c, r = BLUR_LEN / 2, nhwc = in->layout == MODEL_NHWC;
    size_t hw = (size_t)H * W;
    double *tmp = xmalloc(sizeof(double) * hw);
#define IDX(c, p) (nhwc ? (size_t)(p)*C + (c) : (size_t)(c)*hw + (p))
    for (int c = 0; c < C; c++) {
        for (int y = 0; y < H; y++) /* along x, zero padding */
            for (int xo = 0; xo < W; xo++) {
                double s = 0;
                for (int j = -r; j <= r; j++) {
                    int xi = xo + j;
                    if (xi >= 0 && xi < W) s += k[j + r] * x[IDX(c, (size_t)y * W + xi)];
                }
                tmp[(size_t)y * W + xo] = s;
            }
        for (int y = 0; y < H; y++) /* along y */
            for (int xo = 0; xo < W; xo++) {
                double s = 0;
                for (int j = -r; j <= r; j++) {
                    int yi = y + j;
                    if (yi >= 0 && yi < H) s += k[j + r] * tmp[(size_t)yi * W + xo];
                }
                out[IDX(c, (size_t)y * W + xo)] = (float)s;
            }
    }
#undef IDX
    free(tmp);
}

/* ---------------------------------------------------------------- context */
struct attr_params attr_params_default(void)
{
    return (struct attr_params){.steps = 50,
                                .integration = ATTR_GAUSS_LEGENDRE,
                                .baseline = ATTR_BASE_BLACK,
                                .samples = 25,
                                .noise = NAN,
                                .seed = 0,
                                .layer = -1,
                                .batch = 16};
}

struct attr *attr_new(const struct model *m, const struct model_prep *prep,
                      const struct attr_params *p)
{
    if (p->steps < 1 || p->steps > ATTR_STEPS_MAX) {
        error_set(ERR_INPUT, NULL, "steps %d out of range (1..%d)", p->steps, ATTR_STEPS_MAX);
        return NULL;
    }
    if (p->integration != ATTR_GAUSS_LEGENDRE && p->steps < 2) {
        error_set(ERR_INPUT, NULL, "%s needs at least 2 steps",
                  attr_integration_name(p->integration));
        return NULL;
    }
    if (p->samples < 1 || p->samples > ATTR_SAMPLES_MAX) {
        error_set(ERR_INPUT, NULL, "samples %d out of range (1..%d)", p->samples,
                  ATTR_SAMPLES_MAX);
        return NULL;
    }
    if (!isnan(p->noise) && !(p->noise >= 0 && p->noise < 1e30)) {
        error_set(ERR_INPUT, NULL, "noise %g: must be a standard deviation >= 0", p->noise);
        return NULL;
    }
    if (p->batch < 1 || p->batch > 4096) {
        error_set(ERR_INPUT, NULL, "batch %d out of range (1..4096)", p->batch);
        return NULL;
    }
    struct cam_score sc;
    struct model_input_info in;
    if (cam_score_init(m, &sc) || model_input_info(m, &in)) return NULL;
    struct attr *a = xcalloc(1, sizeof *a);
    a->m = m, a->p = *p, a->score = sc, a->in = in;
    a->item = model_tensor_item(m, model_input(m));
    double scale = model_prep_scale(m, prep);
    for (int c = 0; c < in.c && c < 4; c++) {
        double mean = prep->mean[prep->nmean == 1 ? 0 : c],
               sd = prep->std[prep->nstd == 1 ? 0 : c];
        a->pk[c] = (float)(255.0 * scale / sd), a->pb[c] = (float)(-mean / sd);
    }
    if (!(a->run = model_run_new(m, p->batch, MODEL_RUN_BACKWARD | MODEL_RUN_LEAN, NULL, 0))) {
        free(a);
        return NULL;
    }
    a->x = xmalloc(sizeof(float) * a->item);
    a->logits = xmalloc(sizeof(float) * (size_t)sc.nlogit);
    a->probs = xmalloc(sizeof(float) * (size_t)sc.nclass);
    a->buf = xmalloc(sizeof(float) * a->item * (size_t)p->batch);
    a->seed = xmalloc(sizeof(float) * (size_t)sc.nlogit * (size_t)p->batch);
    a->acc = xmalloc(sizeof(double) * a->item);
    return a;
}

void attr_free(struct attr *a)
{
    if (!a) return;
    model_run_free(a->run);
    cam_free(a->cam);
    free(a->x);
    free(a->logits);
    free(a->probs);
    free(a->buf);
    free(a->seed);
    free(a->acc);
    free(a);
}

void attr_weights_changed(struct attr *a)
{
    model_run_reload_weights(a->run);
    cam_weights_changed(a->cam);
}

int attr_forward(struct attr *a, const float *x)
{
    memcpy(a->x, x, sizeof(float) * a->item);
    int rc = model_forward(a->run, x, 1);
    if (rc) return rc;
    memcpy(a->logits, model_run_tensor(a->run, a->score.tensor),
           sizeof(float) * (size_t)a->score.nlogit);
    cam_score_probs(&a->score, a->logits, a->probs);
    return 0;
}

int attr_pred(const struct attr *a)
{
    int best = 0;
    for (int k = 1; k < a->score.nclass; k++)
        if (a->probs[k] > a->probs[best]) best = k;
    return best;
}

void attr_baseline_fill(const struct attr *a, enum attr_baseline b, float *out)
{
    if (b == ATTR_BASE_BLUR) {
        attr_blur(&a->in, a->x, out);
        return;
    }
    float v = b == ATTR_BASE_GRAY ? 0.5f : 0.0f;
    size_t hw = (size_t)a->in.h * a->in.w;
    for (int c = 0; c < a->in.c; c++)
        for (size_t p = 0; p < hw; p++)
            out[a->in.layout == MODEL_NHWC ? p * a->in.c + c : c * hw + p] =
                v * a->pk[c] + a->pb[c];
}

/* Forward + backward of the n inputs in a->buf for class cls; returns the
 * n x item input gradient and sets f[j] = the class score of item j (f may
 * be NULL), or NULL with the error recorded. */
static const float *batch_grad(struct attr *a, int n, int cls, double *f)
{
    int rc = model_forward(a->run, a->buf, n);
    for (int j = 0; j < n && !rc; j++)
        cam_score_seed(&a->score, cls, a->seed + (size_t)j * a->score.nlogit);
    if (!rc && f) {
        const float *z = model_run_tensor(a->run, a->score.tensor);
        for (int j = 0; j < n; j++)
            f[j] = cam_score_value(&a->score, z + (size_t)j * a->score.nlogit, cls);
    }
    if (rc || model_backward(a->run, a->score.tensor, a->seed, model_input(a->m))) return NULL;
    return model_run_grad(a->run, model_input(a->m));
}

/* The class score of one input item (through the run, batch 1). */
static int score_of(struct attr *a, const float *x, int cls, double *f)
{
    int rc = model_forward(a->run, x, 1);
    if (!rc) *f = cam_score_value(&a->score, model_run_tensor(a->run, a->score.tensor), cls);
    return rc;
}

/* Integrated Gradients into attr (item floats). */
static int integrated_gradients(struct attr *a, int cls, float *attr, struct attr_info *info)
{
    int n = a->p.steps, B = a->p.batch, rc = 0;
    size_t item = a->item;
    double *al = xmalloc(sizeof(double) * (size_t)n), *st = xmalloc(sizeof(double) * (size_t)n);
    float *base = xmalloc(sizeof(float) * item);
    attr_integration_points(a->p.integration, n, al, st);
    attr_baseline_fill(a, a->p.baseline, base);
    memset(a->acc, 0, sizeof(double) * item);
    for (int i0 = 0; i0 < n && !rc; i0 += B) {
        int nb = n - i0 < B ? n - i0 : B;
        for (int j = 0; j < nb; j++) { /* x' + a_i (x - x'), in double, rounded once */
            float *xb = a->buf + (size_t)j * item;
            double t = al[i0 + j];
            for (size_t e = 0; e < item; e++)
                xb[e] = (float)(base[e] + t * ((double)a->x[e] - base[e]));
        }
        const float *G = batch_grad(a, nb, cls, NULL);
        if (!G) {
            rc = error_code() ? error_code() : ERR_FAIL;
            break;
        }
        for (int j = 0; j < nb; j++) {
            const float *g = G + (size_t)j * item;
            double s = st[i0 + j];
            for (size_t e = 0; e < item; e++)
                a->acc[e] += s * g[e];
        }
    }
    if (!rc) rc = score_of(a, base, cls, &info->f_base);
    if (!rc) {
        double sum = 0;
        for (size_t e = 0; e < item; e++) {
            attr[e] = (float)(a->acc[e] * ((double)a->x[e] - base[e]));
            sum += attr[e];
        }
        info->sum = sum;
        info->gap = sum - (info->score - info->f_base);
    }
    free(al);
    free(st);
    free(base);
    return rc;
}

/* SmoothGrad into attr: the mean of |gradient| over noisy copies; the noise
 * drawn sample by sample, element by element (model layout), from core/rng.h
 * seeded with p.seed, each N(0, 1) (rng_normal) times the deviation. */
static int smoothgrad(struct attr *a, int cls, float *attr, struct attr_info *info)
{
    size_t item = a->item;
    double sd = a->p.noise;
    if (isnan(sd)) {
        float mn = a->x[0], mx = a->x[0];
        for (size_t e = 1; e < item; e++)
            mn = a->x[e] < mn ? a->x[e] : mn, mx = a->x[e] > mx ? a->x[e] : mx;
        sd = 0.15 * ((double)mx - mn);
    }
    info->noise = sd;
    struct rng r;
    rng_seed(&r, a->p.seed);
    int n = a->p.samples, B = a->p.batch;
    memset(a->acc, 0, sizeof(double) * item);
    for (int i0 = 0; i0 < n; i0 += B) {
        int nb = n - i0 < B ? n - i0 : B;
        for (int j = 0; j < nb; j++) {
            float *xb = a->buf + (size_t)j * item;
            for (size_t e = 0; e < item; e++)
                xb[e] = a->x[e] + (float)(sd * rng_normal(&r));
        }
        const float *G = batch_grad(a, nb, cls, NULL);
        if (!G) return error_code() ? error_code() : ERR_FAIL;
        for (size_t k = 0; k < (size_t)nb * item; k++)
            a->acc[k % item] += fabsf(G[k]);
    }
    for (size_t e = 0; e < item; e++)
        attr[e] = (float)(a->acc[e] / n);
    return 0;
}

/* The plain (or guided) input gradient of the image into attr. */
static int input_grad(struct attr *a, int cls, float *attr, int guided)
{
    memcpy(a->buf, a->x, sizeof(float) * a->item);
    model_run_set_guided(a->run, guided);
    const float *G = batch_grad(a, 1, cls, NULL);
    model_run_set_guided(a->run, 0);
    if (!G) return error_code() ? error_code() : ERR_FAIL;
    memcpy(attr, G, sizeof(float) * a->item);
    return 0;
}

/* Grad-CAM (ReLU'd) at p.layer upsampled by nearest neighbour (torch's
 * interpolate mode nearest: source index floor(i * in / out)) into up (h x w). */
static int gradcam_nearest(struct attr *a, int cls, float *up)
{
    if (!a->cam && !(a->cam = cam_new(a->m, a->p.layer))) return error_code();
    struct cam *c = a->cam;
    int rc = cam_forward(c, a->x);
    float *map = xmalloc(sizeof(float) * (size_t)c->lh * c->lw);
    struct cam_info ci;
    if (!rc) rc = cam_map(c, cls, CAM_GRADCAM, map, &ci);
    if (!rc)
        for (int y = 0; y < a->in.h; y++) {
            int sy = (int)((double)y * c->lh / a->in.h);
            for (int x = 0; x < a->in.w; x++) {
                int sx = (int)((double)x * c->lw / a->in.w);
                up[(size_t)y * a->in.w + x] = map[(size_t)sy * c->lw + sx];
            }
        }
    free(map);
    return rc;
}

int attr_map(struct attr *a, int cls, enum attr_method method, float *attr, float *map,
             struct attr_info *info)
{
    if (cls < 0 || cls >= a->score.nclass)
        return error_set(ERR_INPUT, NULL, "class %d out of range (the model has %d classes)",
                         cls, a->score.nclass);
    if ((unsigned)method >= ATTR_METHOD_COUNT)
        return error_set(ERR_INPUT, NULL, "unknown attribution method %d", (int)method);
    memset(info, 0, sizeof *info);
    info->score = cam_score_value(&a->score, a->logits, cls);
    info->prob = a->probs[cls];
    info->f_base = info->gap = info->noise = NAN;
    size_t hw = (size_t)a->in.h * a->in.w, item = a->item;
    float *own = attr ? NULL : xmalloc(sizeof(float) * item);
    float *at = attr ? attr : own;
    int rc = 0;
    switch (method) {
    case ATTR_IG: rc = integrated_gradients(a, cls, at, info); break;
    case ATTR_SMOOTHGRAD: rc = smoothgrad(a, cls, at, info); break;
    case ATTR_GXI:
        if (!(rc = input_grad(a, cls, at, 0)))
            for (size_t e = 0; e < item; e++)
                at[e] *= a->x[e];
        break;
    case ATTR_GUIDED_BP: rc = input_grad(a, cls, at, 1); break;
    default: { /* Guided Grad-CAM */
        float *up = xmalloc(sizeof(float) * hw);
        if (!(rc = gradcam_nearest(a, cls, up)) && !(rc = input_grad(a, cls, at, 1)))
            for (int c = 0; c < a->in.c; c++)
                for (size_t p = 0; p < hw; p++)
                    at[a->in.layout == MODEL_NHWC ? p * a->in.c + c : c * hw + p] *= up[p];
        free(up);
    }
    }
    if (!rc) {
        double sum = 0;
        int zero = 1;
        for (size_t p = 0; p < hw; p++) { /* the map: sum over channels */
            double s = 0;
            for (int c = 0; c < a->in.c; c++)
                s += at[a->in.layout == MODEL_NHWC ? p * a->in.c + c : c * hw + p];
            map[p] = (float)s;
            sum += s;
        }
        for (size_t e = 0; e < item && zero; e++)
            zero = at[e] == 0;
        if (method != ATTR_IG) info->sum = sum;
        struct cam_info ci;
        cam_map_check(map, hw, zero, &ci);
        info->min = ci.min, info->max = ci.max, info->flag = ci.flag, info->reason = ci.reason;
        if (ci.flag == CAM_FLAG_ZERO)
            info->reason = zero ? "the gradient of the class score with respect to the input "
                                  "is zero (dead or saturated units)"
                                : "the attribution sums to zero over the channels everywhere";
    }
    free(own);
    return rc;
}
