/* import_keras.c - the Keras front door: a Keras 3 `.keras` archive (zip of
 * config.json, metadata.json, model.weights.h5) or a legacy `.h5` model
 * (HDF5: the config in the root attribute model_config, the weights under
 * model_weights/). The JSON config gives the layers and how they connect;
 * each layer becomes engine ops through the graph builder (graph_build.c),
 * with TensorFlow's semantics: NHWC outside, NCHW inside (a channels-last
 * input gets a Transpose, a Flatten of a channels-last tensor flattens in
 * H, W, C order), 'same' padding with the extra pixel at the bottom/right,
 * BatchNormalization from its moving statistics. Nothing in the file is
 * ever executed: a Lambda layer (Python bytecode) is refused by name.
 * docs/keras_format.md describes the layouts, and which real files
 * confirmed them.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keras_int.h"
#include "util.h"
#include "zip.h"

/* ---------------------------------------------------------------- tensors */
static struct ktensor *kt_find(struct ktab *tab, const char *layer, int node, int index)
{
    struct ktensor *any = NULL;
    int calls = 0;
    for (int i = 0; i < tab->n; i++) {
        struct ktensor *k = &tab->v[i];
        if (strcmp(k->layer, layer) || k->index != index) continue;
        if (k->node == node) return k;
        any = k, calls++;
    }
    /* tf.keras numbers a nested model's first outer call 1 (its own inner
     * call is 0): a layer called once is that call, whatever the number */
    return calls == 1 ? any : NULL;
}

static void kt_add(struct ktab *tab, const char *layer, int node, int index, int t, int nhwc)
{
    if (tab->n == tab->cap) {
        tab->cap = tab->cap ? 2 * tab->cap : 64;
        tab->v = xrealloc(tab->v, sizeof *tab->v * (size_t)tab->cap);
    }
    tab->v[tab->n++] = (struct ktensor){xstrdup(layer), node, index, t, nhwc};
}

static void kt_release(struct ktab *tab)
{
    for (int i = 0; i < tab->n; i++)
        free(tab->v[i].layer);
    free(tab->v);
}

/* ---------------------------------------------------------------- models */
/* Keras's naming.to_snake_case, which names the weight groups of .keras
 * files after the layer classes ("BatchNormalization" -> "batch_normalization"). */
static void snake_case(const char *in, char *out, size_t size)
{
    size_t k = 0, n = strlen(in);
    for (size_t i = 0; i < n && k + 2 < size; i++) {
        char c = in[i];
        int up = c >= 'A' && c <= 'Z';
        /* "(.)([A-Z][a-z]+)" and "([a-z])([A-Z])" each insert an underscore */
        int lower_next = i + 1 < n && in[i + 1] >= 'a' && in[i + 1] <= 'z';
        int lower_prev = i > 0 && in[i - 1] >= 'a' && in[i - 1] <= 'z';
        if (up && i > 0 && (lower_next || lower_prev) && out[k - 1] != '_') out[k++] = '_';
        out[k++] = up ? (char)(c - 'A' + 'a') : c;
    }
    out[k] = 0;
}

static int build_model(struct kimp *K, const struct json_value *entry, const struct kscope *ws,
                       const struct ktensor *in, int nin, struct ktensor *out);

/* The layer entries of a model entry: config.layers, or the config itself
 * when Keras <= 2.1.6 wrote a Sequential's config as the bare list. */
static const struct json_value *keras_entry_layers(const struct json_value *entry)
{
    const struct json_value *c = json_get(entry, "config");
    if (c && json_value_type(c) == JSON_ARRAY) return c;
    const struct json_value *l = json_get(c, "layers");
    return l && json_value_type(l) == JSON_ARRAY ? l : NULL;
}

/* A legacy group's weight_names: one attribute, or weight_names0, 1, ...
 * when Keras split a long list. */
static int read_names(struct kimp *K, const char *group, char ***names, size_t *n)
{
    char **v = NULL;
    size_t k = 0;
    if (!h5_attr_strings(K->h5, group, "weight_names", names, n)) return 0;
    error_clear();
    *names = NULL, *n = 0;
    for (int part = 0; part < 1 << 16; part++) {
        char an[32];
        snprintf(an, sizeof an, "weight_names%d", part);
        if (h5_attr_strings(K->h5, group, an, &v, &k)) {
            error_clear();
            return 0; /* no more parts (none at all: no weights) */
        }
        *names = xrealloc(*names, sizeof(char *) * (*n + k + 1));
        memcpy(*names + *n, v, sizeof(char *) * k);
        *n += k;
        free(v);
    }
    return 0;
}

