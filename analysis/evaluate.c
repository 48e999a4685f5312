/* evaluate.c - deletion/insertion curves, ROAD with noisy linear imputation,
 * and the cascading and independent model-parameter randomization tests
 * over a set of explainers; their summary per method (see evaluate.h).
 */
#include "evaluate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/util.h"

const double eval_road_fractions[EVAL_ROAD_N] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9};

static const char *const substrate_names[] = {"gray", "blur", "black"};
const char *eval_substrate_name(enum eval_substrate s)
{
    return (unsigned)s < 3 ? substrate_names[s] : "?";
}
int eval_substrate_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, substrate_names[i])) return i;
    if (!strcmp(s, "grey")) return EVAL_SUB_GRAY;
    if (!strcmp(s, "blurred")) return EVAL_SUB_BLUR;
    return -1;
}

struct eval_params eval_params_default(void)
{
    return (struct eval_params){.steps = 100,
                                .del_sub = EVAL_SUB_GRAY,
                                .ins_sub = EVAL_SUB_BLUR,
                                .road = 1,
                                .road_noise = 0.01,
                                .cascade = 1,
                                .single = 1,
                                .max_layers = 0,
                                .seed = 0,
                                .batch = 32,
                                .fail_rho = 0.5};
}

struct eval {
    const struct model *m;
    struct model *clone; /* the explainers' model, re-initialised in place */
    struct eval_params p;
    struct explainer_params ep;
    int nspec;
    struct explainer_spec *specs;
    int *gid; /* each spec's index among explainer_name_at's names (ROAD's stream) */
    struct explainer **ex;
    struct cam_score score;
    struct model_input_info in;
    size_t item, hw;
    float pk[4], pb[4];    /* pixel v -> v pk[c] + pb[c] */
    struct model_run *run; /* forward on m, p.batch items */
    float *buf, *probs;
    int nlayers;
};

/* ---------------------------------------------------------------- small pieces */
struct keyed {
    float v;
    int i;
};

static int cmp_desc(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    if (x->v > y->v) return -1;
    if (x->v < y->v) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

void eval_order(const float *map, size_t n, int *idx)
{
    struct keyed *k = xmalloc(sizeof *k * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        k[i].v = isnan(map[i]) ? -INFINITY : map[i], k[i].i = (int)i;
    qsort(k, n, sizeof *k, cmp_desc);
    for (size_t i = 0; i < n; i++)
        idx[i] = k[i].i;
    free(k);
}

double eval_auc(const double *s, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += s[i];
    return (sum - s[0] / 2 - s[n - 1] / 2) / (n - 1);
}

static int cmp_asc(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    if (x->v < y->v) return -1;
    if (x->v > y->v) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Average ranks (1-based) of v into r. */
static void ranks(const float *v, size_t n, double *r)
{
    struct keyed *k = xmalloc(sizeof *k * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        k[i].v = v[i], k[i].i = (int)i;
    qsort(k, n, sizeof *k, cmp_asc);
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && k[b].v == k[a].v)
            b++;
        double avg = (a + 1 + b) / 2.0; /* ranks a+1 .. b */
        for (size_t t = a; t < b; t++)
            r[k[t].i] = avg;
        a = b;
    }
    free(k);
}

double eval_spearman(const float *a, const float *b, size_t n)
{
    double *ra = xmalloc(sizeof(double) * (n ? n : 1)),
           *rb = xmalloc(sizeof(double) * (n ? n : 1));
    ranks(a, n, ra);
    ranks(b, n, rb);
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++)
        ma += ra[i], mb += rb[i];
    ma /= (double)n, mb /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double x = ra[i] - ma, y = rb[i] - mb;
        sab += x * y, saa += x * x, sbb += y * y;
    }
    free(ra);
    free(rb);
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}

double eval_ssim(const float *a, const float *b, int h, int w)
{
    enum { WIN = 7, PAD = 3 };
    if (h < WIN || w < WIN) return NAN;
    const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03, np = WIN * WIN, cov = np / (np - 1);
    /* integral images of a, b, a^2, b^2, ab: (h+1) x (w+1) each */
    size_t W1 = (size_t)w + 1, n1 = ((size_t)h + 1) * W1;
    double *I = xcalloc(5 * n1, sizeof(double));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double va = a[(size_t)y * w + x], vb = b[(size_t)y * w + x];
            double v[5] = {va, vb, va * va, vb * vb, va * vb};
            size_t at = (size_t)(y + 1) * W1 + x + 1;
            for (int k = 0; k < 5; k++)
                I[k * n1 + at] =
                    v[k] + I[k * n1 + at - 1] + I[k * n1 + at - W1] - I[k * n1 + at - W1 - 1];
        }
    double total = 0;
    size_t count = 0;
    for (int y = PAD; y < h - PAD; y++)
        for (int x = PAD; x < w - PAD; x++) {
            double m[5];
            size_t y0 = (size_t)(y - PAD), x0 = (size_t)(x - PAD), y1 = y0 + WIN, x1 = x0 + WIN;
            for (int k = 0; k < 5; k++) {
                const double *J = I + k * n1;
                m[k] = (J[y1 * W1 + x1] - J[y0 * W1 + x1] - J[y1 * W1 + x0] + J[y0 * W1 + x0]) /
                       np;
            }
            double ux = m[0], uy = m[1];
            double vx = cov * (m[2] - ux * ux), vy = cov * (m[3] - uy * uy);
            double vxy = cov * (m[4] - ux * uy);
            total += ((2 * ux * uy + c1) * (2 * vxy + c2)) /
                     ((ux * ux + uy * uy + c1) * (vx + vy + c2));
            count++;
        }
    free(I);
    return total / (double)count;
}

