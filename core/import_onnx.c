/* import_onnx.c - the ONNX front door: the protobuf (protobuf-c, generated
 * from Debian's onnx.proto) is unpacked, its initializers become constants,
 * its nodes are sorted topologically and handed to the graph builder
 * (graph_build.c) with their attributes; then the protobuf is freed.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "graph.h"
#include "onnx.pb-c.h"
#include "outfile.h"
#include "util.h"

#define OPSET_MIN 9
#define OPSET_MAX 17

typedef Onnx__NodeProto NodeProto;
typedef Onnx__TensorProto TensorProto;
typedef Onnx__AttributeProto AttrProto;

struct importer {
    struct graph_builder b; /* the graph, the path, the node being imported */
    const char *path;
    const NodeProto *np; /* the node being imported */
};

/* Records "node 'NAME' (OP): reason" as ERR_INPUT for the model file. */
static int node_error(struct importer *im, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int node_error(struct importer *im, const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return gb_error(&im->b, "%s", why);
}

/* Points the builder at node n (display name nbuf) for messages. */
static void importer_at(struct importer *im, const NodeProto *n, const char *nbuf)
{
    im->np = n;
    im->b.name = nbuf;
    im->b.op = n->op_type ? n->op_type : "?";
}

/* ---------------------------------------------------------------- attributes */
static const AttrProto *proto_attr(const NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name))
            return n->attribute[i];
    return NULL;
}

/* The node's attributes in the builder's form (pointing into the protobuf);
 * *v is owned by the caller. */
static void attrs_from_proto(const NodeProto *n, int opset, struct attrs *as, struct attr **v)
{
    *v = xcalloc(n->n_attribute ? n->n_attribute : 1, sizeof(struct attr));
    int k = 0;
    for (size_t i = 0; i < n->n_attribute; i++) {
        const AttrProto *a = n->attribute[i];
        if (!a->name) continue;
        (*v)[k++] = (struct attr){.name = a->name,
                                  .i = a->i,
                                  .f = a->f,
                                  .ints = a->ints,
                                  .nints = a->n_ints,
                                  .s = (const char *)a->s.data,
                                  .slen = a->s.len,
                                  .has_s = a->has_s};
    }
    as->v = *v;
    as->n = k;
    as->opset = opset;
    as->indices_output = n->n_output > 1 && n->output[1] && n->output[1][0];
}

/* ---------------------------------------------------------------- limits */
/* "[2,1,3,3]" from a TensorProto's dims. */
static const char *proto_shape_str(const TensorProto *tp, char *shape, size_t size)
{
    size_t k = (size_t)snprintf(shape, size, "[");
    for (size_t i = 0; i < tp->n_dims && k < size; i++)
        k += (size_t)snprintf(shape + k, size - k, "%s%lld", i ? "," : "",
                              (long long)tp->dims[i]);
    if (k < size) snprintf(shape + k, size - k, "]");
    return shape;
}

