/* graph.c - the engine's graph: tensors by name, nodes, and one arena that
 * holds every parameter and name of a model (freed at once by graph_free).
 */
#include "graph.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

/* ---------------------------------------------------------------- arena */
struct arena_chunk {
    struct arena_chunk *next;
    size_t used, size;
    alignas(16) unsigned char data[];
};

int graph_alloc_fits(const struct graph *g, size_t bytes)
{
    uint64_t limit = limits_get()->max_bytes, held = (uint64_t)g->arena_bytes + g->held_bytes;
    return held <= limit && bytes <= limit - held;
}

void *graph_alloc(struct graph *g, size_t bytes)
{
    bytes = (bytes + 15) & ~(size_t)15;
    g->arena_bytes += bytes;
    struct arena_chunk *c = g->arena;
    if (!c || c->size - c->used < bytes) {
        size_t size = bytes > ((size_t)1 << 20) ? bytes : (size_t)1 << 20;
        struct arena_chunk *nc = xcalloc(1, sizeof *nc + size);
        nc->size = size;
        if (c && bytes > ((size_t)1 << 20)) { /* a big one: keep filling the current chunk */
            nc->next = c->next;
            c->next = nc;
            nc->used = bytes;
            return nc->data;
        }
        nc->next = c;
        g->arena = c = nc;
    }
    void *p = c->data + c->used;
    c->used += bytes;
    return p;
}

char *graph_strdup(struct graph *g, const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(graph_alloc(g, n), s, n);
}

/* ---------------------------------------------------------------- name index */
struct name_index {
    int *slot; /* tensor index + 1, 0 = empty */
    size_t cap;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void index_put(struct graph *g, int idx)
{
    struct name_index *ix = g->name_index;
    size_t m = ix->cap - 1, i = hash_str(g->t[idx].name) & m;
    while (ix->slot[i])
        i = (i + 1) & m;
    ix->slot[i] = idx + 1;
}

static void index_grow(struct graph *g)
{
    struct name_index *ix = g->name_index;
    free(ix->slot);
    ix->cap = ix->cap ? ix->cap * 2 : 64;
    ix->slot = xcalloc(ix->cap, sizeof(int));
    for (int k = 0; k < g->nt; k++)
        index_put(g, k);
}

int graph_find(const struct graph *g, const char *name)
{
    const struct name_index *ix = g->name_index;
    /* Names come from the protobuf, where an unset optional string is NULL. */
    if (!ix->cap || !name) return -1;
    size_t m = ix->cap - 1, i = hash_str(name) & m;
    for (; ix->slot[i]; i = (i + 1) & m)
        if (!strcmp(g->t[ix->slot[i] - 1].name, name)) return ix->slot[i] - 1;
    return -1;
}

/* ---------------------------------------------------------------- graph */
struct graph *graph_new(void)
{
    struct graph *g = xcalloc(1, sizeof *g);
    g->name_index = xcalloc(1, sizeof(struct name_index));
    g->input = g->output = -1;
    return g;
}

void graph_free(struct graph *g)
{
    if (!g) return;
    for (struct arena_chunk *c = g->arena, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    if (!g->borrowed) {
        struct name_index *ix = g->name_index;
        free(ix->slot);
        free(ix);
        free(g->layers);
    }
    free(g->t);
    free(g->nodes);
    free(g);
}

struct graph *graph_clone(const struct graph *g)
{
    size_t need = 0;
    for (int i = 0; i < g->nt; i++)
        if (!g->t[i].batched && g->t[i].f) need += g->t[i].item * sizeof(float);
    uint64_t limit = limits_get()->max_bytes;
    if (need > limit) {
        char nb[32], lb[32];
        error_set(ERR_INPUT, NULL,
                  "a copy of the model's weights needs %s, over the %s allowed (raise it "
                  "with --max-memory)",
                  limits_format_bytes(need, nb, sizeof nb),
                  limits_format_bytes(limit, lb, sizeof lb));
        return NULL;
    }
    struct graph *c = xmalloc(sizeof *c);
    *c = *g;
    c->arena = NULL, c->arena_bytes = 0, c->held_bytes = 0, c->borrowed = 1;
    c->t = xmalloc(sizeof(struct tensor) * (size_t)(g->nt ? g->nt : 1));
    memcpy(c->t, g->t, sizeof(struct tensor) * (size_t)g->nt);
    c->cap_t = g->nt;
    c->nodes = xmalloc(sizeof(struct node) * (size_t)(g->nn ? g->nn : 1));
    memcpy(c->nodes, g->nodes, sizeof(struct node) * (size_t)g->nn);
    c->cap_n = g->nn;
    for (int i = 0; i < g->nt; i++)
        if (!g->t[i].batched && g->t[i].f)
            c->t[i].f = memcpy(graph_alloc(c, g->t[i].item * sizeof(float)), g->t[i].f,
                               g->t[i].item * sizeof(float));
    for (int i = 0; i < g->nn; i++) {
        struct node *nd = &c->nodes[i];
        if (nd->op == OP_BATCHNORM) {
            size_t b = sizeof(float) * (size_t)nd->p.bn.c;
            nd->p.bn.a = memcpy(graph_alloc(c, b), nd->p.bn.a, b);
            nd->p.bn.b = memcpy(graph_alloc(c, b), nd->p.bn.b, b);
        } else if (nd->op == OP_GEMM && nd->p.gemm.bias) {
            size_t b = sizeof(float) * (nd->p.gemm.bias_scalar ? 1 : (size_t)nd->p.gemm.m);
            nd->p.gemm.bias = memcpy(graph_alloc(c, b), nd->p.gemm.bias, b);
        }
    }
    return c;
}

int graph_add_tensor(struct graph *g, const char *name)
{
    if (g->nt == g->cap_t) {
        g->cap_t = g->cap_t ? g->cap_t * 2 : 64;
        g->t = xrealloc(g->t, sizeof(struct tensor) * (size_t)g->cap_t);
    }
    struct tensor *t = &g->t[g->nt];
    memset(t, 0, sizeof *t);
    t->name = graph_strdup(g, name);
    t->producer = -1;
    g->nt++;
    struct name_index *ix = g->name_index;
    if ((size_t)g->nt * 2 > ix->cap)
        index_grow(g);
    else
        index_put(g, g->nt - 1);
    return g->nt - 1;
}

struct node *graph_add_node(struct graph *g, enum op_type op, const char *name,
                            const char *src_op)
{
    if (g->nn == g->cap_n) {
        g->cap_n = g->cap_n ? g->cap_n * 2 : 32;
        g->nodes = xrealloc(g->nodes, sizeof(struct node) * (size_t)g->cap_n);
    }
    struct node *nd = &g->nodes[g->nn++];
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->name = graph_strdup(g, name);
    nd->src_op = graph_strdup(g, src_op);
    nd->out = -1;
    for (int i = 0; i < G_MAX_INPUTS; i++)
        nd->in[i] = -1;
    return nd;
}

void tensor_update_item(struct tensor *t)
{
    size_t n = 1;
    for (int i = t->batched ? 1 : 0; i < t->ndim; i++)
        if (t->dims[i] < 0 || !mul_ok(n, (size_t)t->dims[i], &n))
            n = SIZE_MAX; /* refused by the importer */
    t->item = n;
}

const char *tensor_shape_str(const struct tensor *t, char *buf, size_t size)
{
    size_t k = 0;
    k += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && k < size; i++) {
        if (i == 0 && t->batched)
            k += (size_t)snprintf(buf + k, size - k, "N");
        else
            k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? "," : "",
                                  (long long)t->dims[i]);
    }
    if (k < size) snprintf(buf + k, size - k, "]");
    return buf;
}

