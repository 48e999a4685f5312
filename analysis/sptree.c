/* sptree.c - quadtree/octree over the embedding, Barnes-Hut repulsion.
 *
 * Built top-down by partitioning a permutation of the points (counting sort by
 * child cell), so every cell owns a contiguous range of points and the build is
 * deterministic. Nodes live in one growable array reused across iterations.
 */
#include "sptree.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/util.h"

struct sptree *sptree_new(int dims)
{
    if (dims < 2 || dims > SPTREE_MAX_DIMS) return NULL;
    struct sptree *t = xcalloc(1, sizeof *t);
    t->dims = dims;
    return t;
}

void sptree_free(struct sptree *t)
{
    if (!t) return;
    free(t->node);
    free(t->perm);
    free(t->scratch);
    free(t);
}

static size_t node_add(struct sptree *t)
{
    if (t->nnodes == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->node = xrealloc(t->node, t->cap * sizeof *t->node);
    }
    return t->nnodes++;
}

/* Splits node `id` into 2^dims children when it holds more than one distinct
 * point, then recurses. Child c covers the half-space with bit d of c set when
 * y[d] >= centre[d]. */
static void node_split(struct sptree *t, const double *y, size_t id, int depth)
{
    int dims = t->dims;
    struct sptree_node *nd = &t->node[id];
    uint32_t start = nd->start, count = nd->count;
    double sum[SPTREE_MAX_DIMS] = {0};
    int same = 1;
    const double *y0 = y + (size_t)t->perm[start] * dims;
    for (uint32_t s = start; s < start + count; s++) {
        const double *p = y + (size_t)t->perm[s] * dims;
        for (int d = 0; d < dims; d++) {
            sum[d] += p[d];
            same &= p[d] == y0[d];
        }
    }
    for (int d = 0; d < dims; d++)
        nd->com[d] = sum[d] / count;
    nd->child = -1;
    if (count <= 1 || same || depth >= SPTREE_MAX_DEPTH) return;

    /* Counting sort of the node's points by child code. */
    int nch = 1 << dims;
    uint32_t cnt[1 << SPTREE_MAX_DIMS] = {0}, off[1 << SPTREE_MAX_DIMS];
    for (uint32_t s = start; s < start + count; s++) {
        const double *p = y + (size_t)t->perm[s] * dims;
        int c = 0;
        for (int d = 0; d < dims; d++)
            c |= (p[d] >= nd->centre[d]) << d;
        cnt[c]++;
    }
    off[0] = start;
    for (int c = 1; c < nch; c++)
        off[c] = off[c - 1] + cnt[c - 1];
    for (uint32_t s = start; s < start + count; s++) {
        uint32_t pi = t->perm[s];
        const double *p = y + (size_t)pi * dims;
        int c = 0;
        for (int d = 0; d < dims; d++)
            c |= (p[d] >= nd->centre[d]) << d;
        t->scratch[off[c]++] = pi;
    }
    memcpy(t->perm + start, t->scratch + start, count * sizeof *t->perm);

    double w = nd->width, centre[SPTREE_MAX_DIMS];
    memcpy(centre, nd->centre, sizeof centre);
    size_t first = 0;
    uint32_t s = start;
    for (int c = 0; c < nch; c++) {
        size_t cid = node_add(t); /* may move t->node: no pointers kept across */
        if (c == 0) first = cid;
        struct sptree_node *ch = &t->node[cid];
        for (int d = 0; d < dims; d++)
            ch->centre[d] = centre[d] + ((c >> d) & 1 ? 0.25 : -0.25) * w;
        ch->width = 0.5 * w;
        ch->start = s;
        ch->count = cnt[c];
        ch->child = -1;
        s += cnt[c];
    }
    t->node[id].child = (int32_t)first;
    for (int c = 0; c < nch; c++)
        if (t->node[first + c].count > 0) node_split(t, y, first + c, depth + 1);
}

int sptree_build(struct sptree *t, const double *y, size_t n)
{
    if (n > UINT32_MAX / 2)
        return error_set(ERR_INPUT, NULL, "%zu points: the tree holds at most %u", n,
                         UINT32_MAX / 2);
    int dims = t->dims;
    if (n > t->perm_cap) {
        free(t->perm);
        free(t->scratch);
        t->perm = xmalloc(n * sizeof *t->perm);
        t->scratch = xmalloc(n * sizeof *t->scratch);
        t->perm_cap = n;
    }
    t->n = n;
    t->nnodes = 0;
    size_t root = node_add(t);
    struct sptree_node *r = &t->node[root];
    memset(r, 0, sizeof *r);
    r->child = -1;
    r->count = (uint32_t)n;
    if (n == 0) return 0;

    double lo[SPTREE_MAX_DIMS], hi[SPTREE_MAX_DIMS], ext = 0.0;
    for (int d = 0; d < dims; d++)
        lo[d] = hi[d] = y[d];
    for (size_t i = 0; i < n; i++) {
        t->perm[i] = (uint32_t)i;
        for (int d = 0; d < dims; d++) {
            double v = y[i * dims + d];
            if (v < lo[d]) lo[d] = v;
            if (v > hi[d]) hi[d] = v;
        }
    }
    for (int d = 0; d < dims; d++) {
        r->centre[d] = 0.5 * (lo[d] + hi[d]);
        if (hi[d] - lo[d] > ext) ext = hi[d] - lo[d];
    }
    /* A cube a little larger than the bounding box keeps every point strictly inside. */
    r->width = ext > 0.0 ? ext * (1.0 + 1e-9) + 1e-300 : 1.0;
    node_split(t, y, root, 0);
    return 0;
}

