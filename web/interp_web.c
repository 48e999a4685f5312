/* interp_web.c - the WebAssembly module's interface to the page's worker
 * (web/worker.js): load a model from memory, take an image's pixels, and
 * compute the prediction, Grad-CAM/Grad-CAM++, saliency and occlusion maps
 * with the same library calls as `interp predict/gradcam/occlusion`. Each call
 * returns 0 and leaves a JSON description (web_json) or a negative code with
 * the reason in web_error. One model and one image at a time.
 */
#include <emscripten.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../analysis/cam.h"
#include "../analysis/occlusion.h"
#include "../core/error.h"
#include "../core/image.h"
#include "../core/json.h"
#include "../core/model.h"
#include "../core/util.h"
#include "../plots/colormap.h"

static struct {
    struct model *m;
    struct model_run *run; /* forward-only, batch 1: the prediction */
    struct cam *cam;       /* at cam_layer */
    int cam_layer;
    struct occlusion *occ;
    struct occlusion_params occ_p;
    struct image *im; /* the original, CHW [0,1] */
    float *x;         /* the model input */
    float *probs;
    float *lmap, *imap; /* the last map at its own and at the input resolution */
    char *json;         /* the last JSON description */
    char *err;
} W;

/* progress of the occlusion to the worker (web/worker.js sets Module.onProgress) */
EM_JS(void, js_progress, (double done, double total), {
    if (Module.onProgress) Module.onProgress(done, total);
});

static void progress_to_js(void *ctx, const char *stage, size_t done, size_t total,
                           const char *note)
{
    (void)ctx, (void)stage, (void)note;
    js_progress((double)done, (double)total);
}

/* ---------------------------------------------------------------- JSON */
struct jbuf {
    struct json j;
    FILE *fp;
    char *s;
    size_t n;
};

static void jbuf_open(struct jbuf *b)
{
    b->s = NULL, b->n = 0;
    b->fp = open_memstream(&b->s, &b->n);
    ASSERT(b->fp);
    json_init(&b->j, b->fp);
    b->j.pretty = 0;
}

static void jbuf_close(struct jbuf *b)
{
    json_finish(&b->j);
    fclose(b->fp);
    free(W.json);
    W.json = b->s;
}

static void shape_json(struct json *j, const char *key, int id)
{
    char buf[128];
    json_key(j, key);
    json_string(j, model_tensor_shape_str(W.m, id, buf, sizeof buf));
}

/* ---------------------------------------------------------------- errors */
static int fail(void)
{
    const char *path = error_path(), *msg = error_message();
    free(W.err);
    W.err = path ? xasprintf("%s: %s", path, msg) : xstrdup(msg[0] ? msg : "failed");
    error_clear();
    return -1;
}

EMSCRIPTEN_KEEPALIVE const char *web_error(void)
{
    return W.err ? W.err : "";
}

EMSCRIPTEN_KEEPALIVE const char *web_json(void)
{
    return W.json ? W.json : "{}";
}

/* The page's limits: bytes of one input-sized allocation (a model's weights
 * plus activations included) and pixels of one image. */
EMSCRIPTEN_KEEPALIVE void web_limits(double max_bytes, double max_pixels)
{
    struct limits *l = limits_get();
    l->max_bytes = (uint64_t)max_bytes;
    l->max_model_bytes = (uint64_t)max_bytes;
    l->max_pixels = (uint64_t)max_pixels;
}

/* ---------------------------------------------------------------- the model */
static void model_release(void)
{
    occlusion_free(W.occ);
    cam_free(W.cam);
    model_run_free(W.run);
    model_free(W.m);
    free(W.x);
    free(W.probs);
    W.occ = NULL, W.cam = NULL, W.run = NULL, W.m = NULL, W.x = NULL, W.probs = NULL;
}

