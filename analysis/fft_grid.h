/* fft_grid.h - t-SNE repulsion by polynomial interpolation on an equispaced
 * grid and FFT convolution (FIt-SNE: Linderman, Rachh, Hoskins, Steinerberger
 * & Kluger, "Fast interpolation-based t-SNE ...", Nature Methods 16, 2019).
 *
 * The embedding's bounding cube is cut into B boxes per dimension with p
 * Lagrange nodes per box (at (k + 1/2) / p of the box). Each point's charges
 * are spread onto the nodes of its box with the Lagrange weights, the node
 * potentials are a discrete convolution with the kernel (a circulant of twice
 * the node count per dimension, done with FFTW single precision r2c/c2r), and
 * the potentials are interpolated back to the points with the same weights.
 * Two kernels with degrees of freedom a (Kobak et al. 2019, heavy tails):
 *     K1(d2) = (1 + d2/a)^-a         (Z = sum_{i != j} K1)
 *     K2(d2) = (1 + d2/a)^-(a+1)     (force: sum_j K2 (y_i - y_j) = y_i phi_1 - phi_y)
 * with charges 1, y_1..y_dims (centred on the grid) under K2; Z needs no
 * potentials at all: summed over the points it is the charge grid's inner
 * product with its K1 convolution, which Parseval gives from the charge
 * transform and the kernel's (sum_f K1hat_f |q0hat_f|^2).
 * (Interpolating the force kernels K2 * delta directly avoids the difference
 * but was measured 1.5-2x less accurate at the same grid, so it is not done.)
 *
 * Large 2-D maps split the kernels (as particle-mesh methods split Coulomb's):
 * K = K_s + K_n, where K_s equals K beyond R = 3 map units and is K's tangent
 * in d2 inside, a low smooth bump; the grid carries K_s only, in boxes R wide
 * (3 nodes each, spacing 1 unit instead of FIt-SNE's ~1/3), and K_n = K - K_s,
 * zero from R on, is summed directly over the pairs closer than R, found in
 * each box and its neighbours. A spread map has few such pairs (~70 a point on
 * the final Fashion-MNIST 70k map), so the grid shrinks ~6x in nodes and the
 * forces get more accurate: on that map 2.1e-2 (L2, against the exact sums)
 * with a 486^2 circulant, against 4.9e-2 for FIt-SNE's grid of 1200^2.
 * Compact maps (early exaggeration) have many close pairs and keep the plain
 * grid: by default the split is taken from 100 units across when the near
 * pairs, counted from the boxes, and the smaller circulant are estimated to
 * cost less than the plain circulant (params.split).
 *
 *     struct fft_grid_params gp = fft_grid_params_default(2);
 *     struct fft_grid *g = fft_grid_new(2, &gp);
 *     fft_grid_repulsion(g, y, n, rep, &z);   // y: n x 2 doubles; rep: n x 2
 *     fft_grid_free(g);
 *
 * Work per call, 2-D: the charge grids are zero beyond their nn x nn nodes of
 * the m x m circulant (m = 2 nn), so the forward transforms run the r2c pass on
 * those nn rows only and the inverse transforms bring back only those rows
 * (3 forward, 3 inverse, each ~3/4 of a full 2-D transform); the kernels,
 * even, have real transforms, made as the DCT-I of one (m/2 + 1)^2 quadrant
 * (~1/4 of a transform each). Measured on the final 70,000-point Fashion-MNIST
 * map (200 boxes, m = 1200), one thread: 113-119 ms a call against 193-208 ms
 * with two full-grid kernel transforms and full-grid passes; Z by Parseval
 * instead of a fourth inverse transform: best of 25 calls 60.5 against
 * 68.5 ms (a later session, on a machine with ~50% steal time).
 *
 * Repeatability: FFTW plans are made with FFTW_ESTIMATE (FFTW_MEASURE may pick
 * different algorithms from run to run, which would change the rounding), the
 * passes are cut into fixed chunks of rows and columns, the spreading and the
 * interpolation run box by box with each box's points in index order, Z is
 * summed over fixed chunks of the spectrum, then serially, and the near pairs
 * row of boxes by row in a fixed order, so results do not depend on the
 * thread count.
 */
#ifndef INTERP_FFT_GRID_H
#define INTERP_FFT_GRID_H

#include <stddef.h>

struct fft_grid_params {
    int nodes;        /* Lagrange nodes per box per dimension, 2 to 8; 0 (default):
                         by the box count, 300 / boxes within 3 to 6 in 1-D and 2-D
                         (3 in 3-D), and by the points (n nodes^2 <= 2^20), so maps up
                         to 50 boxes of up to ~29,000 points get 6 (force error
                         < 1e-3, measured in tests/test_tsne_fft.c) and maps of 100
                         boxes and more FIt-SNE's 3 (~3% (L2) at box width 1, 5% on
                         the final 70k map) or, in 2-D, the split kernel */
    int min_boxes;    /* boxes per dimension at least: 50 in 2-D (FIt-SNE), 12 in 3-D */
    int max_boxes;    /* and at most: 200 in 2-D, 24 in 3-D (memory: 13 buffers of
                         (2 p B)^dims floats; beyond, boxes get wider than box_width,
                         and less accurate: 3-D maps wider than 24 units lose accuracy) */
    double box_width; /* boxes at most this wide in map units: 1 (FIt-SNE's
                         intervals_per_integer = 1) */
    int split;        /* -1 (default): split the kernel into a smooth part on a coarse
                         grid and a near part summed directly (fft_grid.c, split_line)
                         in 2-D with the automatic node count on maps from 100 box
                         widths across where the estimated work is less than the
                         plain grid's (split_costlier); 0: never (FIt-SNE's grid);
                         1: always (2-D) */
    double dof;       /* degrees of freedom a of the kernel: 1 = Cauchy (standard t-SNE) */
    int threads;      /* OpenMP threads, 0 = the OpenMP default */
};
struct fft_grid_params fft_grid_params_default(int dims);

struct fft_grid;

/* A grid for dims 1, 2 or 3 (NULL + ERR_INPUT for other dims or bad params).
 * Buffers and FFTW plans are made on first use and kept: plans are cached by
 * grid size (made under a process-wide lock, since FFTW's planner is not
 * thread-safe), buffers grow to the largest grid seen. Free with fft_grid_free. */
struct fft_grid *fft_grid_new(int dims, const struct fft_grid_params *p);
void fft_grid_free(struct fft_grid *g); /* NULL is a no-op */

/* For y (n x dims doubles, finite): rep (n x dims) receives
 * sum_{j != i} K2_ij (y_i - y_j) and *z the sum over i != j of K1_ij, both
 * interpolated. Returns 0, or ERR_FAIL when the grid buffers cannot be had. */
int fft_grid_repulsion(struct fft_grid *g, const double *y, size_t n, double *rep, double *z);

/* The number of boxes per dimension the last call used (0 before any), and
 * its Lagrange nodes per box. */
int fft_grid_boxes(const struct fft_grid *g);
int fft_grid_nodes(const struct fft_grid *g);
/* Whether the last call split the kernel (params.split). */
int fft_grid_split(const struct fft_grid *g);

#endif
