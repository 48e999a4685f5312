/* keras_int.h - what the files of the Keras importer share: its state, a
 * layer call, the builder and weight helpers. Internal to core/:
 * import_keras.c reads the file and walks the models, keras_layers.c maps
 * each layer class onto engine ops, keras_util.c holds the helpers both use
 * (JSON members, builder calls, weights, activations).
 */
#ifndef INTERP_KERAS_INT_H
#define INTERP_KERAS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "graph.h"
#include "hdf5.h"
#include "json_value.h"

#define KERAS_MAX_JSON  (256u << 20) /* config.json / metadata.json */
#define KERAS_MAX_DEPTH 32           /* models nested in models */
#define KERAS_OPSET     17           /* the ONNX operator semantics the builder follows */

/* A Keras tensor as the engine holds it: (layer, node, index) -> graph
 * tensor; nhwc: the graph holds the NCHW form of a channels-last 4-D tensor. */
struct ktensor {
    char *layer;
    int node, index;
    int t, nhwc;
};
/* The tensors of one (nested) model, by their Keras references. */
struct ktab {
    struct ktensor *v;
    int n, cap;
};

/* Where the layers of one model (or nested model) keep their weights. */
struct kscope {
    char path[768]; /* .keras: the group holding the layers' groups ("layers",
                       "layers/functional/layers"); .h5: "model_weights" or the
                       nested model's group */
    int shared;     /* .h5 nested model: one group for all its layers, the
                       weights told apart by their owner's name */
};

struct kimp {
    struct graph_builder b;
    const char *path;
    int keras3;  /* Keras 3 semantics (hard_sigmoid, defaults) */
    int archive; /* a .keras file (weights by index under vars/) */
    char version[48];
    struct h5file *h5;
    int channels_first;
    int seen_weights; /* a layer with weights was built (for the pixel scale) */
    const struct json_value *absorbed; /* a Resizing done by the preprocessing */
    int depth;
    const char *layers_group; /* .keras: "layers", or tf.keras 2.12-2.14's
                                 "_layer_checkpoint_dependencies" */
};

struct kattrs {
    struct attr v[12];
    int64_t store[12][8];
    struct attrs as;
};

/* The variables of one layer: .keras files store them by index under
 * <group>/vars/<i> in the layer's creation order; legacy .h5 files list them
 * by name in the group's weight_names attribute. */
struct kvars {
    char group[900];   /* .keras: the layer's group; .h5: the group with weight_names */
    const char *owner; /* .h5 nested model: the layer's name (weights "owner/var:0") */
    char **names;      /* .h5: weight_names */
    size_t nnames;
    const char *const *order; /* .keras: the variable names in save order */
    int norder;
};

/* One call of a layer: its entry in the config, its input tensors, where
 * its weights are, the name of its output. */
struct kcall {
    const struct json_value *entry, *cfg;
    const char *cls, *name;
    struct ktensor in[G_MAX_INPUTS];
    int nin;
    struct kvars vars;
    char *out_name; /* the layer's name, made unique in the graph */
    int out, nhwc;  /* result */
    size_t params;
};

/* The layer classes keras_layers.c builds, and those that are identity at
 * inference (NULL-terminated). */
struct kclass {
    const char *name;
    int (*build)(struct kimp *, struct kcall *);
};
extern const struct kclass keras_classes[];
extern const size_t keras_nclasses;
extern const char *const keras_identity_classes[];

/* ---- keras_util.c ---- */
/* Records "layer 'NAME' (Class): reason" (or the reason alone between
 * layers) as ERR_INPUT for the file; returns ERR_INPUT. */
int keras_err(struct kimp *K, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Keeps a lower layer's message (JSON, HDF5) and names the file. */
int keras_pass(struct kimp *K);
/* Members of a layer config (absent or null: the default). */
const char *keras_jstr(const struct json_value *o, const char *key);
/* An integer member in [lo, hi]; def when absent or null. */
int keras_jint(struct kimp *K, const struct json_value *o, const char *key, int64_t lo,
               int64_t hi, int64_t def, int64_t *out);
int keras_jnum(struct kimp *K, const struct json_value *o, const char *key, double def,
               double *out);
int keras_jbool(struct kimp *K, const struct json_value *o, const char *key, int def, int *out);
/* A pair of ints: an int (both) or a list of two; def when absent. */
int keras_jpair(struct kimp *K, const struct json_value *o, const char *key, int64_t lo,
                int64_t hi, int64_t def, int64_t v[2]);
/* ((top, bottom), (left, right)) from an int, a pair of ints (symmetric) or
 * a pair of pairs: ZeroPadding2D's padding, Cropping2D's cropping. */
int keras_jpads(struct kimp *K, const struct json_value *o, const char *key, int64_t p[4]);
/* A tensor name not yet in the graph: base, else base_1, base_2, ... */
char *keras_fresh_name(struct kimp *K, const char *base);
int keras_rank(struct kimp *K, int t);
/* Attributes by ONNX name for the graph builder. */
void keras_attrs_init(struct kattrs *a);
void keras_attr_i(struct kattrs *a, const char *name, int64_t i);
void keras_attr_f(struct kattrs *a, const char *name, float f);
void keras_attr_s(struct kattrs *a, const char *name, const char *s);
void keras_attr_ints(struct kattrs *a, const char *name, const int64_t *v, int n);
/* Adds op (the engine's name) over in[0..nin) into a tensor named `name`
 * (made unique); the output tensor index, or an error. */
int keras_op(struct kimp *K, const char *opname, const int *in, int nin, const char *name,
             const struct kattrs *a);
int keras_op1(struct kimp *K, const char *opname, int x, const char *name,
              const struct kattrs *a);
/* A constant of shape dims with the values v (copied). */
int keras_const(struct kimp *K, const char *name, int ndim, const int64_t *dims,
                const float *v);
int keras_const_scalar(struct kimp *K, const char *name, float v);
int keras_const_ints(struct kimp *K, const char *name, const int64_t *v, int n);
/* NCHW <-> NHWC on a 4-D activation. */
int keras_to_nhwc(struct kimp *K, int x, const char *name);
int keras_to_nchw(struct kimp *K, int x, const char *name);
/* The engine axis of Keras axis `ax` on a tensor of Keras rank r (batch
 * included) held NCHW when nhwc. -1 when out of range. */
int keras_map_axis(int64_t ax, int r, int nhwc);
void keras_vars_release(struct kvars *v);
/* Reads variable var of the layer into a new buffer (caller frees) after
 * checking that its shape is want[0..nd). */
float *keras_var_read(struct kimp *K, struct kvars *v, const char *var, int nd,
                      const int64_t *want);
/* The activation named by a config value: a string, or Keras 3's serialised
 * built-in {"class_name": "function", "config": "relu"}. NULL when absent
 * or not a built-in. */
const char *keras_activation_name(const struct json_value *v);
/* Adds activation `act` after x; the output (x for linear). The final
 * tensor is called `name`. */
int keras_activation(struct kimp *K, const char *act, int x, int nhwc, const char *name);
/* The name of a layer's output before its activation: the layer's own name
 * when the activation is linear (so --layer finds it), else NAME/linear. */
char *keras_pre_name(const struct kcall *L, const char *act);
/* ---- keras_layers.c ---- */
/* The variable names of a layer class in Keras 3's save order (*n of
 * them; NULL for a class without weights). */
const char *const *keras_var_order(const char *cls, const struct json_value *cfg, int *n);
/* Whether s is one of the NULL-terminated set. */
int keras_in_set(const char *s, const char *const *set);
/* Sequential, Functional or Model. */
int keras_is_model_class(const char *cls);

#endif