/* Builds one call of a layer; L->in set. */
static int build_call(struct kimp *K, struct kcall *L, const struct kscope *ws,
                      const char *group)
{
    const char *cls = L->cls;
    K->b.name = L->name, K->b.op = cls;
    if (keras_is_model_class(cls)) {
        struct kscope sub = *ws;
        int len = 0;
        if (K->archive)
            len = snprintf(sub.path, sizeof sub.path, "%s/%s", group, K->layers_group);
        else if (!ws->shared)
            len = snprintf(sub.path, sizeof sub.path, "%s/%s", ws->path, L->name),
            sub.shared = 1;
        if (len < 0 || (size_t)len >= sizeof sub.path)
            return keras_err(K, "names nested too deep");
        struct ktensor o;
        int rc = build_model(K, L->entry, &sub, L->in, L->nin, &o);
        K->b.name = L->name, K->b.op = cls;
        if (rc) return rc;
        L->out = o.t, L->nhwc = o.nhwc;
        return 0;
    }
    if (!strcmp(cls, "Lambda") || !strcmp(cls, "TFOpLambda") || !strcmp(cls, "SlicingOpLambda"))
        return keras_err(K, "a Lambda layer holds Python code, which interp never runs: not "
                            "supported");
    if (L->entry == K->absorbed || keras_in_set(cls, keras_identity_classes)) {
        L->out = L->in[0].t, L->nhwc = L->in[0].nhwc;
        return 0;
    }
    if (!strcmp(cls, "RandomCrop"))
        return keras_err(K, "RandomCrop crops and resizes at inference: not supported");
    if (!strcmp(cls, "Resizing"))
        return keras_err(K,
                         "a Resizing layer is supported only where the input enters the model "
                         "(interp then resizes the images to its size)");
    const struct kclass *kc = NULL;
    for (size_t i = 0; i < keras_nclasses; i++)
        if (!strcmp(keras_classes[i].name, cls)) kc = &keras_classes[i];
    if (!kc)
        return error_set(ERR_INPUT, K->path, "layer '%s' (%s) is not supported", L->name, cls);
    const char *df = keras_jstr(L->cfg, "data_format");
    if (df && strcmp(cls, "Flatten") &&
        strcmp(df, K->channels_first ? "channels_first" : "channels_last"))
        return keras_err(K, "data_format %s in a %s model is not supported", df,
                         K->channels_first ? "channels_first" : "channels_last");
    /* where its variables are */
    memset(&L->vars, 0, sizeof L->vars);
    if (K->archive) {
        snprintf(L->vars.group, sizeof L->vars.group, "%s", group);
        L->vars.order = keras_var_order(cls, L->cfg, &L->vars.norder);
    } else {
        if (ws->shared) {
            snprintf(L->vars.group, sizeof L->vars.group, "%s", ws->path);
            L->vars.owner = L->name;
        } else {
            snprintf(L->vars.group, sizeof L->vars.group, "%s/%s", ws->path, L->name);
        }
        int need = keras_var_order(cls, L->cfg, &(int){0}) != NULL;
        if (need && h5_kind(K->h5, L->vars.group) == H5_GROUP &&
            read_names(K, L->vars.group, &L->vars.names, &L->vars.nnames))
            return ERR_INPUT;
        error_clear();
    }
    int rc = kc->build(K, L);
    keras_vars_release(&L->vars);
    return rc;
}

/* The layer's group in a .keras file's weights: <scope>/<snake class>[_k],
 * the counter per class in the model's layer order; Keras 3.6 and later
 * also name the layer in its vars group's attribute "name", which wins. */
