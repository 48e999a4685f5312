/* cmd_info.c - `interp info MODEL`: what the engine sees in an ONNX file:
 * input and output with shapes, the layers, parameter count, and the tensors
 * Grad-CAM and embed use by default (and the other Grad-CAM candidates).
 */
#include <stdio.h>
#include <string.h>

#include "../core/model.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp info MODEL [--json]\n"
    "\n"
    "Describes an ONNX model as interp runs it: the input (layout and image size),\n"
    "the output (logits, or probabilities when the model ends in Softmax), every\n"
    "node with its output shape (N = the batch), the parameter count, the default\n"
    "Grad-CAM layer (the last conv block's activation, before its pooling), the\n"
    "other 4-D activations --layer accepts, and the default latent for `embed`\n"
    "(the input of the last dense layer).\n";

static void shape_json(struct json *j, const struct model *m, int id)
{
    int64_t d[MODEL_MAX_DIMS];
    int nd = model_tensor_shape(m, id, d);
    json_array_begin(j);
    for (int i = 0; i < nd; i++) {
        if (d[i] < 0)
            json_string(j, "N");
        else
            json_int(j, d[i]);
    }
    json_array_end(j);
}

static void tensor_json(struct json *j, const struct model *m, const char *key, int id)
{
    json_key(j, key);
    if (id < 0) {
        json_null(j);
        return;
    }
    json_object_begin(j);
    json_key(j, "name");
    json_string(j, model_tensor_name(m, id));
    json_key(j, "shape");
    shape_json(j, m, id);
    json_object_end(j);
}

/* 4-D activations with a spatial extent, other than the input: what
 * gradcam's --layer may name. */
static int is_cam_candidate(const struct model *m, int id)
{
    int64_t d[MODEL_MAX_DIMS];
    return id != model_input(m) && model_tensor_is_activation(m, id) &&
           model_tensor_shape(m, id, d) == 4 && d[2] * d[3] > 1;
}

/* A layer's output shape as Keras shows it: channels last when the engine
 * holds the NCHW form of a channels-last tensor. */
static const char *layer_shape_str(const struct model *m, const struct model_layer_info *li,
                                   char *buf, size_t size)
{
    int64_t d[MODEL_MAX_DIMS];
    int nd = model_tensor_shape(m, li->output, d);
    if (li->nhwc && nd == 4) {
        int64_t c = d[1];
        d[1] = d[2], d[2] = d[3], d[3] = c;
    }
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < nd && k < size; i++)
        k += (size_t)(d[i] < 0 ? snprintf(buf + k, size - k, "%sN", i ? "," : "")
                               : snprintf(buf + k, size - k, "%s%lld", i ? "," : "",
                                          (long long)d[i]));
    if (k < size) snprintf(buf + k, size - k, "]");
    return buf;
}

/* A tensor's shape as the user's framework shows it: a Keras layer's in
 * Keras's layout, anything else as the engine holds it. */
static const char *shown_shape(const struct model *m, int id, char *buf, size_t size)
{
    for (int i = 0; i < model_layer_count(m); i++) {
        struct model_layer_info li;
        model_layer_info(m, i, &li);
        if (li.output == id) return layer_shape_str(m, &li, buf, size);
    }
    return model_tensor_shape_str(m, id, buf, size);
}

static void keras_json(struct json *j, const struct model *m)
{
    const char *why;
    int raw = model_raw_pixels(m, &why);
    json_key(j, "source");
    json_string(j, model_source(m));
    json_key(j, "pixels");
    json_string(j, raw ? "0..255" : "0..1");
    json_key(j, "pixels_reason");
    json_string(j, raw ? why : "no Rescaling or Normalization before the first weights");
    json_key(j, "layers");
    json_array_begin(j);
    for (int i = 0; i < model_layer_count(m); i++) {
        struct model_layer_info li;
        char buf[160];
        model_layer_info(m, i, &li);
        json_object_begin(j);
        json_key(j, "name");
        json_string(j, li.name);
        json_key(j, "class");
        json_string(j, li.cls);
        json_key(j, "output_shape");
        json_string(j, layer_shape_str(m, &li, buf, sizeof buf));
        json_key(j, "params");
        json_int(j, (int64_t)li.params);
        json_object_end(j);
    }
    json_array_end(j);
}