/* ---------------------------------------------------------------- constants */
/* Converts an initializer (or a Constant's value) into constant tensor `ti`. */
static int tensor_from_proto(struct importer *im, const TensorProto *tp, int ti,
                             const char *what)
{
    struct graph *g = im->b.g;
    struct tensor *t = &g->t[ti];
    const char *nm = tp->name && tp->name[0] ? tp->name : t->name;
    if ((tp->has_data_location &&
         tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) ||
        tp->n_external_data) {
        const char *loc = "?";
        for (size_t i = 0; i < tp->n_external_data; i++)
            if (tp->external_data[i]->key && !strcmp(tp->external_data[i]->key, "location"))
                loc = tp->external_data[i]->value;
        return error_set(ERR_INPUT, im->b.path,
                         "%s '%s': weights in an external data file (%s) are not supported; "
                         "save the model with its weights inside",
                         what, nm, loc);
    }
    if (tp->n_dims > G_MAX_DIMS)
        return error_set(ERR_INPUT, im->b.path, "%s '%s': rank %zu is more than %d", what, nm,
                         tp->n_dims, G_MAX_DIMS);
    char shape[128];
    proto_shape_str(tp, shape, sizeof shape);
    size_t count = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0)
            return error_set(ERR_INPUT, im->b.path,
                             "%s '%s': shape %s has a negative dimension (%lld)", what, nm,
                             shape, (long long)tp->dims[i]);
        if (!mul_ok(count, (size_t)tp->dims[i], &count)) count = SIZE_MAX;
        t->dims[i] = tp->dims[i];
    }
    t->ndim = (int)tp->n_dims;
    t->batched = 0;
    t->item = count;
    int dt = tp->data_type;
    size_t esz =
        dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32
            ? 4
        : dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ||
                dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE
            ? 8
        : dt == ONNX__TENSOR_PROTO__DATA_TYPE__BOOL ||
                dt == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 ||
                dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT8
            ? 1
            : 0;
    if (!esz)
        return error_set(ERR_INPUT, im->b.path, "%s '%s': data type %d is not supported", what,
                         nm, dt);
    char why[300];
    int is_float = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
                   dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    if (tensor_over_limits(t, is_float ? sizeof(float) : sizeof(int64_t), why, sizeof why))
        return error_set(ERR_INPUT, im->b.path, "%s '%s': %s", what, nm, why);
    size_t held = count * (is_float ? sizeof(float) : sizeof(int64_t)); /* checked above */
    if (!graph_alloc_fits(g, held)) {
        char need[32], have[32], all[32];
        return error_set(ERR_INPUT, im->b.path,
                         "%s '%s' %s (%s) would bring the decoded model and its weights to %s, "
                         "over the %s allowed (raise it with --max-memory)",
                         what, nm, shape, limits_format_bytes(held, need, sizeof need),
                         limits_format_bytes((uint64_t)g->arena_bytes + g->held_bytes + held,
                                             all, sizeof all),
                         limits_format_bytes(limits_get()->max_bytes, have, sizeof have));
    }
    size_t typed = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT   ? tp->n_float_data
                   : dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? tp->n_int64_data
                   : dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE
                       ? tp->n_double_data
                       : tp->n_int32_data; /* int32, bool, (u)int8 live in int32_data */
    int raw = tp->has_raw_data;
    size_t have = raw ? tp->raw_data.len : typed * esz;
    size_t want;
    if (!mul_ok(count, esz, &want)) want = SIZE_MAX;
    if (have != want) {
        return error_set(ERR_INPUT, im->b.path,
                         "%s '%s': %zu bytes of data for shape %s, which needs %zu", what, nm,
                         have, shape, want);
    }
    const unsigned char *rp = raw ? tp->raw_data.data : NULL;
    if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
        dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
        t->is_int = 0;
        t->f = graph_alloc(g, sizeof(float) * (count ? count : 1));
        for (size_t k = 0; k < count; k++) {
            if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
                if (rp)
                    memcpy(&t->f[k], rp + 4 * k, 4); /* little-endian host assumed (x86, arm) */
                else
                    t->f[k] = tp->float_data[k];
            } else {
                double d;
                if (rp)
                    memcpy(&d, rp + 8 * k, 8);
                else
                    d = tp->double_data[k];
                t->f[k] = (float)d;
            }
        }
    } else {
        t->is_int = 1;
        t->i64 = graph_alloc(g, sizeof(int64_t) * (count ? count : 1));
        for (size_t k = 0; k < count; k++) {
            int64_t v;
            if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
                if (rp)
                    memcpy(&v, rp + 8 * k, 8);
                else
                    v = tp->int64_data[k];
            } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32) {
                int32_t w;
                if (rp)
                    memcpy(&w, rp + 4 * k, 4);
                else
                    w = tp->int32_data[k];
                v = w;
            } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT8) {
                v = rp ? (int8_t)rp[k] : tp->int32_data[k];
            } else {
                v = rp ? rp[k] : tp->int32_data[k];
            }
            t->i64[k] = v;
        }
    }
    return 0;
}