static void k3_group(struct kimp *K, const struct kscope *ws, const char *snake, int count,
                     const char *lname, char *out, size_t size)
{
    if (count)
        snprintf(out, size, "%s/%s_%d", ws->path, snake, count);
    else
        snprintf(out, size, "%s/%s", ws->path, snake);
    char *vars = xasprintf("%s/vars", out), *nm = NULL;
    int ok = h5_kind(K->h5, vars) == H5_GROUP &&
             (h5_attr_string(K->h5, vars, "name", &nm) != 0 || !strcmp(nm, lname));
    error_clear();
    free(vars);
    free(nm);
    if (ok) return;
    /* search the siblings for the vars group that names this layer */
    char **kids = NULL;
    size_t n = 0;
    if (h5_list(K->h5, ws->path, &kids, &n)) {
        error_clear();
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char *v = xasprintf("%s/%s/vars", ws->path, kids[i]), *s = NULL;
        if (h5_kind(K->h5, v) == H5_GROUP && !h5_attr_string(K->h5, v, "name", &s) &&
            !strcmp(s, lname))
            snprintf(out, size, "%s/%s", ws->path, kids[i]);
        error_clear();
        free(s);
        free(v);
    }
    for (size_t i = 0; i < n; i++)
        free(kids[i]);
    free(kids);
}

/* Input references of one inbound node (Keras 2: [[name, node, index,
 * kwargs], ...]; Keras 3: {"args": [...tensors...], "kwargs": {...}}), in
 * order. Returns the count, or an error. */
static int collect_refs(struct kimp *K, const struct json_value *v,
                        const struct json_value **refs, int max, int n, int depth)
{
    if (!v || depth > 8) return n;
    enum json_type t = json_value_type(v);
    if (t == JSON_OBJECT) {
        const char *cn = keras_jstr(v, "class_name");
        if (cn && !strcmp(cn, "__keras_tensor__")) {
            const struct json_value *h = json_get(json_get(v, "config"), "keras_history");
            if (n >= max) return keras_err(K, "more than %d inputs", max);
            refs[n++] = h;
            return n;
        }
        return collect_refs(K, json_get(v, "args"), refs, max, n, depth + 1);
    }
    if (t != JSON_ARRAY) return n;
    /* a Keras 2 reference: [name, node, index, {kwargs}] */
    if (json_len(v) >= 3 && json_value_type(json_at(v, 0)) == JSON_STRING &&
        json_value_type(json_at(v, 1)) == JSON_NUMBER) {
        if (n >= max) return keras_err(K, "more than %d inputs", max);
        refs[n++] = v;
        return n;
    }
    for (size_t i = 0; i < json_len(v) && n >= 0; i++)
        n = collect_refs(K, json_at(v, i), refs, max, n, depth + 1);
    return n;
}

/* [name, node, index] */
static int parse_ref(struct kimp *K, const struct json_value *r, const char **name, int *node,
                     int *index)
{
    int64_t a = 0, b = 0;
    if (!r || json_value_type(r) != JSON_ARRAY || json_len(r) < 3 ||
        !(*name = json_str(json_at(r, 0))) || json_integer(json_at(r, 1), &a) ||
        json_integer(json_at(r, 2), &b) || a < 0 || b < 0 || a > 1 << 20 || b > 1 << 20)
        return keras_err(K, "a malformed reference to a layer's output");
    *node = (int)a, *index = (int)b;
    return 0;
}

/* input_layers/output_layers: [[name, node, index], ...] or Keras 3.11's
 * flat [name, node, index] for one tensor. */
static int io_refs(struct kimp *K, const struct json_value *v, const struct json_value **refs,
                   int max)
{
    if (!v || json_value_type(v) != JSON_ARRAY) return 0;
    if (json_len(v) >= 1 && json_value_type(json_at(v, 0)) == JSON_STRING) {
        refs[0] = v;
        return 1;
    }
    int n = (int)json_len(v);
    if (n > max) return keras_err(K, "more than %d model inputs or outputs", max);
    for (int i = 0; i < n; i++)
        refs[i] = json_at(v, i);
    return n;
}

static const struct json_value *keras_entry_config(const struct json_value *e)
{
    const struct json_value *c = json_get(e, "config");
    return c && json_value_type(c) == JSON_OBJECT ? c : NULL;
}

static const char *keras_entry_name(const struct json_value *e)
{
    const char *n = keras_jstr(e, "name");
    return n ? n : keras_jstr(keras_entry_config(e), "name");
}

/* Builds the model `entry` (Sequential or Functional) with its inputs bound
 * to in[0..nin); its output into *out. */
