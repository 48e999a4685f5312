/* conv_wino.h - 3x3 stride-1 convolution by Winograd's minimal filtering
 * F(2x2, 3x3) (Lavin & Gray 2016): each 2x2 block of outputs costs 16
 * multiplies per input/output channel pair instead of 36. op_conv.c picks it
 * for the conv plans it allows (conv_wino_usable):
 *
 *     float *u = xmalloc(sizeof(float) * conv_wino_weight_floats(p, isa));
 *     conv_wino_weights(p, isa, weight, u);                    // once per model
 *     struct wino_geom g;
 *     conv_wino_geom(&g, p, pool, isa, rows);                 // rows: tile rows per band
 *     float *scratch = xmalloc(sizeof(float) * conv_wino_scratch_floats(&g));
 *     conv_wino_band(out_b, inp_b, u, bias, &g, ty0, ty1, scratch);   // one image
 *
 * The output is the conv's (bias added, ReLU when p->relu) or, with a pool
 * (a 2x2 stride-2 max-pool that conv_pool_fusable accepts), the pooled map:
 * a Winograd tile is a pooling window, so the conv output is never stored.
 * AVX2 + FMA and AVX-512 only (conv_isa); results equal the direct
 * convolution up to float rounding (the transforms add and halve).
 */
#ifndef INTERP_CONV_WINO_H
#define INTERP_CONV_WINO_H

#include <stddef.h>
#include <stdint.h>

#include "conv_direct.h"

struct conv_params;
struct pool_params;

/* The band geometry of one conv (and its fused pool) for one ISA. */
struct wino_geom {
    int isa;          /* enum conv_isa: AVX2 or AVX-512 */
    int c, m, mpad;   /* input and output channels; m rounded up to the kernel's block */
    int h, w, pt, pl; /* input size and the top/left padding */
    int oh, ow;       /* conv output size */
    int pool, relu;   /* pooled output (pool_params oh x ow), ReLU */
    int poh, pow;     /* pooled output size when pool */
    int nty, ntx;     /* 2x2 tiles computed (pooled: poh x pow) */
    int lanes;        /* ntx rounded up to 16 (what a tile row's vectors reach) */
    int rows;         /* tile rows per band */
    size_t rs;        /* floats per padded half-row (even or odd columns) */
};

/* 1 when p is a 3x3, stride 1, dilation 1, ungrouped conv with at least 4
 * input channels and isa is AVX2 or AVX-512 (the CPU must have it). */
int conv_wino_usable(const struct conv_params *p, enum conv_isa isa);

/* Floats of the transformed weights: 16 x mpad x C. */
size_t conv_wino_weight_floats(const struct conv_params *p, enum conv_isa isa);
/* u = G g G^T of every filter (weight M x C x 3 x 3 as stored), in the
 * kernel's layout (16 x mpad/block x C x block; channels past M zero). */
void conv_wino_weights(const struct conv_params *p, enum conv_isa isa, const float *weight,
                       float *u);

/* Fills g for conv p, fused with pool q (NULL: none), rows tile rows per
 * band (clamped to 1 .. nty; 0 picks the size that keeps a band's buffers
 * within about 256 KB). */
void conv_wino_geom(struct wino_geom *g, const struct conv_params *p,
                    const struct pool_params *q, enum conv_isa isa, int rows);
/* Scratch floats of one band (padded input, transformed input, products). */
size_t conv_wino_scratch_floats(const struct wino_geom *g);

/* Tile rows [ty0, ty1) of one image: inp_b C x H x W; out_b M x OH x OW
 * (or M x POH x POW pooled), only the band's rows written; u from
 * conv_wino_weights; bias M or NULL. */
void conv_wino_band(float *out_b, const float *inp_b, const float *u, const float *bias,
                    const struct wino_geom *g, int ty0, int ty1, float *scratch);
/* conv_wino_band with two more: am_b (pooled geometries; may be NULL) gets
 * each pooled output's argmax in the conv map, as maxpool_forward gives it
 * over the ReLU'd map; with src (inp_b then unused) the input is item b of
 * what src computes row by row. */
struct conv_src;
void conv_wino_band_ex(float *out_b, int32_t *am_b, const float *inp_b,
                       const struct conv_src *src, int b, const float *u, const float *bias,
                       const struct wino_geom *g, int ty0, int ty1, float *scratch);

#endif