/* A Constant node: value (tensor) or value_float(s) / value_int(s). */
static int constant_node(struct importer *im, const NodeProto *n, int out)
{
    struct graph *g = im->b.g;
    struct tensor *t = &g->t[out];
    const AttrProto *a;
    if ((a = proto_attr(n, "value")) && a->t)
        return tensor_from_proto(im, a->t, out, "Constant");
    if ((a = proto_attr(n, "value_float"))) {
        t->ndim = 0, t->item = 1, t->f = graph_alloc(g, sizeof(float));
        t->f[0] = a->f;
        return 0;
    }
    if ((a = proto_attr(n, "value_int"))) {
        t->ndim = 0, t->item = 1, t->is_int = 1, t->i64 = graph_alloc(g, sizeof(int64_t));
        t->i64[0] = a->i;
        return 0;
    }
    if ((a = proto_attr(n, "value_floats")) || (a = proto_attr(n, "value_ints"))) {
        int is_int = a->n_ints > 0 || a->n_floats == 0;
        size_t k = is_int ? a->n_ints : a->n_floats;
        t->ndim = 1, t->dims[0] = (int64_t)k, t->item = k, t->is_int = is_int;
        if (is_int) {
            t->i64 = graph_alloc(g, sizeof(int64_t) * (k ? k : 1));
            memcpy(t->i64, a->ints, sizeof(int64_t) * k);
        } else {
            t->f = graph_alloc(g, sizeof(float) * (k ? k : 1));
            memcpy(t->f, a->floats, sizeof(float) * k);
        }
        return 0;
    }
    return node_error(im, "Constant without a supported value attribute");
}

/* ---------------------------------------------------------------- nodes */
static int import_node(struct importer *im, const NodeProto *n, int opset)
{
    struct graph *g = im->b.g;
    const char *op = n->op_type ? n->op_type : "";
    const char *dom = n->domain ? n->domain : "";
    if (dom[0] && strcmp(dom, "ai.onnx"))
        return node_error(im, "operator %s of domain '%s' is not supported", op, dom);
    if (n->n_output < 1 || !n->output[0][0]) return node_error(im, "no output");
    if (n->n_input > G_MAX_INPUTS) return node_error(im, "more than %d inputs", G_MAX_INPUTS);
    int in[G_MAX_INPUTS];
    for (size_t i = 0; i < n->n_input; i++) {
        in[i] = -1;
        if (!n->input[i][0]) continue; /* an absent optional input */
        if ((in[i] = graph_find(g, n->input[i])) < 0)
            return node_error(
                im, "input '%s' is not available (an output the engine does not produce)",
                n->input[i]);
    }
    if (!strcmp(op, "Constant")) {
        if (graph_find(g, n->output[0]) >= 0)
            return node_error(im, "output '%s' is defined twice", n->output[0]);
        int out = graph_add_tensor(g, n->output[0]);
        int rc = constant_node(im, n, out);
        return rc ? rc : graph_build_check_output(&im->b, out);
    }
    struct attrs as;
    struct attr *v;
    attrs_from_proto(n, opset, &as, &v);
    int rc = graph_build_node(&im->b, op, in, (int)n->n_input, n->output[0], &as);
    free(v);
    return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- name map */
/* A small open-addressing map from names to ints for the sort. */
struct strmap {
    const char **key;
    int *val;
    size_t cap;
};

static uint64_t strhash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void strmap_init(struct strmap *m, size_t n)
{
    m->cap = 16;
    while (m->cap < 2 * n + 2)
        m->cap *= 2;
    m->key = xcalloc(m->cap, sizeof *m->key);
    m->val = xcalloc(m->cap, sizeof *m->val);
}

static int *strmap_slot(struct strmap *m, const char *k, int create)
{
    size_t i = strhash(k) & (m->cap - 1);
    for (; m->key[i]; i = (i + 1) & (m->cap - 1))
        if (!strcmp(m->key[i], k)) return &m->val[i];
    if (!create) return NULL;
    m->key[i] = k;
    return &m->val[i];
}

static void strmap_release(struct strmap *m)
{
    free(m->key);
    free(m->val);
}

/* ---------------------------------------------------------------- import */
static void node_display_name(const NodeProto *n, size_t idx, char *buf, size_t size)
{
    if (n->name && n->name[0])
        snprintf(buf, size, "%s", n->name);
    else
        snprintf(buf, size, "%s_%zu", n->op_type ? n->op_type : "node", idx);
}

/* A binary min-heap of node indices: Kahn's algorithm takes the lowest-index
 * ready node first, so a file already in topological order keeps its order. */
struct heap {
    size_t *v, n;
};

static void heap_push(struct heap *h, size_t x)
{
    size_t i = h->n++;
    for (; i && h->v[(i - 1) / 2] > x; i = (i - 1) / 2)
        h->v[i] = h->v[(i - 1) / 2];
    h->v[i] = x;
}

static size_t heap_pop(struct heap *h)
{
    size_t top = h->v[0], x = h->v[--h->n], i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->v[c + 1] < h->v[c]) c++;
        if (h->v[c] >= x) break;
        h->v[i] = h->v[c];
        i = c;
    }
    h->v[i] = x;
    return top;
}