static int build_model(struct kimp *K, const struct json_value *entry, const struct kscope *ws,
                       const struct ktensor *in, int nin, struct ktensor *out)
{
    const char *cls = keras_jstr(entry, "class_name");
    const struct json_value *mcfg = keras_entry_config(entry),
                            *layers = keras_entry_layers(entry);
    const char *mname = keras_jstr(mcfg, "name");
    if (!layers) return keras_err(K, "model '%s' has no layer list", mname ? mname : "?");
    if (++K->depth > KERAS_MAX_DEPTH) return keras_err(K, "models nested too deep");
    size_t n = json_len(layers);
    if (n > limits_get()->max_nodes)
        return keras_err(K, "%zu layers, over the limit of %llu (raise it with --max-nodes)", n,
                         (unsigned long long)limits_get()->max_nodes);
    int sequential = !strcmp(cls, "Sequential");
    /* weight group names: per class counters in layer order (Sequential's
     * layers leave out the InputLayer, a Functional's keep it) */
    char **groups = xcalloc(n ? n : 1, sizeof(char *));
    struct {
        char snake[96];
        int count;
    } *seen = xcalloc(n ? n : 1, sizeof *seen);
    int nseen = 0, rc = 0;
    struct ktab tab = {0};
    for (size_t i = 0; i < n; i++) {
        const struct json_value *e = json_at(layers, i);
        const char *c = keras_jstr(e, "class_name");
        if (!c || !keras_entry_config(e) || !keras_entry_name(e)) {
            rc = keras_err(K, "layer %zu of model '%s' has no class_name, config or name", i,
                           mname ? mname : "?");
            goto done;
        }
        if (sequential && !strcmp(c, "InputLayer")) continue;
        char sn[96];
        snake_case(c, sn, sizeof sn);
        int k = 0;
        for (; k < nseen && strcmp(seen[k].snake, sn); k++)
            ;
        if (k == nseen)
            snprintf(seen[nseen++].snake, sizeof seen[0].snake, "%s", sn), seen[k].count = -1;
        int cnt = ++seen[k].count;
        if (K->archive) {
            char g[900];
            k3_group(K, ws, sn, cnt, keras_entry_name(e), g, sizeof g);
            groups[i] = xstrdup(g);
        }
    }
    if (sequential) {
        struct ktensor cur = in[0];
        for (size_t i = 0; i < n; i++) {
            const struct json_value *e = json_at(layers, i);
            if (!strcmp(keras_jstr(e, "class_name"), "InputLayer")) continue;
            struct kcall L = {0};
            L.entry = e, L.cfg = keras_entry_config(e), L.cls = keras_jstr(e, "class_name");
            L.name = keras_entry_name(e);
            L.in[0] = cur, L.nin = 1;
            L.out_name = keras_fresh_name(K, L.name);
            rc = build_call(K, &L, ws, groups[i]);
            if (!rc) {
                graph_add_layer(K->b.g, L.name, L.cls, L.out, L.nhwc, L.params);
                cur.t = L.out, cur.nhwc = L.nhwc;
            }
            free(L.out_name);
            if (rc) goto done;
        }
        *out = cur;
        goto done;
    }
    /* Functional: bind the inputs, then build calls as their inputs exist */
    const struct json_value *irefs[G_MAX_INPUTS], *orefs[G_MAX_INPUTS];
    int ni = io_refs(K, json_get(mcfg, "input_layers"), irefs, G_MAX_INPUTS);
    int no = io_refs(K, json_get(mcfg, "output_layers"), orefs, G_MAX_INPUTS);
    if (ni < 0 || no < 0) {
        rc = ERR_INPUT;
        goto done;
    }
    if (ni != nin) {
        rc = keras_err(K, "model '%s' has %d inputs; interp runs models of one image input",
                       mname ? mname : "?", ni);
        goto done;
    }
    if (no != 1) {
        rc = keras_err(K, "model '%s' has %d outputs; interp explains models with one",
                       mname ? mname : "?", no);
        goto done;
    }
    for (int i = 0; i < ni; i++) {
        const char *nm;
        int node, idx;
        if ((rc = parse_ref(K, irefs[i], &nm, &node, &idx))) goto done;
        kt_add(&tab, nm, node, idx, in[i].t, in[i].nhwc);
    }
    char *done_call = xcalloc(n ? n : 1, 1); /* calls are built in passes */
    int *ncalls = xcalloc(n ? n : 1, sizeof(int)), *built = xcalloc(n ? n : 1, sizeof(int));
    for (size_t i = 0; i < n; i++) {
        const struct json_value *e = json_at(layers, i);
        const struct json_value *nodes = json_get(e, "inbound_nodes");
        ncalls[i] = nodes ? (int)json_len(nodes) : 0;
        if (!strcmp(keras_jstr(e, "class_name"), "InputLayer")) ncalls[i] = 0;
        done_call[i] = ncalls[i] == 0;
    }
    int progress = 1;
    while (progress && !rc) {
        progress = 0;
        for (size_t i = 0; i < n && !rc; i++) {
            if (done_call[i]) continue;
            const struct json_value *e = json_at(layers, i);
            const struct json_value *node =
                json_at(json_get(e, "inbound_nodes"), (size_t)built[i]);
            const struct json_value *refs[G_MAX_INPUTS];
            K->b.name = keras_entry_name(e), K->b.op = keras_jstr(e, "class_name");
            int nr = collect_refs(K, node, refs, G_MAX_INPUTS, 0, 0);
            if (nr < 0) {
                rc = ERR_INPUT;
                break;
            }
            if (nr == 0) {
                rc = keras_err(K, "a call without inputs");
                break;
            }
            struct kcall L = {0};
            int ready = 1;
            for (int r = 0; r < nr && ready; r++) {
                const char *nm;
                int nd, ix;
                if ((rc = parse_ref(K, refs[r], &nm, &nd, &ix))) break;
                struct ktensor *kt = kt_find(&tab, nm, nd, ix);
                if (!kt)
                    ready = 0;
                else
                    L.in[r] = *kt;
            }
            if (rc || !ready) continue;
            L.nin = nr;
            L.entry = e, L.cfg = keras_entry_config(e), L.cls = keras_jstr(e, "class_name");
            L.name = keras_entry_name(e);
            char *base = built[i] ? xasprintf("%s@%d", L.name, built[i]) : xstrdup(L.name);
            L.out_name = keras_fresh_name(K, base);
            free(base);
            rc = build_call(K, &L, ws, groups[i]);
            if (!rc) {
                graph_add_layer(K->b.g, L.name, L.cls, L.out, L.nhwc, L.params);
                kt_add(&tab, L.name, built[i], 0, L.out, L.nhwc);
                built[i]++;
                done_call[i] = built[i] == ncalls[i];
                progress = 1;
            }
            free(L.out_name);
        }
    }
    if (!rc) {
        for (size_t i = 0; i < n; i++)
            if (!done_call[i]) {
                const struct json_value *e = json_at(layers, i);
                K->b.name = keras_entry_name(e), K->b.op = keras_jstr(e, "class_name");
                rc = keras_err(K, "its inputs are never computed (a missing layer or a cycle)");
                break;
            }
    }
    if (!rc) {
        const char *nm;
        int nd, ix;
        K->b.name = NULL;
        if (!(rc = parse_ref(K, orefs[0], &nm, &nd, &ix))) {
            struct ktensor *kt = kt_find(&tab, nm, nd, ix);
            if (!kt)
                rc = keras_err(K, "the model output '%s' is not computed", nm);
            else
                *out = *kt;
        }
    }
    free(done_call);
    free(ncalls);
    free(built);
done:
    for (size_t i = 0; i < n; i++)
        free(groups[i]);
    free(groups);
    free(seen);
    kt_release(&tab);
    K->depth--;
    return rc;
}

