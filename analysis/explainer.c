/* explainer.c - every map behind one call: CAM family, attributions,
 * occlusion and the random and edge controls, at the input's resolution.
 */
#include "explainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/rng.h"
#include "../core/util.h"

/* ---------------------------------------------------------------- names */
int explainer_name_count(void)
{
    return CAM_METHOD_COUNT + ATTR_METHOD_COUNT + 3;
}

const char *explainer_name_at(int i)
{
    static const char *const tail[] = {"occlusion", "random", "sobel"};
    if (i < 0) return "?";
    if (i < CAM_METHOD_COUNT) return cam_method_name(i);
    i -= CAM_METHOD_COUNT;
    if (i < ATTR_METHOD_COUNT) return attr_method_name(i);
    i -= ATTR_METHOD_COUNT;
    return i < 3 ? tail[i] : "?";
}

int explainer_parse(const char *s, struct explainer_spec *spec)
{
    int m;
    if ((m = cam_method_parse(s)) >= 0) {
        *spec = (struct explainer_spec){EXPL_CAM, m};
        return 0;
    }
    if ((m = attr_method_parse(s)) >= 0) {
        *spec = (struct explainer_spec){EXPL_ATTR, m};
        return 0;
    }
    if (!strcmp(s, "occlusion")) return *spec = (struct explainer_spec){EXPL_OCCLUSION, 0}, 0;
    if (!strcmp(s, "random")) return *spec = (struct explainer_spec){EXPL_RANDOM, 0}, 0;
    if (!strcmp(s, "sobel") || !strcmp(s, "edge") || !strcmp(s, "edges"))
        return *spec = (struct explainer_spec){EXPL_SOBEL, 0}, 0;
    return -1;
}

const char *explainer_name(const struct explainer_spec *s)
{
    switch (s->kind) {
    case EXPL_CAM: return cam_method_name(s->method);
    case EXPL_ATTR: return attr_method_name(s->method);
    case EXPL_OCCLUSION: return "occlusion";
    case EXPL_RANDOM: return "random";
    default: return "sobel";
    }
}

int explainer_uses_gradients(const struct explainer_spec *s)
{
    return s->kind == EXPL_ATTR ||
           (s->kind == EXPL_CAM && cam_method_uses_gradients(s->method));
}

int explainer_is_control(const struct explainer_spec *s)
{
    return s->kind == EXPL_RANDOM || s->kind == EXPL_SOBEL;
}

/* ---------------------------------------------------------------- context */
struct explainer_params explainer_params_default(void)
{
    return (struct explainer_params){.layer = -1,
                                     .attr = attr_params_default(),
                                     .occ = occlusion_params_default(),
                                     .seed = 0};
}

struct explainer *explainer_new(const struct model *m, const struct model_prep *prep,
                                const struct explainer_spec *s,
                                const struct explainer_params *p)
{
    struct model_input_info in;
    if (model_input_info(m, &in)) return NULL;
    struct explainer *e = xcalloc(1, sizeof *e);
    e->s = *s, e->m = m, e->seed = p->seed;
    e->c = in.c, e->h = in.h, e->w = in.w, e->nhwc = in.layout == MODEL_NHWC;
    switch (s->kind) {
    case EXPL_CAM:
        if (p->layer >= 0 && cam_layer_gradient_check(m, p->layer, s->method)) goto fail;
        if (!(e->cam = cam_new(m, p->layer))) goto fail;
        if (cam_layer_gradient_check(m, e->cam->layer, s->method)) goto fail;
        e->lmap = xmalloc(sizeof(float) * (size_t)e->cam->lh * e->cam->lw);
        break;
    case EXPL_ATTR: {
        struct attr_params ap = p->attr;
        ap.layer = p->layer;
        if (!(e->attr = attr_new(m, prep, &ap))) goto fail;
        break;
    }
    case EXPL_OCCLUSION:
        if (!(e->occ = occlusion_new(m, &p->occ, prep))) goto fail;
        break;
    default: break;
    }
    return e;
fail:
    explainer_free(e);
    return NULL;
}

void explainer_free(struct explainer *e)
{
    if (!e) return;
    cam_free(e->cam);
    attr_free(e->attr);
    occlusion_free(e->occ);
    free(e->lmap);
    free(e);
}

void explainer_weights_changed(struct explainer *e)
{
    if (e->cam) cam_weights_changed(e->cam);
    if (e->attr) attr_weights_changed(e->attr);
    if (e->occ) occlusion_weights_changed(e->occ);
}

/* ---------------------------------------------------------------- maps */
/* OpenCV's BORDER_REFLECT_101: ... 2 1 | 0 1 2 ... n-1 | n-2 ... */
static int reflect101(int i, int n)
{
    if (n == 1) return 0;
    while (i < 0 || i >= n)
        i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

void explainer_sobel(const float *x, int c, int h, int w, int nhwc, float *map)
{
    size_t hw = (size_t)h * w;
    float *g = xmalloc(sizeof(float) * hw);
    for (size_t p = 0; p < hw; p++) {
        double s = 0;
        for (int k = 0; k < c; k++)
            s += x[nhwc ? p * c + k : k * hw + p];
        g[p] = (float)(s / c);
    }
#define G(y, x) ((double)g[(size_t)reflect101(y, h) * w + reflect101(x, w)])
    for (int y = 0; y < h; y++)
        for (int xx = 0; xx < w; xx++) {
            double gx = G(y - 1, xx + 1) - G(y - 1, xx - 1) +
                        2 * (G(y, xx + 1) - G(y, xx - 1)) + G(y + 1, xx + 1) - G(y + 1, xx - 1);
            double gy = G(y + 1, xx - 1) - G(y - 1, xx - 1) +
                        2 * (G(y + 1, xx) - G(y - 1, xx)) + G(y + 1, xx + 1) - G(y - 1, xx + 1);
            map[(size_t)y * w + xx] = (float)(0.5 * fabs(gx) + 0.5 * fabs(gy));
        }
#undef G
    free(g);
}

int explainer_map(struct explainer *e, const float *x, int cls, int index, float *map)
{
    size_t hw = (size_t)e->h * e->w;
    int rc = 0;
    switch (e->s.kind) {
    case EXPL_CAM: {
        struct cam_info info;
        if ((rc = cam_forward(e->cam, x)) ||
            (rc = cam_map(e->cam, cls, e->s.method, e->lmap, &info)))
            return rc;
        cam_upsample(e->lmap, e->cam->lh, e->cam->lw, map, e->h, e->w);
        return 0;
    }
    case EXPL_ATTR: {
        struct attr_info info;
        if ((rc = attr_forward(e->attr, x))) return rc;
        return attr_map(e->attr, cls, e->s.method, NULL, map, &info);
    }
    case EXPL_OCCLUSION: return occlusion_run(e->occ, x, &cls, 1, NULL, map, NULL);
    case EXPL_RANDOM: {
        struct rng r;
        rng_seed(&r, e->seed + (uint64_t)index);
        for (size_t p = 0; p < hw; p++)
            map[p] = (float)rng_uniform(&r);
        return 0;
    }
    default: explainer_sobel(x, e->c, e->h, e->w, e->nhwc, map); return 0;
    }
}