/* Names the nodes of a cycle among the nodes the sort could not place: walks
 * from `start` to an unplaced producer of one of its inputs until a node
 * repeats (every unplaced node has one, or it would have been placed), then
 * records "a -> b -> a" in the direction data flows. */
static int cycle_error(struct importer *im, const Onnx__GraphProto *gp, const char *used,
                       const size_t *inoff, const long *pin, size_t start)
{
    size_t nn = gp->n_node, *walk = xmalloc(sizeof(size_t) * (nn ? nn : 1));
    size_t *pos = xcalloc(nn ? nn : 1, sizeof(size_t)); /* step + 1, 0 = not seen */
    size_t len = 0, u = start;
    while (!pos[u]) {
        walk[len++] = u;
        pos[u] = len;
        size_t next = u;
        for (size_t k = inoff[u]; k < inoff[u + 1]; k++)
            if (pin[k] >= 0 && !used[pin[k]]) {
                next = (size_t)pin[k];
                break;
            }
        ASSERT(next != u); /* an unplaced node waits on an unplaced producer */
        u = next;
    }
    /* walk[s..len-1] is the cycle, each node a consumer of the next one */
    size_t s = pos[u] - 1;
    char path[300], nbuf[256];
    size_t k = 0;
    path[0] = 0;
    for (size_t j = 0; j <= len - s && k < sizeof path; j++) {
        size_t v = j == 0 ? walk[s] : walk[len - j]; /* j = len - s: back at walk[s] */
        node_display_name(gp->node[v], v, nbuf, sizeof nbuf);
        k += (size_t)snprintf(path + k, sizeof path - k, "%s%s", j ? " -> " : "", nbuf);
    }
    if (k >= sizeof path) memcpy(path + sizeof path - 4, "...", 4);
    node_display_name(gp->node[walk[s]], walk[s], nbuf, sizeof nbuf);
    importer_at(im, gp->node[walk[s]], nbuf);
    int rc = node_error(im, "the graph has a cycle: %s", path);
    free(walk);
    free(pos);
    return rc;
}

/* Kahn's algorithm over the producer -> consumer edges, O((nodes + edges)
 * log nodes). order[] receives node indices. Refuses an output defined twice,
 * an input nothing produces, a node reading its own output, and cycles. */