/* ---------------------------------------------------------------- imputation */
/* The imputation with the noise already drawn: add[c * nu + u] for channel c
 * of the u-th removed pixel (NULL: none). */
static int impute_with(const struct model_input_info *in, const float *x,
                       const unsigned char *removed, const double *add, float *out)
{
    static const int dy[8] = {1, 0, -1, 1, 0, -1, 1, -1}, dx[8] = {1, 1, 1, -1, -1, -1, 0, 0};
    static const double wt[8] = {1.0 / 12, 1.0 / 6,  1.0 / 12, 1.0 / 12,
                                 1.0 / 6,  1.0 / 12, 1.0 / 6,  1.0 / 6};
    int H = in->h, W = in->w, C = in->c, nhwc = in->layout == MODEL_NHWC;
    size_t hw = (size_t)H * W, nu = 0;
    for (size_t p = 0; p < hw; p++)
        nu += removed[p] != 0;
    if (out != x) memcpy(out, x, sizeof(float) * hw * (size_t)C);
    if (nu == 0) return 0;
    if (nu == hw) return ERR_INPUT; /* no error_set: this may run on OpenMP threads */
#define IDX(c, p) (nhwc ? (size_t)(p)*C + (c) : (size_t)(c)*hw + (p))
    int *var = xmalloc(sizeof(int) * hw); /* pixel -> unknown index, -1 known */
    int *pix = xmalloc(sizeof(int) * nu);
    for (size_t p = 0, u = 0; p < hw; p++)
        if (removed[p])
            var[p] = (int)u, pix[u++] = (int)p;
        else
            var[p] = -1;
    /* per unknown: its neighbours (unknown index or -(pixel + 1) when known) */
    int *nb = xmalloc(sizeof(int) * 8 * nu);
    double *diag = xmalloc(sizeof(double) * nu);
    for (size_t u = 0; u < nu; u++) {
        int y = pix[u] / W, xx = pix[u] % W;
        diag[u] = 0;
        for (int k = 0; k < 8; k++) {
            int yy = y + dy[k], xn = xx + dx[k];
            if (yy < 0 || yy >= H || xn < 0 || xn >= W) {
                nb[u * 8 + k] = INT32_MIN; /* outside: no weight */
                continue;
            }
            int q = yy * W + xn;
            diag[u] += wt[k];
            nb[u * 8 + k] = var[q] >= 0 ? var[q] : -(q + 1);
        }
    }
    /* M v = b per channel, M = D - W_uu, b = W_uk x_known (M symmetric
     * positive definite: every group of removed pixels touches a known one);
     * Jacobi-preconditioned conjugate gradients, the channels side by side
     * (one matrix, C right-hand sides: v[u * C + c]) */
    size_t nc = nu * (size_t)C;
    double *v = xmalloc(sizeof(double) * nc * 5), *b = v + nc, *res = b + nc, *d = res + nc,
           *q = d + nc;
    double rz[4], rn[4], tol[4], dq[4], alpha[4], rz1[4];
    int live[4];
    for (int c = 0; c < C; c++)
        rz[c] = rn[c] = 0, tol[c] = 0;
    for (size_t u = 0; u < nu; u++)
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int k = 0; k < 8; k++) {
                int t = nb[u * 8 + k];
                if (t != INT32_MIN && t < 0) s += wt[k] * x[IDX(c, -t - 1)];
            }
            b[u * C + c] = s, tol[c] += s * s;
            v[u * C + c] = s / diag[u]; /* start: the known neighbours' weighted mean */
        }
    for (size_t u = 0; u < nu; u++)
        for (int c = 0; c < C; c++) {
            double mv = diag[u] * v[u * C + c];
            for (int k = 0; k < 8; k++) {
                int t = nb[u * 8 + k];
                if (t >= 0) mv -= wt[k] * v[(size_t)t * C + c];
            }
            double r0 = b[u * C + c] - mv;
            res[u * C + c] = r0, d[u * C + c] = r0 / diag[u];
            rz[c] += r0 * d[u * C + c], rn[c] += r0 * r0;
        }
    int any = 0;
    for (int c = 0; c < C; c++) { /* relative residual 1e-10 */
        tol[c] = 1e-20 * (tol[c] > 0 ? tol[c] : 1);
        any |= live[c] = rn[c] > tol[c];
    }
    for (size_t it = 0; it < 20 * nu + 100 && any; it++) {
        for (int c = 0; c < C; c++)
            dq[c] = 0;
        for (size_t u = 0; u < nu; u++) {
            double mv[4];
            for (int c = 0; c < C; c++)
                mv[c] = diag[u] * d[u * C + c];
            for (int k = 0; k < 8; k++) {
                int t = nb[u * 8 + k];
                if (t >= 0)
                    for (int c = 0; c < C; c++)
                        mv[c] -= wt[k] * d[(size_t)t * C + c];
            }
            for (int c = 0; c < C; c++)
                q[u * C + c] = mv[c], dq[c] += d[u * C + c] * mv[c];
        }
        for (int c = 0; c < C; c++) {
            if (!(dq[c] > 0)) live[c] = 0;
            alpha[c] = live[c] ? rz[c] / dq[c] : 0;
            rz1[c] = rn[c] = 0;
        }
        for (size_t u = 0; u < nu; u++)
            for (int c = 0; c < C; c++) {
                size_t at = u * C + c;
                v[at] += alpha[c] * d[at];
                res[at] -= alpha[c] * q[at];
                rz1[c] += res[at] * res[at] / diag[u], rn[c] += res[at] * res[at];
            }
        any = 0;
        for (int c = 0; c < C; c++) {
            double beta = live[c] && rz[c] > 0 ? rz1[c] / rz[c] : 0;
            rz[c] = rz1[c];
            if (live[c])
                for (size_t u = 0; u < nu; u++)
                    d[u * C + c] = res[u * C + c] / diag[u] + beta * d[u * C + c];
            any |= live[c] = live[c] && rn[c] > tol[c];
        }
    }
    for (int c = 0; c < C; c++)
        for (size_t u = 0; u < nu; u++)
            out[IDX(c, pix[u])] = (float)(v[u * C + c] + (add ? add[(size_t)c * nu + u] : 0));