/* Refuses, before anything is built, the first layer whose class interp
 * cannot run (naming it), so that a model is never half-understood. */
static int check_classes(struct kimp *K, const struct json_value *layers, int depth)
{
    if (depth > KERAS_MAX_DEPTH) return keras_err(K, "models nested too deep");
    for (size_t i = 0; layers && i < json_len(layers); i++) {
        const struct json_value *e = json_at(layers, i);
        const char *cls = keras_jstr(e, "class_name"), *nm = keras_entry_name(e);
        if (!cls || !nm) continue; /* build_model names the malformed entry */
        if (keras_is_model_class(cls)) {
            if (check_classes(K, keras_entry_layers(e), depth + 1)) return ERR_INPUT;
            continue;
        }
        if (!strcmp(cls, "Lambda") || !strcmp(cls, "TFOpLambda") ||
            !strcmp(cls, "SlicingOpLambda"))
            return error_set(ERR_INPUT, K->path,
                             "layer '%s' (%s) holds Python code, which interp never runs: "
                             "not supported",
                             nm, cls);
        int known = !strcmp(cls, "InputLayer") || !strcmp(cls, "Resizing") ||
                    keras_in_set(cls, keras_identity_classes);
        for (size_t k = 0; k < keras_nclasses && !known; k++)
            known = !strcmp(keras_classes[k].name, cls);
        if (!known)
            return error_set(ERR_INPUT, K->path, "layer '%s' (%s) is not supported", nm, cls);
    }
    return 0;
}