static void summary_json(void)
{
    struct jbuf b;
    struct json *j = &b.j;
    struct model *m = W.m;
    struct model_input_info in;
    model_input_info(m, &in);
    jbuf_open(&b);
    json_object_begin(j);
    json_key(j, "source");
    json_string(j, model_source(m));
    json_key(j, "input");
    json_object_begin(j);
    json_key(j, "name");
    json_string(j, model_tensor_name(m, model_input(m)));
    shape_json(j, "shape", model_input(m));
    json_key(j, "layout");
    json_string(j, in.layout == MODEL_NHWC ? "NHWC" : "NCHW");
    json_key(j, "c");
    json_int(j, in.c);
    json_key(j, "h");
    json_int(j, in.h);
    json_key(j, "w");
    json_int(j, in.w);
    json_object_end(j);
    json_key(j, "output");
    json_string(j, model_tensor_name(m, model_output(m)));
    shape_json(j, "output_shape", model_output(m));
    json_key(j, "classes");
    json_int(j, W.cam ? W.cam->score.nclass : model_prob_classes(m));
    json_key(j, "score_used");
    json_string(j, W.cam ? W.cam->score.what : NULL);
    json_key(j, "parameters");
    json_int(j, (int64_t)model_param_count(m));
    const char *why = NULL;
    json_key(j, "raw_pixels");
    json_bool(j, model_raw_pixels(m, &why));
    json_key(j, "raw_pixels_why");
    json_string(j, why);
    int deflt = model_default_cam_layer(m);
    json_key(j, "cam_layer");
    if (deflt >= 0)
        json_string(j, model_tensor_name(m, deflt));
    else
        json_null(j);
    /* the layers Grad-CAM can use: 4-D activations the class scores depend on */
    json_key(j, "layers");
    json_array_begin(j);
    for (int i = 0; i < model_tensor_count(m); i++) {
        int64_t d[MODEL_MAX_DIMS];
        if (!model_tensor_is_activation(m, i) || i == model_input(m) ||
            model_tensor_shape(m, i, d) != 4)
            continue;
        if (cam_layer_check(m, i)) {
            error_clear();
            continue;
        }
        json_object_begin(j);
        json_key(j, "name");
        json_string(j, model_tensor_name(m, i));
        shape_json(j, "shape", i);
        json_object_end(j);
    }
    json_array_end(j);
    json_object_end(j);
    jbuf_close(&b);
}

/* Loads a model from the file's bytes (name: the file name, for messages).
 * 0 with the summary in web_json, or -1 with the reason in web_error. */
EMSCRIPTEN_KEEPALIVE int web_model_load(const void *buf, size_t len, const char *name)
{
    model_release();
    struct model_input_info in;
    if (!(W.m = model_parse(buf, len, name)) || model_input_info(W.m, &in)) {
        error_set_path_if_missing(name);
        model_release();
        return fail();
    }
    size_t item = model_tensor_item(W.m, model_input(W.m));
    W.x = xcalloc(item, sizeof(float));
    W.probs = xcalloc((size_t)model_prob_classes(W.m), sizeof(float));
    if (!(W.run = model_run_new(W.m, 1, MODEL_RUN_FORWARD, NULL, 0))) {
        error_set_path_if_missing(name);
        model_release();
        return fail();
    }
    W.cam_layer = model_default_cam_layer(W.m);
    if (W.cam_layer >= 0 && !(W.cam = cam_new(W.m, W.cam_layer))) {
        error_set_path_if_missing(name);
        model_release();
        return fail();
    }
    summary_json();
    return 0;
}

/* ---------------------------------------------------------------- the image */
/* An image from interleaved 8-bit pixels (h x w x c, c 1..4, as the browser
 * decoded them): v / 255 as interp's PNG reader computes it, then
 * preprocessed for the model (model_preprocess with the default scaling). */