#undef IDX
    free(var);
    free(pix);
    free(nb);
    free(diag);
    free(v);
    return 0;
}

/* The noise of one imputation: noise[c] * N(0,1) drawn from r channel by
 * channel, removed pixel by pixel (owned; nu * C values). */
static double *draw_noise(const unsigned char *removed, size_t hw, int C, const float *noise,
                          struct rng *r, size_t *nu_out)
{
    size_t nu = 0;
    for (size_t p = 0; p < hw; p++)
        nu += removed[p] != 0;
    double *a = xmalloc(sizeof(double) * (nu * (size_t)C + 1));
    for (int c = 0; c < C; c++)
        for (size_t u = 0; u < nu; u++)
            a[(size_t)c * nu + u] = noise[c] * rng_normal(r);
    *nu_out = nu;
    return a;
}

int eval_impute(const struct model_input_info *in, const float *x, const unsigned char *removed,
                const float *noise, struct rng *r, float *out)
{
    size_t nu;
    double *a = draw_noise(removed, (size_t)in->h * in->w, in->c, noise, r, &nu);
    int rc = impute_with(in, x, removed, a, out);
    free(a);
    return rc ? error_set(rc, NULL, "imputation with every pixel removed") : 0;
}

/* ---------------------------------------------------------------- context */
struct eval *eval_new(const struct model *m, const struct model_prep *prep,
                      const struct explainer_spec *specs, int nspec,
                      const struct explainer_params *ep, const struct eval_params *p)
{
    if (p->steps < 1 || p->steps > EVAL_STEPS_MAX) {
        error_set(ERR_INPUT, NULL, "steps %d out of range (1..%d)", p->steps, EVAL_STEPS_MAX);
        return NULL;
    }
    if (p->batch < 1 || p->batch > 4096) {
        error_set(ERR_INPUT, NULL, "batch %d out of range (1..4096)", p->batch);
        return NULL;
    }
    if (!(p->road_noise >= 0 && p->road_noise < 1e30)) {
        error_set(ERR_INPUT, NULL, "ROAD noise %g: must be >= 0", p->road_noise);
        return NULL;
    }
    if (nspec < 1) {
        error_set(ERR_INPUT, NULL, "no methods to evaluate");
        return NULL;
    }
    struct eval *ev = xcalloc(1, sizeof *ev);
    ev->m = m, ev->p = *p, ev->ep = *ep, ev->nspec = nspec;
    if (cam_score_init(m, &ev->score) || model_input_info(m, &ev->in)) goto fail;
    ev->nlayers = model_weight_layer_count(m);
    if ((p->cascade || p->single) && ev->nlayers == 0) {
        error_set(ERR_INPUT, NULL,
                  "the model has no layer with weights (Conv, Gemm, MatMul) to randomize");
        goto fail;
    }
    ev->item = model_tensor_item(m, model_input(m));
    ev->hw = (size_t)ev->in.h * ev->in.w;
    double scale = model_prep_scale(m, prep);
    for (int c = 0; c < ev->in.c && c < 4; c++) {
        double mean = prep->mean[prep->nmean == 1 ? 0 : c],
               sd = prep->std[prep->nstd == 1 ? 0 : c];
        ev->pk[c] = (float)(255.0 * scale / sd), ev->pb[c] = (float)(-mean / sd);
    }
    ev->specs = xmalloc(sizeof *ev->specs * (size_t)nspec);
    memcpy(ev->specs, specs, sizeof *ev->specs * (size_t)nspec);
    ev->gid = xmalloc(sizeof(int) * (size_t)nspec);
    for (int j = 0; j < nspec; j++) {
        ev->gid[j] = 0;
        for (int g = 0; g < explainer_name_count(); g++) {
            struct explainer_spec s;
            if (!explainer_parse(explainer_name_at(g), &s) && s.kind == specs[j].kind &&
                s.method == specs[j].method)
                ev->gid[j] = g;
        }
    }
    if (!(ev->clone = model_clone(m))) goto fail;
    ev->ex = xcalloc((size_t)nspec, sizeof *ev->ex);
    for (int j = 0; j < nspec; j++)
        if (!(ev->ex[j] = explainer_new(ev->clone, prep, &specs[j], ep))) {
            char *msg = xstrdup(error_message()); /* error_set overwrites it */
            error_set(error_code() ? error_code() : ERR_INPUT, NULL, "%s: %s",
                      explainer_name(&specs[j]), msg);
            free(msg);
            goto fail;
        }
    if (!(ev->run = model_run_new(m, p->batch, MODEL_RUN_FORWARD, NULL, 0))) goto fail;
    ev->buf = xmalloc(sizeof(float) * ev->item * (size_t)p->batch);
    ev->probs = xmalloc(sizeof(float) * (size_t)ev->score.nclass);
    return ev;
fail:
    eval_free(ev);
    return NULL;
}

