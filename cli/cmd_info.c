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
                   model_tensor_shape_str(m, cam, buf, sizeof buf));
        else
            printf("Grad-CAM:   no 4-D activation found\n");
        if (lat >= 0)
            printf("latent:     %s %s  (embed's default --layer)\n", model_tensor_name(m, lat),
                   model_tensor_shape_str(m, lat, buf, sizeof buf));
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