static int topo_sort(struct importer *im, const Onnx__GraphProto *gp, struct strmap *defined,
                     size_t *order)
{
    size_t nn = gp->n_node, nout = 0, nin = 0;
    for (size_t i = 0; i < nn; i++)
        nout += gp->node[i]->n_output, nin += gp->node[i]->n_input;
    struct strmap prod;
    strmap_init(&prod, nout + 1);
    int rc = 0;
    size_t *indeg = xcalloc(nn ? nn : 1, sizeof(size_t));
    size_t *inoff = xcalloc(nn + 1, sizeof(size_t));     /* node i's inputs: pin[inoff[i]..] */
    long *pin = xmalloc(sizeof(long) * (nin ? nin : 1)); /* their producers, -1: none */
    size_t *first = xcalloc(nn + 2, sizeof(size_t));     /* consumers of p: cons[first[p]..] */
    size_t *cons = xmalloc(sizeof(size_t) * (nin ? nin : 1));
    char *used = xcalloc(nn ? nn : 1, 1);
    struct heap ready = {xmalloc(sizeof(size_t) * (nn ? nn : 1)), 0};
    char nbuf[256];
    for (size_t i = 0; i < nn && !rc; i++) {
        const NodeProto *n = gp->node[i];
        for (size_t o = 0; o < n->n_output; o++) {
            if (!n->output[o][0]) continue;
            if (strmap_slot(&prod, n->output[o], 0) || strmap_slot(defined, n->output[o], 0)) {
                node_display_name(n, i, nbuf, sizeof nbuf);
                importer_at(im, n, nbuf);
                rc = node_error(im, "output '%s' is defined twice", n->output[o]);
                break;
            }
            *strmap_slot(&prod, n->output[o], 1) = (int)i;
        }
    }
    for (size_t i = 0; i < nn && !rc; i++) {
        const NodeProto *n = gp->node[i];
        inoff[i + 1] = inoff[i] + n->n_input;
        for (size_t k = 0; k < n->n_input && !rc; k++) {
            const char *nm = n->input[k];
            long *p = &pin[inoff[i] + k];
            *p = -1;
            if (!nm[0] || strmap_slot(defined, nm, 0)) continue;
            int *s = strmap_slot(&prod, nm, 0);
            node_display_name(n, i, nbuf, sizeof nbuf);
            importer_at(im, n, nbuf);
            if (!s)
                rc = node_error(
                    im, "input '%s' is not produced by any node, initializer or graph input",
                    nm);
            else if ((size_t)*s == i)
                rc = node_error(im, "reads its own output '%s' (a cycle of one node)", nm);
            else
                *p = *s, indeg[i]++, first[*s + 2]++;
        }
    }
    if (rc) goto out;
    /* counting sort of the edges by producer: first[p + 1] .. first[p + 2] */
    for (size_t p = 0; p < nn; p++)
        first[p + 2] += first[p + 1];
    for (size_t i = 0; i < nn; i++)
        for (size_t k = inoff[i]; k < inoff[i + 1]; k++)
            if (pin[k] >= 0) cons[first[pin[k] + 1]++] = i;
    /* now consumers of p are cons[first[p] .. first[p + 1]) */
    for (size_t i = 0; i < nn; i++)
        if (!indeg[i]) heap_push(&ready, i);
    size_t done = 0;
    while (ready.n) {
        size_t pick = heap_pop(&ready);
        used[pick] = 1;
        order[done++] = pick;
        for (size_t e = first[pick]; e < first[pick + 1]; e++)
            if (--indeg[cons[e]] == 0) heap_push(&ready, cons[e]);
    }
    if (done < nn) { /* every remaining node waits on another: a cycle */
        size_t start = 0;
        while (used[start])
            start++;
        rc = cycle_error(im, gp, used, inoff, pin, start);
    }
out:
    free(ready.v);
    free(used);
    free(cons);
    free(first);
    free(pin);
    free(inoff);
    free(indeg);
    strmap_release(&prod);
    return rc;
}

static int import_input(struct importer *im, const Onnx__ValueInfoProto *vi)
{
    const char *nm = vi->name ? vi->name : "";
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return error_set(ERR_INPUT, im->b.path, "input '%s' is not a tensor", nm);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return error_set(ERR_INPUT, im->b.path,
                         "input '%s' has data type %d; only float32 is supported", nm,
                         tt->elem_type);
    if (!tt->shape || tt->shape->n_dim < 2 || tt->shape->n_dim > G_MAX_DIMS)
        return error_set(ERR_INPUT, im->b.path, "input '%s' needs a shape of rank 2 to %d", nm,
                         G_MAX_DIMS);
    int64_t dims[G_MAX_DIMS];
    for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        int known = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        dims[i] = known ? d->dim_value : i == 0 ? 0 : G_DIM_UNKNOWN;
    }
    return graph_build_input(&im->b, nm, (int)tt->shape->n_dim, dims);
}