EMSCRIPTEN_KEEPALIVE int web_image_set(const uint8_t *pix, int h, int w, int c)
{
    image_free(W.im);
    W.im = NULL;
    if (!W.m) return error_set(ERR_INPUT, NULL, "no model loaded"), fail();
    if (!(W.im = image_new(c, h, w))) return fail();
    size_t plane = (size_t)h * w;
    for (size_t i = 0; i < plane; i++)
        for (int k = 0; k < c; k++)
            W.im->data[k * plane + i] = (float)pix[i * c + k] / 255.0f;
    struct model_prep prep = model_prep_default();
    if (model_preprocess(W.m, W.im, &prep, W.x)) return fail();
    return 0;
}

/* An image decoded by interp itself (BMP, GIF: the formats the build's own
 * decoders read), then as web_image_set. The size in web_json. */
EMSCRIPTEN_KEEPALIVE int web_image_decode(const void *buf, size_t len, const char *name)
{
    image_free(W.im);
    W.im = NULL;
    if (!W.m) return error_set(ERR_INPUT, NULL, "no model loaded"), fail();
    if (!(W.im = image_decode(buf, len, name))) {
        error_set_path_if_missing(name);
        return fail();
    }
    struct model_prep prep = model_prep_default();
    if (model_preprocess(W.m, W.im, &prep, W.x)) return fail();
    struct jbuf b;
    jbuf_open(&b);
    json_object_begin(&b.j);
    json_key(&b.j, "c");
    json_int(&b.j, W.im->c);
    json_key(&b.j, "h");
    json_int(&b.j, W.im->h);
    json_key(&b.j, "w");
    json_int(&b.j, W.im->w);
    json_key(&b.j, "data");
    json_int(&b.j, (int64_t)(uintptr_t)W.im->data);
    json_object_end(&b.j);
    jbuf_close(&b);
    return 0;
}

/* ---------------------------------------------------------------- explanations */
/* The class probabilities of the image: {"probs": ptr, "classes": K}. */
EMSCRIPTEN_KEEPALIVE int web_predict(void)
{
    if (!W.im) return error_set(ERR_INPUT, NULL, "no image"), fail();
    model_forward(W.run, W.x, 1);
    model_run_probs(W.run, W.probs);
    struct jbuf b;
    jbuf_open(&b);
    json_object_begin(&b.j);
    json_key(&b.j, "probs");
    json_int(&b.j, (int64_t)(uintptr_t)W.probs);
    json_key(&b.j, "classes");
    json_int(&b.j, model_prob_classes(W.m));
    json_object_end(&b.j);
    jbuf_close(&b);
    return 0;
}

static void map_json(const char *method, int cls, int pred, const struct cam_info *info,
                     const float *lmap, int lh, int lw, int layer, const float *imap, int ih,
                     int iw)
{
    static const char *const flags[] = {"none", "all_zero", "constant", "non_finite"};
    struct jbuf b;
    struct json *j = &b.j;
    jbuf_open(&b);
    json_object_begin(j);
    json_key(j, "method");
    json_string(j, method);
    json_key(j, "class");
    json_int(j, cls);
    json_key(j, "predicted");
    json_int(j, pred);
    json_key(j, "probability");
    json_double(j, info->prob);
    json_key(j, "score");
    json_double(j, info->score);
    json_key(j, "map_min");
    json_double(j, info->min);
    json_key(j, "map_max");
    json_double(j, info->max);
    json_key(j, "flag");
    json_string(j, flags[info->flag >= 0 && info->flag < 4 ? info->flag : 0]);
    json_key(j, "reason");
    json_string(j, info->reason);
    json_key(j, "layer");
    json_string(j, layer >= 0 ? model_tensor_name(W.m, layer) : NULL);
    json_key(j, "lmap");
    json_int(j, (int64_t)(uintptr_t)lmap);
    json_key(j, "lh");
    json_int(j, lh);
    json_key(j, "lw");
    json_int(j, lw);
    json_key(j, "imap");
    json_int(j, (int64_t)(uintptr_t)imap);
    json_key(j, "ih");
    json_int(j, ih);
    json_key(j, "iw");
    json_int(j, iw);
    json_object_end(j);
    jbuf_close(&b);
}