/* ---------------------------------------------------------------- the input */
/* The input shape [H, W, C] (or [C, H, W]) from the first InputLayer, a
 * Keras 2 first layer's batch_input_shape, or a Keras 3 build shape. */
static int input_shape(struct kimp *K, const struct json_value *root, int64_t *dims, int *ndim,
                       const char **name)
{
    const struct json_value *m = keras_entry_config(root), *layers = keras_entry_layers(root),
                            *bs = NULL;
    *name = "input";
    for (int depth = 0; layers && depth < KERAS_MAX_DEPTH && !bs; depth++) {
        const struct json_value *first = json_at(layers, 0);
        const char *cls = keras_jstr(first, "class_name");
        const struct json_value *c = keras_entry_config(first);
        if (!cls || !c) break;
        if (!strcmp(cls, "InputLayer")) {
            bs = json_get(c, "batch_shape");
            if (!bs) bs = json_get(c, "batch_input_shape");
            *name = keras_entry_name(first);
            if (!*name) *name = "input";
            break;
        }
        if ((bs = json_get(c, "batch_input_shape")) || (bs = json_get(c, "batch_shape"))) {
            *name = "input";
            break;
        }
        if (keras_is_model_class(cls)) {
            layers = keras_entry_layers(first);
            continue;
        }
        break;
    }
    if (!bs) bs = json_get(m, "build_input_shape");
    if (!bs) bs = json_get(json_get(root, "build_config"), "input_shape");
    if (!bs || json_value_type(bs) != JSON_ARRAY)
        return keras_err(K, "the model's input shape is not in its config (no InputLayer)");
    size_t r = json_len(bs);
    if (r != 4)
        return keras_err(K, "the input has rank %zu; interp runs image models (rank 4)", r);
    *ndim = 4;
    for (size_t i = 0; i < r; i++) {
        const struct json_value *d = json_at(bs, i);
        int64_t v = G_DIM_UNKNOWN;
        if (json_value_type(d) != JSON_NULL &&
            (json_integer(d, &v) || v < 1 || v > (1 << 20))) {
            double x = 0;
            json_num(d, &x);
            return keras_err(
                K, "the input shape's dimension %zu is %g, not a size from 1 to 2^20", i, x);
        }
        dims[i] = v;
    }
    return 0;
}

/* A Resizing layer where the input enters (after layers that only scale or
 * augment): interp's own resize does its work. The layer, or NULL. */
static const struct json_value *entry_resizing(const struct json_value *layers, int depth)
{
    for (size_t i = 0; layers && i < json_len(layers) && depth < KERAS_MAX_DEPTH; i++) {
        const struct json_value *e = json_at(layers, i);
        const char *cls = keras_jstr(e, "class_name");
        if (!cls) return NULL;
        if (!strcmp(cls, "InputLayer") || !strcmp(cls, "Rescaling") ||
            !strcmp(cls, "Normalization") || keras_in_set(cls, keras_identity_classes))
            continue;
        if (!strcmp(cls, "Resizing")) return e;
        if (keras_is_model_class(cls)) {
            const struct json_value *sub = keras_entry_layers(e);
            const struct json_value *r = entry_resizing(sub, depth + 1);
            if (r) return r;
            /* a nested model that does more than preprocess ends the search */
            for (size_t j = 0; j < json_len(sub); j++) {
                const char *c2 = keras_jstr(json_at(sub, j), "class_name");
                if (c2 && strcmp(c2, "InputLayer") && strcmp(c2, "Rescaling") &&
                    strcmp(c2, "Normalization") && !keras_in_set(c2, keras_identity_classes))
                    return NULL;
            }
            continue;
        }
        return NULL;
    }
    return NULL;
}

/* The data format: channels_first when a layer says so. */
static int find_channels_first(const struct json_value *layers, int depth)
{
    for (size_t i = 0; layers && i < json_len(layers) && depth < KERAS_MAX_DEPTH; i++) {
        const struct json_value *e = json_at(layers, i), *c = keras_entry_config(e);
        const char *df = keras_jstr(c, "data_format");
        if (df) return !strcmp(df, "channels_first");
        const char *cls = keras_jstr(e, "class_name");
        if (cls && keras_is_model_class(cls)) {
            int r = find_channels_first(keras_entry_layers(e), depth + 1);
            if (r >= 0) return r;
        }
    }
    return -1;
}