const char *op_name(enum op_type op)
{
    static const char *names[OP_COUNT] = {[OP_CONV] = "Conv",
                                          [OP_BATCHNORM] = "BatchNormalization",
                                          [OP_RELU] = "Relu",
                                          [OP_LEAKYRELU] = "LeakyRelu",
                                          [OP_SIGMOID] = "Sigmoid",
                                          [OP_TANH] = "Tanh",
                                          [OP_CLIP] = "Clip",
                                          [OP_ELU] = "Elu",
                                          [OP_SELU] = "Selu",
                                          [OP_SOFTPLUS] = "Softplus",
                                          [OP_SOFTSIGN] = "Softsign",
                                          [OP_HARDSIGMOID] = "HardSigmoid",
                                          [OP_EXP] = "Exp",
                                          [OP_GELU] = "Gelu",
                                          [OP_SOFTMAX] = "Softmax",
                                          [OP_COPY] = "Copy",
                                          [OP_MAXPOOL] = "MaxPool",
                                          [OP_AVGPOOL] = "AveragePool",
                                          [OP_GAP] = "GlobalAveragePool",
                                          [OP_GEMM] = "Gemm",
                                          [OP_ADD] = "Add",
                                          [OP_SUB] = "Sub",
                                          [OP_MUL] = "Mul",
                                          [OP_DIV] = "Div",
                                          [OP_TRANSPOSE] = "Transpose",
                                          [OP_CONCAT] = "Concat",
                                          [OP_PAD] = "Pad",
                                          [OP_SLICE] = "Slice"};
    return (unsigned)op < OP_COUNT ? names[op] : "?";
}
