/* explainer.h - one interface over every map interp makes, for the
 * faithfulness and sanity tests (evaluate.h) and the report: the CAM family
 * (cam.h) upsampled to the input, the input attributions (attribution.h)
 * summed over channels, occlusion (occlusion.h), and two controls that do
 * not look at the model: a random map and an edge detector.
 *
 *     struct explainer_spec s;
 *     if (explainer_parse("scorecam", &s)) ... unknown ...
 *     struct explainer_params p = explainer_params_default();
 *     struct explainer *e = explainer_new(m, &prep, &s, &p);   // NULL + error
 *     float *map = xmalloc(sizeof(float) * e->h * e->w);
 *     explainer_map(e, x, cls, 0, map);                        // H x W, input resolution
 *     explainer_free(e);
 */
#ifndef INTERP_EXPLAINER_H
#define INTERP_EXPLAINER_H

#include <stdint.h>

#include "../core/model.h"
#include "attribution.h"
#include "cam.h"
#include "occlusion.h"

enum explainer_kind {
    EXPL_CAM,       /* method: an enum cam_method; map upsampled bilinearly */
    EXPL_ATTR,      /* method: an enum attr_method; map = sum over channels */
    EXPL_OCCLUSION, /* occlusion.h's map (the probability drops) */
    /* controls (Adebayo et al. 2018): independent of the model's weights */
    EXPL_RANDOM, /* uniform [0, 1) per pixel from core/rng.h seeded seed + image index */
    EXPL_SOBEL,  /* edges of the input: 0.5 |Sobel x| + 0.5 |Sobel y| of the
                    channel mean, borders reflected (OpenCV's BORDER_REFLECT_101),
                    as pytorch-grad-cam's sobel_cam computes it (in float) */
};

struct explainer_spec {
    enum explainer_kind kind;
    int method;
};

/* Every name explainer_parse knows, in a fixed order: the CAM methods, the
 * attribution methods, "occlusion", "random", "sobel". */
int explainer_name_count(void);
const char *explainer_name_at(int i);
/* The spec named s (cam_method_parse and attr_method_parse's spellings too):
 * 0, or -1 when unknown. */
int explainer_parse(const char *s, struct explainer_spec *spec);
const char *explainer_name(const struct explainer_spec *s); /* canonical name */
/* 1 when the map needs d score / d (something): a gradient CAM method or an
 * attribution. */
int explainer_uses_gradients(const struct explainer_spec *s);
/* 1 for the controls (random, sobel). */
int explainer_is_control(const struct explainer_spec *s);

struct explainer_params {
    int layer;               /* CAM methods and Guided Grad-CAM: -1 = default */
    struct attr_params attr; /* attribution methods */
    struct occlusion_params occ;
    uint64_t seed; /* the random control */
};
struct explainer_params explainer_params_default(void);

struct explainer {
    struct explainer_spec s;
    const struct model *m;
    int c, h, w, nhwc; /* the model input */
    uint64_t seed;
    struct cam *cam;   /* EXPL_CAM */
    struct attr *attr; /* EXPL_ATTR */
    struct occlusion *occ;
    float *lmap; /* scratch */
};

/* An explainer of kind s over model m. NULL + ERR_INPUT for a bad layer or
 * parameters (the message names them), or a method needing gradients at a
 * layer the scores do not depend on. Free with explainer_free; m must
 * outlive it. */
struct explainer *explainer_new(const struct model *m, const struct model_prep *prep,
                                const struct explainer_spec *s,
                                const struct explainer_params *p);
void explainer_free(struct explainer *e); /* NULL is a no-op */

/* The map of class cls for one input item x (model layout) into map
 * (e->h x e->w, input resolution); `index` (the image's index) seeds the
 * random control. 0 or an error. */
int explainer_map(struct explainer *e, const float *x, int cls, int index, float *map);

/* After the model's weights changed in place (a clone re-initialised by
 * model_weight_layer_randomize/restore): makes the next maps see them. */
void explainer_weights_changed(struct explainer *e);

/* The edge control on its own: map (h x w) from one input item. */
void explainer_sobel(const float *x, int c, int h, int w, int nhwc, float *map);

#endif