/* ---------------------------------------------------------------- the file */
int keras_sniff(const void *buf, size_t len)
{
    const unsigned char *b = buf;
    if (len >= 4 && b[0] == 'P' && b[1] == 'K' &&
        ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6)))
        return 1;
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    for (size_t off = 0; off + 8 <= len; off = off ? 2 * off : 512)
        if (!memcmp(b + off, sig, 8)) return 1;
    return 0;
}

/* Reads a text entry of the archive (NUL-terminated). */
static int zip_text(struct kimp *K, struct zip *z, const char *entry, int required, char **out,
                    size_t *len)
{
    *out = NULL;
    long i = zip_find(z, entry);
    if (i < 0) {
        if (!required) return 0;
        return error_set(ERR_INPUT, K->path,
                         "not a Keras model: the archive has no %s (a .keras file holds "
                         "config.json, metadata.json and model.weights.h5)",
                         entry);
    }
    void *d;
    if (zip_read(z, (size_t)i, KERAS_MAX_JSON, &d, len)) return keras_pass(K);
    *out = d;
    return 0;
}

static void version_from_json(struct kimp *K, const char *text, size_t len)
{
    struct json_value *m = json_parse(text, len, K->path);
    if (!m) {
        error_clear();
        return;
    }
    const char *v = keras_jstr(m, "keras_version");
    if (v) snprintf(K->version, sizeof K->version, "%s", v);
    json_value_free(m);
}