/* ---------------------------------------------------------------- limits before decoding */
/* One field of a protobuf message at *p: its number, wire type and, for a
 * length-delimited one, its payload; *p moves past it. 0 when malformed. */
static int pb_field(const uint8_t **p, const uint8_t *end, uint64_t *field, int *wt,
                    const uint8_t **payload, uint64_t *plen)
{
    uint64_t v[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        if (k == 1 && (v[0] & 7) != 0 && (v[0] & 7) != 2) break;
        int ok = 0;
        for (int sh = 0; sh < 64 && *p < end; sh += 7) {
            uint8_t b = *(*p)++;
            v[k] |= (uint64_t)(b & 0x7f) << sh;
            if (!(b & 0x80)) {
                ok = 1;
                break;
            }
        }
        if (!ok) return 0;
    }
    *field = v[0] >> 3, *wt = (int)(v[0] & 7);
    size_t left = (size_t)(end - *p);
    switch (*wt) {
    case 0: return 1;
    case 1: return left >= 8 ? (*p += 8, 1) : 0;
    case 5: return left >= 4 ? (*p += 4, 1) : 0;
    case 2:
        if (v[1] > left) return 0;
        *payload = *p, *plen = v[1];
        *p += v[1];
        return 1;
    default: return 0; /* groups: not in ONNX */
    }
}

/* The number of NodeProto entries in the main graph (ModelProto field 7,
 * GraphProto field 1), counted on the wire before anything is decoded; a
 * malformed stretch ends the count (the decoder refuses it afterwards). */
static size_t pb_count_nodes(const uint8_t *buf, size_t len)
{
    const uint8_t *p = buf, *end = buf + len, *pl, *q;
    uint64_t f, n, sub;
    int wt;
    size_t count = 0;
    while (p < end && pb_field(&p, end, &f, &wt, &pl, &n)) {
        if (f != 7 || wt != 2) continue;
        q = pl;
        const uint8_t *qe = pl + n, *x;
        uint64_t xn;
        while (q < qe && pb_field(&q, qe, &sub, &wt, &x, &xn))
            if (sub == 1 && wt == 2) count++;
    }
    return count;
}

/* protobuf-c's allocations, counted against --max-memory: the decoded
 * structures can be many times the file's size (an empty node is 2 bytes on
 * the wire and over 100 in memory). */
struct pb_budget {
    size_t used, limit;
    int over;
};

static void *pb_alloc(void *data, size_t size)
{
    struct pb_budget *b = data;
    if (size > b->limit || b->limit - size < b->used + 16) {
        b->over = 1;
        return NULL;
    }
    unsigned char *p = malloc(size + 16);
    if (!p) {
        b->over = 1;
        return NULL;
    }
    memcpy(p, &size, sizeof size);
    b->used += size + 16;
    return p + 16;
}

static void pb_free(void *data, void *ptr)
{
    struct pb_budget *b = data;
    if (!ptr) return;
    unsigned char *p = (unsigned char *)ptr - 16;
    size_t size;
    memcpy(&size, p, sizeof size);
    b->used -= size + 16;
    free(p);
}