void eval_free(struct eval *ev)
{
    if (!ev) return;
    for (int j = 0; ev->ex && j < ev->nspec; j++)
        explainer_free(ev->ex[j]);
    free(ev->ex);
    model_free(ev->clone);
    model_run_free(ev->run);
    free(ev->specs);
    free(ev->gid);
    free(ev->buf);
    free(ev->probs);
    free(ev);
}

void eval_result_release(struct eval_result *r)
{
    if (!r) return;
    for (int l = 0; r->layer_names && l < r->nlayers; l++)
        free(r->layer_names[l]);
    for (int j = 0; r->methods && j < r->nmeth; j++)
        free(r->methods[j]);
    free(r->layer_names), free(r->methods), free(r->controls);
    free(r->pred), free(r->prob);
    free(r->del), free(r->ins), free(r->del_auc), free(r->ins_auc);
    free(r->morf), free(r->lerf), free(r->casc), free(r->indep), free(r->maps);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- scoring */
/* The probability of class cls of the n items in ev->buf. */
static int score_buf(struct eval *ev, int n, int cls, double *out)
{
    int rc = model_forward(ev->run, ev->buf, n);
    if (rc) return rc;
    const float *z = model_run_tensor(ev->run, ev->score.tensor);
    for (int j = 0; j < n; j++) {
        cam_score_probs(&ev->score, z + (size_t)j * ev->score.nlogit, ev->probs);
        out[j] = ev->probs[cls];
    }
    return 0;
}

/* The substrate s for the image x into out (one item). */
static void substrate(const struct eval *ev, enum eval_substrate s, const float *x, float *out)
{
    if (s == EVAL_SUB_BLUR) {
        attr_blur(&ev->in, x, out);
        return;
    }
    float v = s == EVAL_SUB_GRAY ? 0.5f : 0.0f;
    for (int c = 0; c < ev->in.c; c++)
        for (size_t p = 0; p < ev->hw; p++)
            out[ev->in.layout == MODEL_NHWC ? p * ev->in.c + c : c * ev->hw + p] =
                v * ev->pk[c] + ev->pb[c];
}

/* Sets pixel p (all channels) of dst from src. */
static void put_pixel(const struct eval *ev, float *dst, const float *src, size_t p)
{
    for (int c = 0; c < ev->in.c; c++) {
        size_t at = ev->in.layout == MODEL_NHWC ? p * ev->in.c + c : c * ev->hw + p;
        dst[at] = src[at];
    }
}

/* One curve: from `start`, the pixels of `order` set from `finish` in
 * p.steps steps; probabilities of cls into s (steps + 1). */
static int curve(struct eval *ev, const int *order, const float *start, const float *finish,
                 int cls, double *s)
{
    int N = ev->p.steps, B = ev->p.batch, nb = 0, first = 0, rc = 0;
    float *cur = xmalloc(sizeof(float) * ev->item);
    memcpy(cur, start, sizeof(float) * ev->item);
    size_t done = 0;
    for (int i = 0; i <= N && !rc; i++) {
        size_t k = (size_t)((double)i * (double)ev->hw / N);
        for (; done < k; done++)
            put_pixel(ev, cur, finish, (size_t)order[done]);
        memcpy(ev->buf + (size_t)nb * ev->item, cur, sizeof(float) * ev->item);
        if (++nb == B || i == N) {
            rc = score_buf(ev, nb, cls, s + first);
            first += nb, nb = 0;
        }
    }
    free(cur);
    return rc;
}

int eval_curves(struct eval *ev, const float *x, int cls, const float *map, double *del,
                double *ins)
{
    float *sd = xmalloc(sizeof(float) * ev->item), *si = xmalloc(sizeof(float) * ev->item);
    int *order = xmalloc(sizeof(int) * ev->hw);
    substrate(ev, ev->p.del_sub, x, sd);
    substrate(ev, ev->p.ins_sub, x, si);
    eval_order(map, ev->hw, order);
    int rc = curve(ev, order, x, sd, cls, del);
    if (!rc) rc = curve(ev, order, si, x, cls, ins);
    free(sd);
    free(si);
    free(order);
    return rc;
}

int eval_road(struct eval *ev, const float *x, int cls, const float *map, uint64_t tie_seed,
              uint64_t noise_seed, double *morf, double *lerf)
{
    size_t hw = ev->hw;
    float *m = xmalloc(sizeof(float) * hw);
    int *order = xmalloc(sizeof(int) * hw);
    unsigned char *rem = xmalloc(hw);
    double mn = INFINITY, mx = -INFINITY;
    for (size_t p = 0; p < hw; p++)
        if (isfinite(map[p])) mn = map[p] < mn ? map[p] : mn, mx = map[p] > mx ? map[p] : mx;
    if (!(mx >= mn)) mn = mx = 0;
    /* ROAD's normalize_map (min-max, epsilon 1e-5) plus its fixed 1e-4 N(0,1)
     * tie-break per pixel: one stream per image (seed + index) */
    struct rng tie, imp;
    rng_seed(&tie, tie_seed);
    for (size_t p = 0; p < hw; p++) {
        double v = isfinite(map[p]) ? (map[p] - mn) / (mx - mn + 1e-5) : 0;
        m[p] = (float)(v + 1e-4 * rng_normal(&tie));
    }
    eval_order(m, hw, order);
    rng_seed(&imp, noise_seed);
    float noise[4];
    for (int c = 0; c < ev->in.c; c++)
        noise[c] = (float)(ev->p.road_noise * ev->pk[c]);
    /* the masks and their noise in the stream's order, then the 14 solves
     * side by side */
    enum { T = 2 * EVAL_ROAD_N };
    unsigned char *rems = xmalloc(hw * T);
    double *adds[T];
    float *imgs = xmalloc(sizeof(float) * ev->item * T);
    int rcs[T] = {0}, rc = 0;
    for (int t = 0; t < T; t++) {
        unsigned char *rm = rems + (size_t)t * hw;
        size_t n = (size_t)((double)hw * eval_road_fractions[t % EVAL_ROAD_N]), nu;
        memset(rm, 0, hw);
        for (size_t k = 0; k < n; k++)
            rm[order[t >= EVAL_ROAD_N ? hw - 1 - k : k]] = 1;
        adds[t] = draw_noise(rm, hw, ev->in.c, noise, &imp, &nu);
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int t = 0; t < T; t++)
        rcs[t] = impute_with(&ev->in, x, rems + (size_t)t * hw, adds[t],
                             imgs + (size_t)t * ev->item);
    double s[T];
    for (int t = 0; t < T; t++)
        rc = rc       ? rc
             : rcs[t] ? error_set(rcs[t], NULL, "ROAD: imputation with every pixel removed")
                      : 0;
    for (int t0 = 0; t0 < T && !rc; t0 += ev->p.batch) {
        int nb = T - t0 < ev->p.batch ? T - t0 : ev->p.batch;
        memcpy(ev->buf, imgs + (size_t)t0 * ev->item, sizeof(float) * ev->item * (size_t)nb);
        rc = score_buf(ev, nb, cls, s + t0);
    }
    for (int k = 0; k < EVAL_ROAD_N && !rc; k++)
        morf[k] = s[k], lerf[k] = s[EVAL_ROAD_N + k];
    for (int t = 0; t < T; t++)
        free(adds[t]);
    free(rems);
    free(imgs);
    free(m);
    free(order);
    free(rem);
    return rc;
}

/* |map| scaled to [0, 1] (min-max; a constant map gives zeros). */
static void abs01(const float *map, size_t n, float *out)
{
    double mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v = fabs(map[i]);
        mn = v < mn ? v : mn, mx = v > mx ? v : mx;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = mx > mn ? (float)((fabs(map[i]) - mn) / (mx - mn)) : 0.0f;
}

static void rand_metrics(const float *m0, const float *m1, int h, int w, float *t0, float *t1,
                         double *out)
{
    size_t n = (size_t)h * w;
    out[EVAL_SPEARMAN] = eval_spearman(m0, m1, n);
    abs01(m0, n, t0);
    abs01(m1, n, t1);
    out[EVAL_SPEARMAN_ABS] = eval_spearman(t0, t1, n); /* ranks of |map| (scaling keeps them) */
    out[EVAL_SSIM] = eval_ssim(t0, t1, h, w);
}

/* ---------------------------------------------------------------- the run */
static int explain(struct eval *ev, int j, const float *x, int cls, int index, float *map)
{
    int rc = explainer_map(ev->ex[j], x, cls, index, map);
    if (rc) {
        char *msg = xstrdup(error_message());
        error_set(rc, NULL, "%s: %s", explainer_name(&ev->specs[j]), msg);
        free(msg);
    }
    return rc;
}

static void weights_changed(struct eval *ev)
{
    for (int j = 0; j < ev->nspec; j++)
        explainer_weights_changed(ev->ex[j]);
}

int eval_run(struct eval *ev, const float *const *x, int n, struct eval_result *res,
             const struct progress *prog)
{
    memset(res, 0, sizeof *res);
    int J = ev->nspec, L = ev->nlayers, N = ev->p.steps, H = ev->in.h, W = ev->in.w;
    size_t hw = ev->hw, nij = (size_t)n * J;
    res->nimg = n, res->nmeth = J, res->steps = N, res->nlayers = L, res->h = H, res->w = W;
    res->cascade = ev->p.cascade, res->single = ev->p.single, res->road = ev->p.road;
    res->layer_names = xcalloc((size_t)(L ? L : 1), sizeof(char *));
    for (int l = 0; l < L; l++) {
        struct model_weight_layer info;
        model_weight_layer_info(ev->m, l, &info);
        res->layer_names[l] = xstrdup(info.name);
    }
    res->methods = xcalloc((size_t)J, sizeof(char *));
    res->controls = xcalloc((size_t)J, sizeof(int));
    for (int j = 0; j < J; j++) {
        res->methods[j] = xstrdup(explainer_name(&ev->specs[j]));
        res->controls[j] = explainer_is_control(&ev->specs[j]);
    }
    res->pred = xcalloc((size_t)n, sizeof(int));
    res->prob = xcalloc((size_t)n, sizeof(double));
    res->del = xcalloc(nij * (size_t)(N + 1), sizeof(double));
    res->ins = xcalloc(nij * (size_t)(N + 1), sizeof(double));
    res->del_auc = xcalloc(nij, sizeof(double));
    res->ins_auc = xcalloc(nij, sizeof(double));
    res->morf = xcalloc(nij * EVAL_ROAD_N, sizeof(double));
    res->lerf = xcalloc(nij * EVAL_ROAD_N, sizeof(double));
    size_t nr = nij * (size_t)(L ? L : 1) * EVAL_RAND_METRICS;
    res->casc = xmalloc(nr * sizeof(double));
    res->indep = xmalloc(nr * sizeof(double));
    for (size_t k = 0; k < nr; k++)
        res->casc[k] = res->indep[k] = NAN;
    res->maps = xcalloc((size_t)J * (size_t)(L + 1) * hw, sizeof(float));
    float *maps0 = big_alloc(sizeof(float) * nij * hw, NULL, "the evaluated maps");
    if (!maps0) return error_code();
    float *map = xmalloc(sizeof(float) * hw), *t0 = xmalloc(sizeof(float) * hw),
          *t1 = xmalloc(sizeof(float) * hw);
    int rc = 0, K = L;
    if (ev->p.max_layers > 0 && ev->p.max_layers < L) K = ev->p.max_layers;
    size_t ticks = (size_t)n * 3 + (size_t)(ev->p.cascade ? K : 0) + (ev->p.single ? L : 0),
           tick = 0;
    double t;
    /* the prediction and the original maps */
    t = now_seconds();
    for (int i = 0; i < n && !rc; i++) {
        memcpy(ev->buf, x[i], sizeof(float) * ev->item);
        if ((rc = model_forward(ev->run, ev->buf, 1))) break;
        cam_score_probs(&ev->score, model_run_tensor(ev->run, ev->score.tensor), ev->probs);
        int best = 0;
        for (int k = 1; k < ev->score.nclass; k++)
            if (ev->probs[k] > ev->probs[best]) best = k;
        res->pred[i] = best, res->prob[i] = ev->probs[best];
        for (int j = 0; j < J && !rc; j++)
            rc = explain(ev, j, x[i], best, i, maps0 + ((size_t)i * J + j) * hw);
        progress_update(prog, "evaluate", ++tick, ticks, "maps");
    }
    for (int j = 0; j < J && !rc; j++)
        memcpy(res->maps + (size_t)j * (L + 1) * hw, maps0 + (size_t)j * hw,
               sizeof(float) * hw);
    res->seconds_maps = now_seconds() - t;
    /* deletion and insertion */
    t = now_seconds();
    for (int i = 0; i < n && !rc; i++) {
        for (int j = 0; j < J && !rc; j++) {
            size_t ij = (size_t)i * J + j;
            double *dc = res->del + ij * (N + 1), *ic = res->ins + ij * (N + 1);
            if (!(rc = eval_curves(ev, x[i], res->pred[i], maps0 + ij * hw, dc, ic))) {
                res->del_auc[ij] = N > 0 ? eval_auc(dc, N + 1) : dc[0];
                res->ins_auc[ij] = N > 0 ? eval_auc(ic, N + 1) : ic[0];
            }
        }
        progress_update(prog, "evaluate", ++tick, ticks, "deletion/insertion");
    }
    res->seconds_curves = now_seconds() - t;
    /* ROAD */
    t = now_seconds();
    for (int i = 0; i < n && !rc && ev->p.road; i++) {
        for (int j = 0; j < J && !rc; j++) {
            size_t ij = (size_t)i * J + j;
            /* the tie-break: one stream per image; the imputation noise: one
             * per image and method (its place among explainer_name_at's) */
            uint64_t tie = ev->p.seed + (uint64_t)i;
            rc = eval_road(ev, x[i], res->pred[i], maps0 + ij * hw, tie,
                           tie + ((uint64_t)(ev->gid[j] + 1) << 32),
                           res->morf + ij * EVAL_ROAD_N, res->lerf + ij * EVAL_ROAD_N);
        }
        progress_update(prog, "evaluate", ++tick, ticks, "ROAD");
    }
    if (!ev->p.road) tick += (size_t)n;
    res->seconds_road = now_seconds() - t;
    /* randomization: cascading from the logits down, then one layer at a time */
    t = now_seconds();
    for (int pass = 0; pass < 2 && !rc; pass++) {
        if ((pass == 0 && !ev->p.cascade) || (pass == 1 && !ev->p.single)) continue;
        int steps = pass == 0 ? K : L;
        for (int k = 0; k < steps && !rc; k++) {
            int layer = pass == 0 ? L - 1 - k : k;
            if ((rc = model_weight_layer_randomize(ev->clone, layer, ev->p.seed))) break;
            weights_changed(ev);
            for (int i = 0; i < n && !rc; i++)
                for (int j = 0; j < J && !rc; j++) {
                    size_t ij = (size_t)i * J + j;
                    if ((rc = explain(ev, j, x[i], res->pred[i], i, map))) break;
                    double *out = (pass == 0 ? res->casc : res->indep) +
                                  (ij * L + (size_t)k) * EVAL_RAND_METRICS;
                    rand_metrics(maps0 + ij * hw, map, H, W, t0, t1, out);
                    if (pass == 0 && i == 0)
                        memcpy(res->maps + ((size_t)j * (L + 1) + k + 1) * hw, map,
                               sizeof(float) * hw);
                }
            if (pass == 1 && !rc) rc = model_weight_layer_restore(ev->clone, ev->m, layer);
            progress_update(prog, "evaluate", ++tick, ticks,
                            pass == 0 ? "cascading randomization" : "layer randomization");
        }
        for (int l = 0; l < L && pass == 0; l++) /* back to the trained weights */
            model_weight_layer_restore(ev->clone, ev->m, l);
        weights_changed(ev);
    }
    res->seconds_rand = now_seconds() - t;
    free(maps0), free(map), free(t0), free(t1);
    if (rc) eval_result_release(res);
    return rc;
}

/* ---------------------------------------------------------------- summary */
#define APPEND(...)                                                                            \
    do {                                                                                       \
        if (len < size) len += (size_t)snprintf(buf + len, size - len, __VA_ARGS__);           \
    } while (0)

void eval_describe(const struct eval_result *res, const struct eval_summary_row *rows, int j,
                   double fail_rho, char *buf, size_t size)
{
    const struct eval_summary_row *r = &rows[j];
    size_t len = 0;
    int rnd = -1;
    for (int k = 0; k < res->nmeth; k++)
        if (!strcmp(res->methods[k], "random")) rnd = k;
    buf[0] = 0;
    APPEND("%s: ", res->methods[j]);
    if (!strcmp(res->methods[j], "random")) {
        APPEND("the baseline any useful map must beat (deletion area %.3f, insertion %.3f)",
               r->del_auc.mean, r->ins_auc.mean);
    } else if (rnd >= 0) {
        const struct eval_summary_row *q = &rows[rnd];
        int del_ok = r->del_auc.mean<q->del_auc.mean, ins_ok = r->ins_auc.mean> q->ins_auc.mean;
        APPEND("removing its top pixels first drops the class probability %s a random "
               "order does (deletion area %.3f vs %.3f) and restoring them %s (insertion "
               "%.3f vs %.3f)",
               del_ok ? "faster than" : "no faster than", r->del_auc.mean, q->del_auc.mean,
               ins_ok ? "brings it back sooner" : "does not bring it back sooner",
               r->ins_auc.mean, q->ins_auc.mean);
    } else {
        APPEND("deleting its top pixels first leaves an area of %.3f under the probability "
               "curve (lower: the map found what the model uses) and inserting them %.3f "
               "(higher is better)",
               r->del_auc.mean, r->ins_auc.mean);
    }
    if (res->road)
        APPEND("; ROAD keeps %.2f of the probability when its least relevant pixels are "
               "imputed and %.2f for the most relevant (gap %.2f: larger is more faithful)",
               r->lerf.mean, r->morf.mean, r->road_gap.mean);
    if (res->cascade && !isnan(r->casc_mean_rho_abs.mean)) {
        if (r->fails)
            APPEND("; as the layers are re-initialised from the logits down its map keeps "
                   "ranking pixels like the trained model's (mean Spearman %.2f >= %.2f, "
                   "%.2f with every layer random): it FAILS the sanity check, showing the "
                   "image more than what the model learned",
                   r->casc_mean_rho_abs.mean, fail_rho, r->casc_rho_abs.mean);
        else
            APPEND("; as the layers are re-initialised from the logits down its map changes "
                   "(mean Spearman %.2f < %.2f, %.2f and SSIM %.2f with every layer random): "
                   "it passes the sanity check",
                   r->casc_mean_rho_abs.mean, fail_rho, r->casc_rho_abs.mean,
                   r->casc_ssim.mean);
    }
    APPEND(".");
}
#undef APPEND

static struct eval_stat stat_of(const double *v, size_t n, size_t stride)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i * stride];
    double mean = n ? s / (double)n : NAN;
    for (size_t i = 0; i < n; i++)
        s2 += (v[i * stride] - mean) * (v[i * stride] - mean);
    return (struct eval_stat){mean, n > 1 ? sqrt(s2 / (double)(n - 1)) : 0.0};
}