/* ---- Barnes-Hut traversal --------------------------------------------------- */

/* The t kernel with a degrees of freedom (Kobak et al. 2019): w = (1 + d2/a)^-a
 * for Z, wf = (1 + d2/a)^-(a+1) for the force; a = 1 is the Cauchy kernel. */
static inline void kernel(double d2, double a, double ia, double *w, double *wf)
{
    double base = 1.0 + d2 * ia;
    if (a == 1.0) {
        *w = 1.0 / base;
        *wf = *w * *w;
    } else {
        *w = pow(base, -a);
        *wf = *w / base;
    }
}

/* The traversal with an explicit stack (children pushed in reverse, so cells are
 * visited in child order, as a recursion would). Always inlined with a constant
 * dims so that the 2-D and 3-D versions are specialised by the compiler. */
static inline __attribute__((always_inline)) void bh_sum(const struct sptree *t,
                                                         const double *y, const double *yi,
                                                         size_t i, double theta2, double a,
                                                         double *f, double *z, const int dims)
{
    int32_t stack[SPTREE_MAX_DEPTH * (1 << SPTREE_MAX_DIMS) + 1];
    int sp = 0;
    double acc_f[SPTREE_MAX_DIMS] = {0}, acc_z = 0.0, ia = 1.0 / a;
    stack[sp++] = 0;
    while (sp > 0) {
        const struct sptree_node *nd = &t->node[stack[--sp]];
        if (nd->child < 0 && nd->count == 1) { /* one point: com is that point */
            if (t->perm[nd->start] == i) continue;
            double diff[SPTREE_MAX_DIMS], d2 = 0.0;
            for (int d = 0; d < dims; d++) {
                diff[d] = yi[d] - nd->com[d];
                d2 += diff[d] * diff[d];
            }
            double w, wf;
            kernel(d2, a, ia, &w, &wf);
            acc_z += w;
            for (int d = 0; d < dims; d++)
                acc_f[d] += wf * diff[d];
            continue;
        }
        if (nd->child < 0) { /* leaf: exact over its points */
            for (uint32_t s = nd->start; s < nd->start + nd->count; s++) {
                size_t j = t->perm[s];
                if (j == i) continue;
                const double *yj = y + j * dims;
                double diff[SPTREE_MAX_DIMS], d2 = 0.0;
                for (int d = 0; d < dims; d++) {
                    diff[d] = yi[d] - yj[d];
                    d2 += diff[d] * diff[d];
                }
                double w, wf;
                kernel(d2, a, ia, &w, &wf);
                acc_z += w;
                for (int d = 0; d < dims; d++)
                    acc_f[d] += wf * diff[d];
            }
            continue;
        }
        double diff[SPTREE_MAX_DIMS], d2 = 0.0;
        int inside = 1;
        for (int d = 0; d < dims; d++) {
            diff[d] = yi[d] - nd->com[d];
            d2 += diff[d] * diff[d];
            inside &= fabs(yi[d] - nd->centre[d]) <= 0.5 * nd->width;
        }
        /* Summary condition (van der Maaten 2014, eq. 6 with the cell's edge as
         * its size, as scikit-learn): width / |y_i - com| < theta, and never a
         * cell that holds y_i itself, so a point is never repelled by its own
         * mass. */
        if (!inside && nd->width * nd->width < theta2 * d2) {
            double w, wf;
            kernel(d2, a, ia, &w, &wf);
            acc_z += nd->count * w;
            for (int d = 0; d < dims; d++)
                acc_f[d] += nd->count * wf * diff[d];
            continue;
        }
        for (int c = (1 << dims) - 1; c >= 0; c--) {
            int32_t cid = nd->child + c;
            if (t->node[cid].count > 0) stack[sp++] = cid;
        }
    }
    for (int d = 0; d < dims; d++)
        f[d] = acc_f[d];
    *z = acc_z;
}

void sptree_repulsion_at(const struct sptree *t, const double *y, const double *pt,
                         size_t exclude, double theta, double dof, double *f, double *z)
{
    if (t->nnodes == 0 || t->node[0].count == 0) {
        for (int d = 0; d < t->dims; d++)
            f[d] = 0.0;
        *z = 0.0;
        return;
    }
    if (t->dims == 2)
        bh_sum(t, y, pt, exclude, theta * theta, dof, f, z, 2);
    else
        bh_sum(t, y, pt, exclude, theta * theta, dof, f, z, 3);
}

void sptree_repulsion(const struct sptree *t, const double *y, size_t i, double theta,
                      double *f, double *z)
{
    sptree_repulsion_at(t, y, y + i * t->dims, i, theta, 1.0, f, z);
}