struct graph *onnx_graph_parse(const void *buf, size_t len, const char *name)
{
    struct importer im = {0};
    im.b.path = name;
    im.b.kind = "node";
    const struct limits *lim = limits_get();
    size_t nodes = pb_count_nodes(buf, len);
    if (nodes > lim->max_nodes) {
        error_set(ERR_INPUT, name,
                  "the graph has %zu nodes, over the limit of %llu (raise it with --max-nodes)",
                  nodes, (unsigned long long)lim->max_nodes);
        return NULL;
    }
    struct pb_budget budget = {0, lim->max_bytes > SIZE_MAX ? SIZE_MAX : (size_t)lim->max_bytes,
                               0};
    ProtobufCAllocator pba = {pb_alloc, pb_free, &budget};
    Onnx__ModelProto *mp = onnx__model_proto__unpack(&pba, len, buf);
    if (!mp) {
        char have[32];
        if (budget.over)
            error_set(ERR_INPUT, name,
                      "decoding the model needs more than the %s allowed "
                      "(raise it with --max-memory)",
                      limits_format_bytes(lim->max_bytes, have, sizeof have));
        else
            error_set(ERR_INPUT, name, "not an ONNX model (the protobuf does not decode)");
        return NULL;
    }
    struct graph *g = graph_new();
    g->held_bytes = budget.used; /* the decoded protobuf lives until the import ends */
    im.b.g = g;
    struct strmap defined = {0};
    size_t *order = NULL;
    int rc = 0, opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const char *d = mp->opset_import[i]->domain;
        if (!d || !d[0] || !strcmp(d, "ai.onnx")) opset = (int)mp->opset_import[i]->version;
    }
    const Onnx__GraphProto *gp = mp->graph;
    if (!gp) {
        rc = error_set(ERR_INPUT, name, "the model has no graph");
        goto done;
    }
    if (opset < 0) opset = OPSET_MIN; /* IR < 3 files carry no opset: the oldest we know */
    if (opset < OPSET_MIN || opset > OPSET_MAX) {
        rc = error_set(ERR_INPUT, name,
                       "opset %d is not supported (interp runs opsets %d to %d)", opset,
                       OPSET_MIN, OPSET_MAX);
        goto done;
    }
    g->opset = opset;
    {
        char src[32];
        snprintf(src, sizeof src, "ONNX opset %d", opset);
        g->source = graph_strdup(g, src);
    }
    if (gp->n_node > lim->max_nodes) { /* the wire count above missed none, but be sure */
        rc = error_set(
            ERR_INPUT, name,
            "the graph has %zu nodes, over the limit of %llu (raise it with --max-nodes)",
            gp->n_node, (unsigned long long)lim->max_nodes);
        goto done;
    }
    strmap_init(&defined, gp->n_initializer + gp->n_input + 1);
    for (size_t i = 0; i < gp->n_initializer && !rc; i++) {
        const TensorProto *tp = gp->initializer[i];
        if (!tp->name || !tp->name[0]) continue;
        if (graph_find(g, tp->name) >= 0) {
            rc = error_set(ERR_INPUT, name, "initializer '%s' appears twice", tp->name);
            break;
        }
        int ti = graph_add_tensor(g, tp->name);
        rc = tensor_from_proto(&im, tp, ti, "initializer");
        *strmap_slot(&defined, g->t[ti].name, 1) = ti;
    }
    if (rc) goto done;
    for (size_t i = 0; i < gp->n_input && !rc; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name || graph_find(g, vi->name) >= 0)
            continue; /* an initializer listed as input */
        if (g->input >= 0) {
            rc = error_set(ERR_INPUT, name, "the model has more than one input ('%s', '%s')",
                           g->t[g->input].name, vi->name);
            break;
        }
        rc = import_input(&im, vi);
        if (!rc) *strmap_slot(&defined, g->t[g->input].name, 1) = g->input;
    }
    if (rc) goto done;
    if (g->input < 0) {
        rc = error_set(ERR_INPUT, name, "the model has no input");
        goto done;
    }
    order = xmalloc(sizeof(size_t) * (gp->n_node ? gp->n_node : 1));
    if ((rc = topo_sort(&im, gp, &defined, order))) goto done;
    for (size_t k = 0; k < gp->n_node && !rc; k++) {
        char nbuf[256];
        node_display_name(gp->node[order[k]], order[k], nbuf, sizeof nbuf);
        importer_at(&im, gp->node[order[k]], nbuf);
        rc = import_node(&im, gp->node[order[k]], opset);
    }
    if (rc) goto done;
    if (gp->n_output < 1 || (g->output = graph_find(g, gp->output[0]->name)) < 0) {
        rc = error_set(ERR_INPUT, name, "the graph output is not produced");
        goto done;
    }
    rc = graph_build_finish(&im.b, g->output);
done:
    free(order);
    if (defined.cap) strmap_release(&defined);
    onnx__model_proto__free_unpacked(mp, &pba);
    g->held_bytes = 0;
    if (rc) {
        graph_free(g);
        return NULL;
    }
    return g;
}