/* Grad-CAM (method 0) or Grad-CAM++ (1) of class cls (-1: the predicted
 * one) at the tensor named `layer` ("" or NULL: the default), as `interp
 * gradcam`: the map at the layer's resolution and upsampled to the input's. */
EMSCRIPTEN_KEEPALIVE int web_gradcam(const char *layer, int cls, int method)
{
    if (!W.im) return error_set(ERR_INPUT, NULL, "no image"), fail();
    int t = layer && layer[0] ? model_tensor_find(W.m, layer) : model_default_cam_layer(W.m);
    if (t < 0)
        return error_set(ERR_INPUT, NULL,
                         layer && layer[0] ? "no tensor named '%s'"
                                           : "the model has no 4-D layer for Grad-CAM%s",
                         layer && layer[0] ? layer : ""),
               fail();
    if (!W.cam || t != W.cam_layer) {
        cam_free(W.cam);
        W.cam = NULL;
        if (cam_layer_check(W.m, t) || !(W.cam = cam_new(W.m, t))) return fail();
        W.cam_layer = t;
    }
    struct cam *c = W.cam;
    if (cam_forward(c, W.x)) return fail();
    int pred = cam_pred(c);
    if (cls < 0) cls = pred;
    free(W.lmap);
    free(W.imap);
    W.lmap = xmalloc(sizeof(float) * (size_t)c->lh * c->lw);
    W.imap = xmalloc(sizeof(float) * (size_t)c->ih * c->iw);
    struct cam_info info;
    if (cam_map(c, cls, method ? CAM_GRADCAM_PP : CAM_GRADCAM, W.lmap, &info)) return fail();
    cam_upsample(W.lmap, c->lh, c->lw, W.imap, c->ih, c->iw);
    map_json(method ? "gradcam++" : "gradcam", cls, pred, &info, W.lmap, c->lh, c->lw, t,
             W.imap, c->ih, c->iw);
    return 0;
}

/* Input-gradient saliency of class cls (-1: predicted), as `interp saliency`. */
EMSCRIPTEN_KEEPALIVE int web_saliency(int cls)
{
    if (!W.im) return error_set(ERR_INPUT, NULL, "no image"), fail();
    if (!W.cam) return error_set(ERR_INPUT, NULL, "the model has no 4-D layer"), fail();
    struct cam *c = W.cam;
    if (cam_forward(c, W.x)) return fail();
    int pred = cam_pred(c);
    if (cls < 0) cls = pred;
    free(W.lmap);
    free(W.imap);
    W.lmap = NULL;
    W.imap = xmalloc(sizeof(float) * (size_t)c->ih * c->iw);
    struct cam_info info;
    if (cam_saliency(c, cls, W.imap, &info)) return fail();
    map_json("saliency", cls, pred, &info, NULL, 0, 0, -1, W.imap, c->ih, c->iw);
    return 0;
}

/* Occlusion of class cls (-1: predicted) with a patch x patch square of
 * `fill` moved by `stride`, as `interp occlusion` (incremental), reporting
 * progress per batch of `batch` copies through Module.onProgress. */