static void keras_text(const struct model *m, int cam, int lat)
{
    const char *why;
    char buf[160];
    if (model_raw_pixels(m, &why))
        printf("pixels:     0..255 (%s; --scale overrides)\n", why);
    else
        printf("pixels:     0..1 (no Rescaling or Normalization before the first weights)\n");
    printf("\n%-4s %-32s %-24s %-20s %s\n", "#", "layer", "class", "output shape", "params");
    for (int i = 0; i < model_layer_count(m); i++) {
        struct model_layer_info li;
        model_layer_info(m, i, &li);
        /* an identity layer (Dropout) shares its input's tensor: mark the first */
        int first = 1;
        for (int k = 0; k < i && first; k++) {
            struct model_layer_info lk;
            model_layer_info(m, k, &lk);
            first = lk.output != li.output;
        }
        printf("%-4d %-32s %-24s %-20s %zu%s\n", i, li.name, li.cls,
               layer_shape_str(m, &li, buf, sizeof buf), li.params,
               !first             ? ""
               : li.output == cam ? "  <- Grad-CAM"
               : li.output == lat ? "  <- latent"
                                  : "");
    }
    printf("\n--layer candidates for gradcam (layers with a 4-D output):\n");
    for (int i = 0; i < model_layer_count(m); i++) {
        struct model_layer_info li;
        model_layer_info(m, i, &li);
        int64_t d[MODEL_MAX_DIMS];
        if (model_tensor_shape(m, li.output, d) == 4 && d[2] * d[3] > 1 &&
            li.output != model_input(m))
            printf("  %s %s\n", li.name, layer_shape_str(m, &li, buf, sizeof buf));
    }
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {COMMON_LONG_OPTIONS, {0}};
    struct cli_common c = cli_common_default(USAGE);
    int ch;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1)
        cli_common_option(&c, ch, optarg, argv, opts);
    if (argc - optind != 1) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    const char *path = argv[optind];
    struct model *m = model_load(path);
    if (!m) return cli_fail();
    struct model_input_info in;
    int have_in = model_input_info(m, &in) == 0;
    int cam = model_default_cam_layer(m), lat = model_default_latent(m);
    int nn = model_node_count(m);
    char buf[128];
    if (c.json) {
        struct json j;
        json_init(&j, stdout);
        json_object_begin(&j);
        json_key(&j, "model");
        json_string(&j, path);
        json_key(&j, "opset");
        json_int(&j, model_opset(m));
        if (model_layer_count(m)) keras_json(&j, m);
        tensor_json(&j, m, "input", model_input(m));
        json_key(&j, "layout");
        json_string(&j, !have_in ? NULL : in.layout == MODEL_NHWC ? "NHWC" : "NCHW");
        if (have_in) {
            json_key(&j, "image");
            json_object_begin(&j);
            json_key(&j, "channels");
            json_int(&j, in.c);
            json_key(&j, "height");
            json_int(&j, in.h);
            json_key(&j, "width");
            json_int(&j, in.w);
            json_object_end(&j);
        }
        tensor_json(&j, m, "output", model_output(m));
        json_key(&j, "output_is_softmax");
        json_bool(&j, model_output_is_softmax(m));
        json_key(&j, "final_op");
        json_string(&j, model_final_op(m) == MODEL_FINAL_SOFTMAX   ? "Softmax"
                        : model_final_op(m) == MODEL_FINAL_SIGMOID ? "Sigmoid"
                                                                   : NULL);
        tensor_json(&j, m, "logits", model_logits(m));
        json_key(&j, "classes");
        json_int(&j, model_prob_classes(m));
        json_key(&j, "parameters");
        json_int(&j, (int64_t)model_param_count(m));
        tensor_json(&j, m, "gradcam_layer", cam);
        tensor_json(&j, m, "latent", lat);
        json_key(&j, "gradcam_candidates");
        json_array_begin(&j);
        for (int i = 0; i < nn; i++) {
            struct model_node_info ni;
            model_node_info(m, i, &ni);
            if (is_cam_candidate(m, ni.output))
                json_string(&j, model_tensor_name(m, ni.output));
        }
        json_array_end(&j);
        json_key(&j, "nodes");
        json_array_begin(&j);
        for (int i = 0; i < nn; i++) {
            struct model_node_info ni;
            model_node_info(m, i, &ni);
            json_object_begin(&j);
            json_key(&j, "name");
            json_string(&j, ni.name);
            json_key(&j, "op");
            json_string(&j, ni.op);
            json_key(&j, "output");
            json_string(&j, model_tensor_name(m, ni.output));
            json_key(&j, "shape");
            shape_json(&j, m, ni.output);
            json_object_end(&j);
        }
        json_array_end(&j);
        json_object_end(&j);
        json_finish(&j);
    } else {
        if (model_layer_count(m))
            printf("model:      %s (%s)\n", path, model_source(m));
        else
            printf("model:      %s (opset %d)\n", path, model_opset(m));
        printf("input:      %s %s", model_tensor_name(m, model_input(m)),
               model_tensor_shape_str(m, model_input(m), buf, sizeof buf));
        if (have_in)
            printf("  %s, %d channel%s, %dx%d", in.layout == MODEL_NHWC ? "NHWC" : "NCHW", in.c,
                   in.c == 1 ? "" : "s", in.h, in.w);
        printf("\noutput:     %s %s%s\n", model_tensor_name(m, model_output(m)),
               model_tensor_shape_str(m, model_output(m), buf, sizeof buf),
               model_final_op(m) == MODEL_FINAL_SOFTMAX   ? "  (Softmax; logits = its input)"
               : model_final_op(m) == MODEL_FINAL_SIGMOID ? "  (Sigmoid; logits = its input)"
                                                          : "  (logits)");
        printf("classes:    %d\n", model_prob_classes(m));
        printf("parameters: %zu\n", model_param_count(m));
        if (cam >= 0)
            printf("Grad-CAM:   %s %s  (default --layer)\n", model_tensor_name(m, cam),
                   shown_shape(m, cam, buf, sizeof buf));
        else
            printf("Grad-CAM:   no 4-D activation found\n");
        if (lat >= 0)
            printf("latent:     %s %s  (embed's default --layer)\n", model_tensor_name(m, lat),
                   shown_shape(m, lat, buf, sizeof buf));
        if (model_layer_count(m)) {
            keras_text(m, cam, lat);
            model_free(m);
            return cli_finish(EXIT_OK);
        }
        printf("\n%-4s %-40s %-20s %s\n", "#", "node", "op", "output shape");
        for (int i = 0; i < nn; i++) {
            struct model_node_info ni;
            model_node_info(m, i, &ni);
            printf("%-4d %-40s %-20s %s%s\n", i, ni.name, ni.op,
                   model_tensor_shape_str(m, ni.output, buf, sizeof buf),
                   ni.output == cam   ? "  <- Grad-CAM"
                   : ni.output == lat ? "  <- latent"
                                      : "");
        }
        printf("\n--layer candidates for gradcam (4-D activations):\n");
        for (int i = 0; i < nn; i++) {
            struct model_node_info ni;
            model_node_info(m, i, &ni);
            if (is_cam_candidate(m, ni.output))
                printf("  %s %s\n", model_tensor_name(m, ni.output),
                       model_tensor_shape_str(m, ni.output, buf, sizeof buf));
        }
    }
    model_free(m);
    return cli_finish(EXIT_OK);
}
