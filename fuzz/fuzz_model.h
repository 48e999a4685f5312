/* fuzz_model.h - what the model fuzz targets share (fuzz_onnx.c,
 * fuzz_keras.c): model_parse, then the loaded model described, checked for
 * shape-inference bugs and run forward once on a zero batch of one.
 */
#ifndef INTERP_FUZZ_MODEL_H
#define INTERP_FUZZ_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/model.h"
#include "fuzz_common.h"

/* Ops whose output has exactly the shape of their first input: a model that
 * loads with any of them changing the element count has a shape-inference
 * bug, which would otherwise hide inside the activation arena (one block per
 * run, so ASan cannot see a kernel overrunning one tensor into the next). */
static inline int same_shape_op(const char *op)
{
    static const char *const ops[] = {
        "Relu", "LeakyRelu", "Sigmoid",  "Tanh", "Softmax",
        "Clip", "Dropout",   "Identity", "Cast", "BatchNormalization"};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (!strcmp(op, ops[i])) return 1;
    return 0;
}

/* Parses data as a model named `name`, then checks, describes and runs
 * what loads. */
static inline int fuzz_model_one(const uint8_t *data, size_t size, const char *name)
{
    fuzz_limits();
    /* Activations of up to 1 M floats: a mutated Pad or Reshape easily asks
     * for 10 M, which is legal but takes seconds per input under ASan. */
    limits_get()->max_elements = 1u << 20;
    struct model *m = model_parse(data, size, name);
    fuzz_check_failure(m);
    if (!m) return 0;

    char buf[128];
    for (int t = 0; t < model_tensor_count(m); t++) {
        int64_t dims[MODEL_MAX_DIMS];
        int r = model_tensor_shape(m, t, dims);
        if (r < 0 || r > MODEL_MAX_DIMS) __builtin_trap();
        model_tensor_shape_str(m, t, buf, sizeof buf);
    }
    for (int i = 0; i < model_node_count(m); i++) {
        struct model_node_info ni;
        model_node_info(m, i, &ni);
        if (!ni.op || ni.output < 0 || ni.output >= model_tensor_count(m)) __builtin_trap();
        if (same_shape_op(ni.op) && ni.input >= 0 &&
            model_tensor_item(m, ni.output) != model_tensor_item(m, ni.input))
            __builtin_trap();
    }
    if (model_num_classes(m) < 1) __builtin_trap();
    struct model_input_info info;
    model_input_info(m, &info);
    error_clear();

    /* One forward pass on zeros, when the activations are small. */
    struct model_run *r = model_run_new(m, 1, MODEL_RUN_FORWARD, NULL, 0);
    if (r) {
        size_t n = model_tensor_item(m, model_input(m));
        float *x = calloc(n ? n : 1, sizeof *x);
        if (x && model_forward(r, x, 1) == 0) {
            float *p = malloc((size_t)model_prob_classes(m) * sizeof *p + 1);
            if (p) model_run_probs(r, p);
            free(p);
        }
        free(x);
        model_run_free(r);
    }
    error_clear();
    model_free(m);
    return 0;
}

#endif