EMSCRIPTEN_KEEPALIVE int web_occlusion(int patch, int stride, double fill, int cls, int batch)
{
    if (!W.im) return error_set(ERR_INPUT, NULL, "no image"), fail();
    struct occlusion_params p = occlusion_params_default();
    p.patch = patch, p.stride = stride, p.fill = fill;
    if (batch > 0) p.batch = batch;
    if (!W.occ || W.occ_p.patch != p.patch || W.occ_p.stride != p.stride ||
        W.occ_p.fill != p.fill || W.occ_p.batch != p.batch) {
        occlusion_free(W.occ);
        struct model_prep prep = model_prep_default();
        if (!(W.occ = occlusion_new(W.m, &p, &prep))) return fail();
        W.occ_p = p;
    }
    struct occlusion *o = W.occ;
    if (occlusion_predict(o, W.x)) return fail();
    int pred = 0;
    for (int k = 1; k < o->score.nclass; k++)
        if (o->probs[k] > o->probs[pred]) pred = k;
    if (cls < 0) cls = pred;
    free(W.lmap);
    free(W.imap);
    W.lmap = xmalloc(sizeof(float) * (size_t)o->ny * o->nx);
    W.imap = xmalloc(sizeof(float) * (size_t)o->h * o->w);
    struct progress prog = {progress_to_js, NULL};
    if (occlusion_run(o, W.x, &cls, 1, W.lmap, W.imap, &prog)) return fail();
    struct cam_info info;
    occlusion_map_check(o, W.imap, (size_t)o->h * o->w, cls, &info);
    map_json("occlusion", cls, pred, &info, W.lmap, o->ny, o->nx, -1, W.imap, o->h, o->w);
    return 0;
}

/* ---------------------------------------------------------------- drawing */
/* 256 x 3 bytes of the colour map `name` into out; -1 when unknown. */
EMSCRIPTEN_KEEPALIVE int web_colormap(const char *name, uint8_t *out)
{
    const struct colormap *cm = colormap_find(name);
    if (!cm) return -1;
    memcpy(out, cm->table, 256 * 3);
    return 0;
}

/* The overlay as `interp gradcam/occlusion` draws it, without the colour
 * bar (the page draws its own): the map (mh x mw) upsampled bilinearly to
 * the original image's size, coloured from [vmin, vmax] and blended with
 * alpha, into out (h x w RGBA). */
EMSCRIPTEN_KEEPALIVE int web_overlay(const float *map, int mh, int mw, const char *cmap,
                                     double vmin, double vmax, double alpha, uint8_t *out)
{
    const struct colormap *cm = colormap_find(cmap);
    if (!W.im || !cm) return -1;
    int h = W.im->h, w = W.im->w, c = W.im->c;
    size_t plane = (size_t)h * w;
    float *big = xmalloc(sizeof(float) * plane);
    cam_upsample(map, mh, mw, big, h, w);
    for (size_t i = 0; i < plane; i++) {
        /* plots/heatmap.c's scale_value and blend, step for step */
        double t = vmax > vmin ? (big[i] - vmin) / (vmax - vmin) : (cm->diverging ? 0.5 : 0.0);
        uint8_t rgb[3];
        colormap_rgb(cm, t, rgb);
        for (int k = 0; k < 3; k++) {
            double v = W.im->data[(c >= 3 ? k : 0) * plane + i];
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            if (!(v == v)) v = 0;
            double o = (1.0 - alpha) * v * 255.0 + alpha * rgb[k];
            out[i * 4 + k] = (uint8_t)lrint(o < 0 ? 0 : o > 255 ? 255 : o);
        }
        out[i * 4 + 3] = 255;
    }
    free(big);
    return 0;
}

/* The original image as RGBA (h x w x 4) into out, for BMP/GIF images that
 * interp decoded itself. */
EMSCRIPTEN_KEEPALIVE int web_image_rgba(uint8_t *out)
{
    if (!W.im) return -1;
    int c = W.im->c;
    size_t plane = (size_t)W.im->h * W.im->w;
    for (size_t i = 0; i < plane; i++) {
        for (int k = 0; k < 3; k++) {
            float v = W.im->data[(c >= 3 ? k : 0) * plane + i];
            out[i * 4 + k] = (uint8_t)(v * 255.0f + 0.5f);
        }
        out[i * 4 + 3] = (c == 2 || c == 4)
                             ? (uint8_t)(W.im->data[(c - 1) * plane + i] * 255.0f + 0.5f)
                             : 255;
    }
    return 0;
}
