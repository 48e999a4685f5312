/* conv_direct.h - direct stride-1 convolution without im2col, for the
 * forward (op_conv.c picks it when conv_direct_usable says so):
 *
 *     if (conv_direct_usable(p, conv_isa_default())) {
 *         size_t ld = conv_direct_ld(p, rows);      // channel stride of blk
 *         conv_direct_rows(blk, ld, inp_b, weight, bias, p, oy0, oy0 + rows, pad);
 *         // conv row oy0 + r, column x of channel m: blk[m * ld + r * conv_direct_row(p) + x]
 *     }
 *
 * Scratch (pad, blk) is the caller's: conv_direct_pad_floats + M x ld floats.
 */
#ifndef INTERP_CONV_DIRECT_H
#define INTERP_CONV_DIRECT_H

#include <stddef.h>
#include <stdint.h>

struct conv_params;
struct pool_params;

/* ---- which vector code the convolutions run ---- */
/* PORTABLE: im2col + sgemm only; AVX2: AVX2 + FMA kernels (in the
 * WebAssembly build: its SIMD128 direct kernel); AVX512: AVX-512F kernels
 * (the AVX2 ones where they have none). Each level includes the ones below
 * it. */
enum conv_isa { CONV_ISA_PORTABLE, CONV_ISA_AVX2, CONV_ISA_AVX512 };
/* The best level this CPU (and its OS) runs. */
enum conv_isa conv_isa_best(void);
/* The level new conv plans use: conv_isa_best(), or lower when the
 * environment variable INTERP_CONV_ISA (portable, avx2, avx512; read once, at
 * the first call) or conv_isa_set asks for it. A level above the best is
 * never used. */
enum conv_isa conv_isa_default(void);
/* For tests and benchmarks: makes isa the default (before plans are made).
 * 0, or -1 (unchanged) when the CPU lacks it. */
int conv_isa_set(enum conv_isa isa);
/* "portable", "avx2", "avx512". */
const char *conv_isa_name(enum conv_isa isa);
/* Parses one of those names into *isa: 0, or -1 for anything else. */
int conv_isa_parse(const char *s, enum conv_isa *isa);

/* 1 when conv_direct_rows computes p at level isa: group 1, stride 1, at
 * most 64 kernel taps, shapes consistent with the pads, and isa AVX2 or
 * above (within conv_isa_best(); the portable level keeps im2col + sgemm). */
int conv_direct_usable(const struct conv_params *p, enum conv_isa isa);
/* The block's row stride: the padded input width W + pl + pr (the columns
 * past OW in each block row are scratch values, never read as output). */
int conv_direct_row(const struct conv_params *p);
/* The block's channel stride for `rows` output rows: rows x row, rounded up
 * to the kernel's 24 columns. */
size_t conv_direct_ld(const struct conv_params *p, int rows);
/* Floats of the zero-padded input tile conv_direct_rows uses for `rows`
 * output rows. */
size_t conv_direct_pad_floats(const struct conv_params *p, int rows);
/* Conv output rows [oy0, oy1) of one image, bias added, no activation:
 * inp_b C x H x W, weight M x C x KH x KW (as stored), bias M or NULL;
 * blk M x ld (ld = conv_direct_ld(p, oy1 - oy0)), see above; pad scratch of
 * conv_direct_pad_floats(p, oy1 - oy0) floats. */
void conv_direct_rows(float *blk, size_t ld, const float *inp_b, const float *weight,
                      const float *bias, const struct conv_params *p, int oy0, int oy1,
                      float *pad);
/* As conv_direct_rows over item b of an input src computes row by row. */
struct conv_src;
void conv_direct_rows_src(float *blk, size_t ld, const struct conv_src *src, int b,
                          const float *weight, const float *bias, const struct conv_params *p,
                          int oy0, int oy1, float *pad);

/* ReLU and 2x2 stride-2 max-pool of a block (m channels at stride ld, conv
 * rows [oy0, oy1) at stride row, bias in) into the pooled image out_b
 * (m x q->oh x q->ow), as op_conv.c's scalar epilogue computes it; at
 * level AVX2 and above only (x86 AVX2, or WebAssembly SIMD): returns 0,
 * doing nothing, below. */
int conv_direct_pool(float *out_b, const float *blk, int m, size_t ld, int row, int oy0,
                     int oy1, const struct pool_params *q, enum conv_isa isa);
/* As conv_direct_pool, and each window's argmax into am_b (m x q->oh x q->ow:
 * y * q->w + x in the conv map, the first maximum of the ReLU'd window in
 * row-major order, as maxpool_forward gives it); 0: not at this level. */
int conv_direct_pool_argmax(float *out_b, int32_t *am_b, const float *blk, int m, size_t ld,
                            int row, int oy0, int oy1, const struct pool_params *q,
                            enum conv_isa isa);

/* The ReLU'd maximum of the 2x2 block at columns 2x, 2x+1 of rows r0, r1 (a
 * NaN yields 0, as relu does): the scalar step of the fused pool epilogues. */
static inline float conv_relu_max2x2(const float *r0, const float *r1, int x)
{
    float v = 0.0f;
    v = r0[2 * x] > v ? r0[2 * x] : v;
    v = r0[2 * x + 1] > v ? r0[2 * x + 1] : v;
    v = r1[2 * x] > v ? r1[2 * x] : v;
    v = r1[2 * x + 1] > v ? r1[2 * x + 1] : v;
    return v;
}

/* As conv_relu_max2x2, with the index k (row k >> 1, column k & 1) of the
 * window's first maximum by maxpool_forward's comparisons. */
static inline float conv_relu_argmax2x2(const float *r0, const float *r1, int x, int *k)
{
    float v0 = r0[2 * x] > 0.0f ? r0[2 * x] : 0.0f;
    float v1 = r0[2 * x + 1] > 0.0f ? r0[2 * x + 1] : 0.0f;
    float v2 = r1[2 * x] > 0.0f ? r1[2 * x] : 0.0f;
    float v3 = r1[2 * x + 1] > 0.0f ? r1[2 * x + 1] : 0.0f;
    int k01 = v1 > v0, k23 = 2 + (v3 > v2);
    float b01 = k01 ? v1 : v0, b23 = k23 == 3 ? v3 : v2;
    *k = b23 > b01 ? k23 : k01;
    return b23 > b01 ? b23 : b01;
}

#endif