struct graph *keras_graph_parse(const void *buf, size_t len, const char *name)
{
    struct kimp K = {0};
    K.path = name;
    K.b.path = name;
    K.b.kind = "layer";
    struct graph *g = graph_new();
    K.b.g = g;
    struct zip *z = NULL;
    void *wbuf = NULL;
    char *cfg_text = NULL, *meta = NULL;
    size_t cfg_len = 0, wlen = 0, mlen = 0;
    struct json_value *root = NULL;
    int rc = 0;
    const unsigned char *b = buf;
    if (len >= 2 && b[0] == 'P' && b[1] == 'K') {
        K.archive = 1;
        if (!(z = zip_open(buf, len, name))) {
            rc = keras_pass(&K);
            goto done;
        }
        if ((rc = zip_text(&K, z, "config.json", 1, &cfg_text, &cfg_len)) ||
            (rc = zip_text(&K, z, "metadata.json", 0, &meta, &mlen)))
            goto done;
        long wi = zip_find(z, "model.weights.h5");
        if (wi < 0) {
            rc = error_set(ERR_INPUT, name,
                           "the archive has no model.weights.h5 (the weights of a .keras "
                           "file)");
            goto done;
        }
        uint64_t lim = limits_get()->max_model_bytes;
        if (zip_read(z, (size_t)wi, lim > SIZE_MAX ? SIZE_MAX : (size_t)lim, &wbuf, &wlen)) {
            rc = keras_pass(&K);
            goto done;
        }
        g->held_bytes = wlen + cfg_len;
        if (!(K.h5 = h5_open(wbuf, wlen, name))) {
            char *why = xstrdup(error_message());
            rc = error_set(ERR_INPUT, name, "model.weights.h5: %s", why);
            free(why);
            goto done;
        }
        if (meta) version_from_json(&K, meta, mlen);
        if (!K.version[0]) snprintf(K.version, sizeof K.version, "3");
    } else {
        if (!(K.h5 = h5_open(buf, len, name))) {
            rc = keras_pass(&K);
            goto done;
        }
        if (h5_attr_string(K.h5, "/", "model_config", &cfg_text)) {
            char **ln = NULL;
            size_t nl = 0;
            error_clear();
            int weights_only = !h5_attr_strings(K.h5, "/", "layer_names", &ln, &nl);
            for (size_t i = 0; i < nl; i++)
                free(ln[i]);
            free(ln);
            error_clear();
            rc = error_set(ERR_INPUT, name,
                           weights_only
                               ? "weights only (model.save_weights), no architecture: save the "
                                 "whole model with model.save"
                               : "an HDF5 file without a model_config attribute: not a Keras "
                                 "model");
            goto done;
        }
        cfg_len = strlen(cfg_text);
        char *v = NULL;
        if (!h5_attr_string(K.h5, "/", "keras_version", &v))
            snprintf(K.version, sizeof K.version, "%s", v);
        error_clear();
        free(v);
        if (!K.version[0]) snprintf(K.version, sizeof K.version, "2");
    }
    K.keras3 = atoi(K.version) >= 3;
    if (!(root = json_parse(cfg_text, cfg_len, name))) {
        rc = keras_pass(&K);
        goto done;
    }
    const char *cls = keras_jstr(root, "class_name");
    if (json_value_type(root) != JSON_OBJECT || !cls || !keras_entry_layers(root))
        rc = error_set(ERR_INPUT, name,
                       "the config is not a Keras model (no class_name and config)");
    else if (!keras_is_model_class(cls))
        rc = error_set(ERR_INPUT, name,
                       "the config describes a %s, not a Sequential or "
                       "Functional model",
                       cls);
    if (rc) goto done;
    {
        char src[96];
        snprintf(src, sizeof src, "Keras %s %s", K.version, K.archive ? ".keras" : ".h5");
        g->source = graph_strdup(g, src);
    }
    if ((rc = check_classes(&K, keras_entry_layers(root), 0))) goto done;
    K.channels_first = find_channels_first(keras_entry_layers(root), 0) == 1;
    /* the input: NHWC (or NCHW) as the file declares it */
    int64_t dims[4];
    int ndim;
    const char *iname;
    if ((rc = input_shape(&K, root, dims, &ndim, &iname))) goto done;
    K.absorbed = entry_resizing(keras_entry_layers(root), 0);
    if (K.absorbed) {
        const struct json_value *rcfg = keras_entry_config(K.absorbed);
        int64_t h, w;
        int crop = 0, padr = 0;
        const char *interp = keras_jstr(rcfg, "interpolation");
        K.b.name = keras_entry_name(K.absorbed), K.b.op = "Resizing";
        if ((rc = keras_jint(&K, rcfg, "height", 1, 1 << 20, 0, &h)) ||
            (rc = keras_jint(&K, rcfg, "width", 1, 1 << 20, 0, &w)) ||
            (rc = keras_jbool(&K, rcfg, "crop_to_aspect_ratio", 0, &crop)) ||
            (rc = keras_jbool(&K, rcfg, "pad_to_aspect_ratio", 0, &padr)))
            goto done;
        if (h < 1 || w < 1 || crop || padr || (interp && strcmp(interp, "bilinear"))) {
            rc =
                keras_err(&K, "only a plain bilinear Resizing is supported (interp resizes the "
                              "images so)");
            goto done;
        }
        int hi = K.channels_first ? 2 : 1;
        dims[hi] = h, dims[hi + 1] = w;
        K.b.name = NULL;
    }
    dims[0] = 0;
    if ((rc = graph_build_input(&K.b, iname, ndim, dims))) goto done;
    struct ktensor in = {NULL, 0, 0, g->input, 0};
    if (!K.channels_first) {
        K.b.name = iname, K.b.op = "InputLayer";
        char *nm = xasprintf("%s/nchw", iname);
        in.t = keras_to_nchw(&K, g->input, nm);
        free(nm);
        in.nhwc = 1;
        if (in.t < 0) {
            rc = ERR_INPUT;
            goto done;
        }
    }
    struct kscope ws = {{0}, 0};
    K.layers_group = "layers";
    if (K.archive && h5_kind(K.h5, "layers") != H5_GROUP &&
        h5_kind(K.h5, "_layer_checkpoint_dependencies") == H5_GROUP)
        K.layers_group = "_layer_checkpoint_dependencies";
    error_clear();
    snprintf(ws.path, sizeof ws.path, "%s", K.archive ? K.layers_group : "model_weights");
    if (!K.archive && h5_kind(K.h5, "model_weights") != H5_GROUP) {
        error_clear();
        rc = error_set(ERR_INPUT, name, "no model_weights group: the file holds no weights");
        goto done;
    }
    struct ktensor out;
    if ((rc = build_model(&K, root, &ws, &in, 1, &out))) goto done;
    K.b.name = NULL;
    rc = graph_build_finish(&K.b, out.t);
done:
    json_value_free(root);
    h5_close(K.h5);
    zip_free(z);
    free(wbuf);
    free(cfg_text);
    free(meta);
    g->held_bytes = 0;
    if (rc) {
        if (!error_code()) error_set(ERR_INPUT, name, "not a Keras model");
        graph_free(g);
        return NULL;
    }
    return g;
}
