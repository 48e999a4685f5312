/* sptree.h - space-partitioning tree (quadtree in 2-D, octree in 3-D) for
 * Barnes-Hut t-SNE repulsion (van der Maaten 2014, "Accelerating t-SNE using
 * tree-based algorithms", JMLR 15, sec. 4.2).
 *
 * The tree is built over the current embedding every iteration; each cell keeps
 * its centre of mass and point count. A cell far enough from a point (its width
 * over the distance to its centre of mass below theta, and the point outside
 * the cell) stands in for all its points.
 *
 *     struct sptree *t = sptree_new(2);
 *     sptree_build(t, y, n);                         // y: n x 2 doubles
 *     double z_i, f[2];
 *     sptree_repulsion(t, y, i, 0.5, f, &z_i);       // per point, thread-safe
 *     sptree_free(t);
 */
#ifndef INTERP_SPTREE_H
#define INTERP_SPTREE_H

#include <stddef.h>
#include <stdint.h>

#define SPTREE_MAX_DIMS  3
#define SPTREE_MAX_DEPTH 48 /* below it, coincident or nearly so points share a leaf */

struct sptree_node {
    double centre[SPTREE_MAX_DIMS]; /* centre of the cubic cell */
    double com[SPTREE_MAX_DIMS];    /* centre of mass of its points */
    double width;                   /* edge length of the cell */
    uint32_t start, count;          /* its points: perm[start .. start+count) */
    int32_t child;                  /* first of 2^dims children, -1 for a leaf */
};

struct sptree {
    int dims;
    size_t n;                 /* points in the last build */
    struct sptree_node *node; /* node[0] is the root (owned) */
    size_t nnodes, cap;
    uint32_t *perm, *scratch; /* point order by cell (owned), n each */
    size_t perm_cap;
};

/* An empty tree for dims 2 or 3 (NULL for other dims; no error recorded: a
 * caller bug). Free with sptree_free. */
struct sptree *sptree_new(int dims);
void sptree_free(struct sptree *t); /* NULL is a no-op */

/* (Re)builds the tree over y (n x dims, row-major, finite), reusing its memory.
 * Leaves hold one point, or several when they coincide or depth reaches
 * SPTREE_MAX_DEPTH. Returns 0, or ERR_INPUT when n > UINT32_MAX / 2. */
int sptree_build(struct sptree *t, const double *y, size_t n);

/* Barnes-Hut repulsion on point i (y as given to the build):
 *   f[d] = sum_{j != i} w_ij^2 (y_i - y_j)[d],  *z = sum_{j != i} w_ij,
 * w_ij = 1 / (1 + |y_i - y_j|^2), a far cell counted as its point count at its
 * centre of mass. theta 0 gives the exact sums. Reads the tree only, so many
 * threads may call it at once. */
void sptree_repulsion(const struct sptree *t, const double *y, size_t i, double theta,
                      double *f, double *z);

/* The same sums at any point pt (dims doubles) with the t kernel of dof
 * degrees of freedom: f[d] = sum_j (1 + d2/a)^-(a+1) (pt - y_j)[d], *z = sum_j
 * (1 + d2/a)^-a over the tree's points j != exclude (SIZE_MAX: none excluded).
 * Thread-safe like sptree_repulsion. */
void sptree_repulsion_at(const struct sptree *t, const double *y, const double *pt,
                         size_t exclude, double theta, double dof, double *f, double *z);

#endif