void eval_summary(const struct eval_result *res, double fail_rho, struct eval_summary_row *rows)
{
    int n = res->nimg, J = res->nmeth, L = res->nlayers;
    double *v = xmalloc(sizeof(double) * (size_t)(n ? n : 1) * 8);
    for (int j = 0; j < J; j++) {
        struct eval_summary_row *r = &rows[j];
        memset(r, 0, sizeof *r);
        r->del_auc = stat_of(res->del_auc + j, (size_t)n, (size_t)J);
        r->ins_auc = stat_of(res->ins_auc + j, (size_t)n, (size_t)J);
        double *mo = v, *le = v + n, *gap = v + 2 * n, *cr = v + 3 * n, *ca = v + 4 * n,
               *cs = v + 5 * n, *ia = v + 6 * n, *cm = v + 7 * n;
        int last = -1; /* the deepest cascade step that ran */
        for (int k = 0; k < L; k++)
            if (!isnan(res->casc[((size_t)j * L + k) * EVAL_RAND_METRICS + EVAL_SSIM]))
                last = k;
        for (int i = 0; i < n; i++) {
            size_t ij = (size_t)i * J + j;
            double a = 0, b = 0;
            for (int k = 0; k < EVAL_ROAD_N; k++)
                a += res->morf[ij * EVAL_ROAD_N + k], b += res->lerf[ij * EVAL_ROAD_N + k];
            mo[i] = a / EVAL_ROAD_N, le[i] = b / EVAL_ROAD_N, gap[i] = le[i] - mo[i];
            cr[i] = ca[i] = cs[i] = ia[i] = cm[i] = NAN;
            if (last >= 0) {
                double s = 0;
                for (int k = 0; k <= last; k++) {
                    double x = res->casc[(ij * L + k) * EVAL_RAND_METRICS + EVAL_SPEARMAN_ABS];
                    s += isnan(x) ? 0 : x;
                }
                cm[i] = s / (last + 1);
                const double *m = res->casc + (ij * L + last) * EVAL_RAND_METRICS;
                r->undefined += isnan(m[EVAL_SPEARMAN_ABS]);
                cr[i] = isnan(m[EVAL_SPEARMAN]) ? 0 : m[EVAL_SPEARMAN];
                ca[i] = isnan(m[EVAL_SPEARMAN_ABS]) ? 0 : m[EVAL_SPEARMAN_ABS];
                cs[i] = m[EVAL_SSIM];
            }
            if (res->single && L > 0) {
                double s = 0;
                for (int l = 0; l < L; l++) {
                    double x = res->indep[(ij * L + l) * EVAL_RAND_METRICS + EVAL_SPEARMAN_ABS];
                    s += isnan(x) ? 0 : x;
                }
                ia[i] = s / L;
            }
        }
        r->morf = stat_of(mo, (size_t)n, 1), r->lerf = stat_of(le, (size_t)n, 1);
        r->road_gap = stat_of(gap, (size_t)n, 1);
        r->casc_rho = stat_of(cr, (size_t)n, 1), r->casc_rho_abs = stat_of(ca, (size_t)n, 1);
        r->casc_ssim = stat_of(cs, (size_t)n, 1), r->indep_rho_abs = stat_of(ia, (size_t)n, 1);
        r->casc_mean_rho_abs = stat_of(cm, (size_t)n, 1);
        r->fails = last >= 0 && r->casc_mean_rho_abs.mean >= fail_rho;
    }
    free(v);
}
