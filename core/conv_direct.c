/* conv_direct.c - stride-1 convolution computed directly from a zero-padded
 * copy of the input rows: no im2col, no sgemm packing. A register block of 4
 * output channels x 24 columns (12 AVX2 accumulators) sums over every input
 * channel and kernel tap; each input vector serves 4 channels, each weight
 * 24 columns. The block's columns run over the padded rows as one flat
 * range, so a tap is a fixed offset and a block may straddle two rows (the
 * columns past OW are computed and never read). x86-64 with AVX2 and FMA,
 * checked at run time, or WebAssembly SIMD in the browser build (a 4 x 8
 * block: V8 maps wasm's v128 values onto 16 SSE registers); op_conv.c keeps
 * im2col + sgemm for everything else.
 */
#include "conv_direct.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "util.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define CONV_DIRECT_X86 1
#include "pool2x2_avx2.h"
#elif defined(__wasm_simd128__)
#define CONV_DIRECT_WASM 1
#include <wasm_simd128.h>
#endif

enum { DIRECT_MB = 4, DIRECT_XB = 24, DIRECT_MAX_TAPS = 64, PAD_AHEAD = 4 };

int conv_direct_row(const struct conv_params *p)
{
    return p->w + p->pl + p->pr;
}

size_t conv_direct_ld(const struct conv_params *p, int rows)
{
    size_t n = (size_t)rows * (size_t)conv_direct_row(p);
    return (n + DIRECT_XB - 1) / DIRECT_XB * DIRECT_XB;
}

/* C planes of (rows + (KH-1)*DH) padded rows, then the slack the last
 * plane's final block reads past its end: ld - rows*row + (KW-1)*DW. */
size_t conv_direct_pad_floats(const struct conv_params *p, int rows)
{
    size_t row = (size_t)conv_direct_row(p);
    size_t plane = (size_t)(rows + (p->kh - 1) * p->dh) * row;
    return (size_t)p->c * plane + (conv_direct_ld(p, rows) - (size_t)rows * row) +
           (size_t)(p->kw - 1) * p->dw;
}

/* ---------------------------------------------------------------- ISA */
enum conv_isa conv_isa_best(void)
{
#ifdef CONV_DIRECT_X86
    /* libgcc's checks include the OS's XSAVE support for the registers */
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return CONV_ISA_PORTABLE;
    return __builtin_cpu_supports("avx512f") ? CONV_ISA_AVX512 : CONV_ISA_AVX2;
#elif defined(CONV_DIRECT_WASM)
    return CONV_ISA_AVX2; /* the SIMD kernels' level: -msimd128 at build time */
#else
    return CONV_ISA_PORTABLE;
#endif
}

static const char *const isa_names[] = {"portable", "avx2", "avx512"};

const char *conv_isa_name(enum conv_isa isa)
{
    return isa >= CONV_ISA_PORTABLE && isa <= CONV_ISA_AVX512 ? isa_names[isa] : "?";
}

int conv_isa_parse(const char *s, enum conv_isa *isa)
{
    for (int i = 0; i <= CONV_ISA_AVX512; i++)
        if (s && !strcmp(s, isa_names[i])) return *isa = (enum conv_isa)i, 0;
    return -1;
}

static atomic_int isa_chosen = -1; /* -1: not decided yet */

enum conv_isa conv_isa_default(void)
{
    int v = atomic_load(&isa_chosen);
    if (v >= 0) return (enum conv_isa)v;
    enum conv_isa best = conv_isa_best(), want;
    const char *e = getenv("INTERP_CONV_ISA");
    if (e && !conv_isa_parse(e, &want) && want < best) best = want;
    int expect = -1;
    atomic_compare_exchange_strong(&isa_chosen, &expect, (int)best);
    return (enum conv_isa)atomic_load(&isa_chosen);
}

int conv_isa_set(enum conv_isa isa)
{
    if (isa < CONV_ISA_PORTABLE || isa > conv_isa_best()) return -1;
    atomic_store(&isa_chosen, (int)isa);
    return 0;
}

int conv_direct_usable(const struct conv_params *p, enum conv_isa isa)
{
    /* the padded width and height must be exactly what the output needs:
     * the flat column range relies on ow + (KW-1)*DW = W + pl + pr */
    return p->group == 1 && p->sh == 1 && p->sw == 1 && p->kh >= 1 && p->kw >= 1 &&
           p->kh <= DIRECT_MAX_TAPS && p->kw <= DIRECT_MAX_TAPS &&
           p->kh * p->kw <= DIRECT_MAX_TAPS && p->dh >= 1 && p->dw >= 1 && p->c >= 1 &&
           p->m >= 1 && p->ow + (p->kw - 1) * p->dw == conv_direct_row(p) &&
           p->oh + (p->kh - 1) * p->dh == p->h + p->pt + p->pb && isa >= CONV_ISA_AVX2 &&
           isa <= conv_isa_best();
}

static void prefetch_run(const float *r, size_t n)
{
    for (size_t i = 0; i < n; i += 16) /* one 64-byte line */
        __builtin_prefetch(r + i);
}

/* The padded tile: padded row j of channel c is input row oy0 - pt + j
 * (zeros outside the image), pl zeros, the W values, pr zeros. Rows are
 * short (W floats), so plain loops: memcpy/memset calls per row and per
 * border cost more than the copying. */
#ifdef CONV_DIRECT_X86
__attribute__((target("avx2")))
#endif
static void
pad_rows(float *pad, const float *inp_b, const struct conv_src *cs, int b,
         const struct conv_params *p, int oy0, int rows)
{
    int row = conv_direct_row(p), rin = rows + (p->kh - 1) * p->dh, w = p->w;
    size_t plane = (size_t)rin * row;
    /* the rows a channel needs are one run of input; runs are whole planes
     * apart, too short for the hardware prefetcher: fetch a few ahead */
    int y0 = oy0 - p->pt < 0 ? 0 : oy0 - p->pt, y1 = oy0 - p->pt + rin;
    if (y1 > p->h) y1 = p->h;
    size_t run = y1 > y0 && !cs ? (size_t)(y1 - y0) * w : 0;
    const float *first = run ? inp_b + (size_t)y0 * w : inp_b;
    for (int c = 0; c < PAD_AHEAD && c < p->c; c++)
        prefetch_run(first + (size_t)c * p->h * w, run);
    for (int c = 0; c < p->c; c++) {
        const float *src = cs ? NULL : inp_b + (size_t)c * p->h * p->w;
        if (c + PAD_AHEAD < p->c) prefetch_run(first + (size_t)(c + PAD_AHEAD) * p->h * w, run);
        for (int j = 0; j < rin; j++) {
            float *d = pad + (size_t)c * plane + (size_t)j * row;
            int y = oy0 - p->pt + j;
            if (y < 0 || y >= p->h) {
                for (int x = 0; x < row; x++)
                    d[x] = 0.0f;
                continue;
            }
            for (int x = 0; x < p->pl; x++)
                d[x] = 0.0f;
            d += p->pl;
            int x = 0;
            if (cs) { /* computed in place */
                cs->row(cs, b, c, y, d);
                for (x = w; x < w + p->pr; x++)
                    d[x] = 0.0f;
                continue;
            }
            const float *s = src + (size_t)y * w;
#ifdef CONV_DIRECT_X86
            for (; x + 8 <= w; x += 8)
                _mm256_storeu_ps(d + x, _mm256_loadu_ps(s + x));
#endif
            for (; x < w; x++)
                d[x] = s[x];
            for (x = w; x < w + p->pr; x++)
                d[x] = 0.0f;
        }
    }
    size_t used = (size_t)p->c * plane, total = conv_direct_pad_floats(p, rows);
    for (size_t i = used; i < total; i++)
        pad[i] = 0.0f;
}

#ifdef CONV_DIRECT_X86
/* One tap for the 4 x 24 block: three input vectors from src, the four
 * channels' weights at index k of w0..w3 (DIRECT_STEP3: the first three, for
 * a block of 3 channels). */
#define DIRECT_LOAD(src)                                                                       \
    const float *s_ = (src);                                                                   \
    __m256 x0 = _mm256_loadu_ps(s_), x1 = _mm256_loadu_ps(s_ + 8), x2 = _mm256_loadu_ps(s_ + 16)
#define DIRECT_FMA(w, k, a0, a1, a2)                                                           \
    do {                                                                                       \
        __m256 b_ = _mm256_broadcast_ss((w) + (k));                                            \
        a0 = _mm256_fmadd_ps(b_, x0, a0), a1 = _mm256_fmadd_ps(b_, x1, a1);                    \
        a2 = _mm256_fmadd_ps(b_, x2, a2);                                                      \
    } while (0)
#define DIRECT_STEP3(src, k)                                                                   \
    do {                                                                                       \
        DIRECT_LOAD(src);                                                                      \
        DIRECT_FMA(w0, k, a00, a01, a02);                                                      \
        DIRECT_FMA(w1, k, a10, a11, a12);                                                      \
        DIRECT_FMA(w2, k, a20, a21, a22);                                                      \
    } while (0)
#define DIRECT_STEP(src, k)                                                                    \
    do {                                                                                       \
        DIRECT_LOAD(src);                                                                      \
        DIRECT_FMA(w0, k, a00, a01, a02);                                                      \
        DIRECT_FMA(w1, k, a10, a11, a12);                                                      \
        DIRECT_FMA(w2, k, a20, a21, a22);                                                      \
        DIRECT_FMA(w3, k, a30, a31, a32);                                                      \
    } while (0)

/* Every input channel and tap of the block at column x through STEP, the
 * weights w0..w3 moving on by channel (3x3 unrolled). */
#define DIRECT_TAPS(STEP)                                                                      \
    do {                                                                                       \
        const float *s = pad + x;                                                              \
        if (k3) {                                                                              \
            for (int c = 0; c < C; c++, s += plane, w0 += 9, w1 += 9, w2 += 9, w3 += 9) {      \
                const float *r1 = s + row, *r2 = r1 + row;                                     \
                STEP(s, 0);                                                                    \
                STEP(s + 1, 1);                                                                \
                STEP(s + 2, 2);                                                                \
                STEP(r1, 3);                                                                   \
                STEP(r1 + 1, 4);                                                               \
                STEP(r1 + 2, 5);                                                               \
                STEP(r2, 6);                                                                   \
                STEP(r2 + 1, 7);                                                               \
                STEP(r2 + 2, 8);                                                               \
            }                                                                                  \
        } else {                                                                               \
            for (int c = 0; c < C;                                                             \
                 c++, s += plane, w0 += taps, w1 += taps, w2 += taps, w3 += taps)              \
                for (int k = 0; k < taps; k++)                                                 \
                    STEP(s + off[k], k);                                                       \
        }                                                                                      \
    } while (0)

/* Channels m0 .. m0+2 of the block at column x: direct_avx2's sums, in the
 * same order, for 3 channels (an RGB input's gradient, whose 4-channel block
 * computed a fourth channel for nothing). */
__attribute__((target("avx2,fma"))) static void
direct3_avx2(float *blk, size_t ld, const float *pad, size_t plane, const float *weight,
             const float *bias, const struct conv_params *p, int m0, size_t x, const int *off)
{
    int C = p->c, taps = p->kh * p->kw, row = conv_direct_row(p);
    int k3 = p->kh == 3 && p->kw == 3 && p->dh == 1 && p->dw == 1;
    size_t K = (size_t)C * taps;
    const float *w0 = weight + (size_t)m0 * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2;
    __m256 a00, a01, a02, a10, a11, a12, a20, a21, a22;
    a00 = a01 = a02 = _mm256_set1_ps(bias ? bias[m0] : 0.0f);
    a10 = a11 = a12 = _mm256_set1_ps(bias ? bias[m0 + 1] : 0.0f);
    a20 = a21 = a22 = _mm256_set1_ps(bias ? bias[m0 + 2] : 0.0f);
    DIRECT_TAPS(DIRECT_STEP3);
    (void)w3;
    float *o = blk + x;
    _mm256_storeu_ps(o + (m0 + 2) * ld, a20), _mm256_storeu_ps(o + (m0 + 2) * ld + 8, a21);
    _mm256_storeu_ps(o + (m0 + 2) * ld + 16, a22);
    _mm256_storeu_ps(o + (m0 + 1) * ld, a10), _mm256_storeu_ps(o + (m0 + 1) * ld + 8, a11);
    _mm256_storeu_ps(o + (m0 + 1) * ld + 16, a12);
    _mm256_storeu_ps(o + m0 * ld, a00), _mm256_storeu_ps(o + m0 * ld + 8, a01);
    _mm256_storeu_ps(o + m0 * ld + 16, a02);
}

/* blk (M x ld) = weight * taps of pad + bias, block by block: columns outer
 * so that the input slice of a block stays in L1 while every channel block
 * passes over it (the weights stream from L2). A channel block that runs
 * past M repeats its last channel. */
__attribute__((target("avx2,fma"))) static void
direct_avx2(float *blk, size_t ld, const float *pad, size_t plane, const float *weight,
            const float *bias, const struct conv_params *p)
{
    int C = p->c, M = p->m, taps = p->kh * p->kw, row = conv_direct_row(p);
    size_t K = (size_t)C * taps;
    int off[DIRECT_MAX_TAPS];
    for (int i = 0; i < p->kh; i++)
        for (int j = 0; j < p->kw; j++)
            off[i * p->kw + j] = i * p->dh * row + j * p->dw;
    int k3 = p->kh == 3 && p->kw == 3 && p->dh == 1 && p->dw == 1;
    for (size_t x = 0; x < ld; x += DIRECT_XB)
        for (int m0 = 0; m0 < M; m0 += DIRECT_MB) {
            int mv = M - m0 < DIRECT_MB ? M - m0 : DIRECT_MB;
            if (mv == 3) {
                direct3_avx2(blk, ld, pad, plane, weight, bias, p, m0, x, off);
                continue;
            }
            /* channels past M repeat the last one: same weights, same sums,
             * stored to the same row */
            int i1 = m0 + (mv > 1), i2 = m0 + (mv > 2 ? 2 : mv - 1), i3 = m0 + mv - 1;
            const float *w0 = weight + (size_t)m0 * K, *w1 = weight + (size_t)i1 * K;
            const float *w2 = weight + (size_t)i2 * K, *w3 = weight + (size_t)i3 * K;
            __m256 a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32;
            a00 = a01 = a02 = _mm256_set1_ps(bias ? bias[m0] : 0.0f);
            a10 = a11 = a12 = _mm256_set1_ps(bias ? bias[i1] : 0.0f);
            a20 = a21 = a22 = _mm256_set1_ps(bias ? bias[i2] : 0.0f);
            a30 = a31 = a32 = _mm256_set1_ps(bias ? bias[i3] : 0.0f);
            DIRECT_TAPS(DIRECT_STEP);
            float *o = blk + x;
            _mm256_storeu_ps(o + i3 * ld, a30), _mm256_storeu_ps(o + i3 * ld + 8, a31);
            _mm256_storeu_ps(o + i3 * ld + 16, a32);
            _mm256_storeu_ps(o + i2 * ld, a20), _mm256_storeu_ps(o + i2 * ld + 8, a21);
            _mm256_storeu_ps(o + i2 * ld + 16, a22);
            _mm256_storeu_ps(o + i1 * ld, a10), _mm256_storeu_ps(o + i1 * ld + 8, a11);
            _mm256_storeu_ps(o + i1 * ld + 16, a12);
            _mm256_storeu_ps(o + m0 * ld, a00), _mm256_storeu_ps(o + m0 * ld + 8, a01);
            _mm256_storeu_ps(o + m0 * ld + 16, a02);
        }
}

/* relu(max) of 2x2 windows, 8 outputs at a time: rows max'd first, each
 * starting from 0 with 0 the second operand of max_ps (so a NaN never wins,
 * as in the scalar epilogue), then the even and odd columns paired by a
 * shuffle (lanes come out as 0 1 4 5 2 3 6 7, put in order by a permute). */
__attribute__((target("avx2"))) static void pool_avx2(float *out_b, const float *blk, int m,
                                                      size_t ld, int row, int oy0, int oy1,
                                                      const struct pool_params *q)
{
    size_t out_plane = (size_t)q->oh * q->ow;
    int pw = q->ow, pv = pw & ~7;
    __m256 zero = _mm256_setzero_ps();
    /* the tile's pooled rows of a channel are one run of the output: as for
     * the input in pad_rows, fetch a few channels ahead (stores that miss
     * wait for their line just as loads do) */
    int py0 = oy0 / 2, py1 = (oy1 / 2 < q->oh ? oy1 / 2 : q->oh);
    size_t run = py1 > py0 ? (size_t)(py1 - py0) * pw : 0;
    float *first = out_b + (size_t)py0 * pw;
    for (int c = 0; c < PAD_AHEAD && c < m; c++)
        prefetch_run(first + (size_t)c * out_plane, run);
    for (int c = 0; c < m; c++) {
        const float *src = blk + (size_t)c * ld;
        float *dst = out_b + (size_t)c * out_plane;
        if (c + PAD_AHEAD < m) prefetch_run(first + (size_t)(c + PAD_AHEAD) * out_plane, run);
        for (int y = oy0; y + 1 < oy1 && y / 2 < q->oh; y += 2) {
            const float *r0 = src + (size_t)(y - oy0) * row, *r1 = r0 + row;
            float *d = dst + (size_t)(y / 2) * pw;
            for (int x = 0; x < pv; x += 8) {
                __m256 m0 = _mm256_max_ps(_mm256_loadu_ps(r0 + 2 * x), zero);
                __m256 m1 = _mm256_max_ps(_mm256_loadu_ps(r0 + 2 * x + 8), zero);
                m0 = _mm256_max_ps(_mm256_loadu_ps(r1 + 2 * x), m0);
                m1 = _mm256_max_ps(_mm256_loadu_ps(r1 + 2 * x + 8), m1);
                __m256 v = _mm256_max_ps(_mm256_shuffle_ps(m0, m1, _MM_SHUFFLE(2, 0, 2, 0)),
                                         _mm256_shuffle_ps(m0, m1, _MM_SHUFFLE(3, 1, 3, 1)));
                v = _mm256_castpd_ps(
                    _mm256_permute4x64_pd(_mm256_castps_pd(v), _MM_SHUFFLE(3, 1, 2, 0)));
                _mm256_storeu_ps(d + x, v);
            }
            for (int x = pv; x < pw; x++) {
                d[x] = conv_relu_max2x2(r0, r1, x);
            }
        }
    }
}
#endif

#ifdef CONV_DIRECT_X86
/* pool_avx2 with the argmax: each window ReLU'd (max with 0 second: a NaN
 * becomes 0), then conv_relu_argmax2x2's comparisons, 8 windows at a time. */
__attribute__((target("avx2"))) static void pool_argmax_avx2(float *out_b, int32_t *am_b,
                                                             const float *blk, int m, size_t ld,
                                                             int row, int oy0, int oy1,
                                                             const struct pool_params *q)
{
    size_t out_plane = (size_t)q->oh * q->ow;
    int pw = q->ow, pv = pw & ~7, W = q->w;
    __m256 zero = _mm256_setzero_ps();
    for (int c = 0; c < m; c++) {
        const float *src = blk + (size_t)c * ld;
        float *dst = out_b + (size_t)c * out_plane;
        int32_t *amc = am_b + (size_t)c * out_plane;
        for (int y = oy0; y + 1 < oy1 && y / 2 < q->oh; y += 2) {
            const float *r0 = src + (size_t)(y - oy0) * row, *r1 = r0 + row;
            float *d = dst + (size_t)(y / 2) * pw;
            int32_t *a = amc + (size_t)(y / 2) * pw;
            for (int x = 0; x < pv; x += 8) {
                __m256 l0 = _mm256_loadu_ps(r0 + 2 * x), l1 = _mm256_loadu_ps(r0 + 2 * x + 8);
                __m256 u0 = _mm256_loadu_ps(r1 + 2 * x), u1 = _mm256_loadu_ps(r1 + 2 * x + 8);
                __m256 v0, v1, v2, v3;
                POOL2X2_DEINT(l0, l1, v0, v1);
                POOL2X2_DEINT(u0, u1, v2, v3);
                v0 = _mm256_max_ps(v0, zero), v1 = _mm256_max_ps(v1, zero);
                v2 = _mm256_max_ps(v2, zero), v3 = _mm256_max_ps(v3, zero);
                pool2x2_first8(d + x, a + x, v0, v1, v2, v3, y * W + 2 * x, W);
            }
            for (int x = pv; x < pw; x++) {
                int k;
                d[x] = conv_relu_argmax2x2(r0, r1, x, &k);
                a[x] = (y + (k >> 1)) * W + 2 * x + (k & 1);
            }
        }
    }
}
#endif

#ifdef CONV_DIRECT_WASM
/* One tap for the 4 x 8 block: two input vectors from src, the four
 * channels' weights at index k of w0..w3 (multiply, then add: wasm SIMD has
 * no fused multiply-add). */
#define WASM_STEP(src, k)                                                                      \
    do {                                                                                       \
        const float *s_ = (src);                                                               \
        v128_t x0 = wasm_v128_load(s_), x1 = wasm_v128_load(s_ + 4);                           \
        v128_t b_ = wasm_f32x4_splat(w0[k]);                                                   \
        a00 = wasm_f32x4_add(a00, wasm_f32x4_mul(b_, x0));                                     \
        a01 = wasm_f32x4_add(a01, wasm_f32x4_mul(b_, x1));                                     \
        b_ = wasm_f32x4_splat(w1[k]);                                                          \
        a10 = wasm_f32x4_add(a10, wasm_f32x4_mul(b_, x0));                                     \
        a11 = wasm_f32x4_add(a11, wasm_f32x4_mul(b_, x1));                                     \
        b_ = wasm_f32x4_splat(w2[k]);                                                          \
        a20 = wasm_f32x4_add(a20, wasm_f32x4_mul(b_, x0));                                     \
        a21 = wasm_f32x4_add(a21, wasm_f32x4_mul(b_, x1));                                     \
        b_ = wasm_f32x4_splat(w3[k]);                                                          \
        a30 = wasm_f32x4_add(a30, wasm_f32x4_mul(b_, x0));                                     \
        a31 = wasm_f32x4_add(a31, wasm_f32x4_mul(b_, x1));                                     \
    } while (0)

/* As direct_avx2, in blocks of 8 columns (ld is a multiple of 24). */
static void direct_wasm(float *blk, size_t ld, const float *pad, size_t plane,
                        const float *weight, const float *bias, const struct conv_params *p)
{
    int C = p->c, M = p->m, taps = p->kh * p->kw, row = conv_direct_row(p);
    size_t K = (size_t)C * taps;
    int off[DIRECT_MAX_TAPS];
    for (int i = 0; i < p->kh; i++)
        for (int j = 0; j < p->kw; j++)
            off[i * p->kw + j] = i * p->dh * row + j * p->dw;
    int k3 = p->kh == 3 && p->kw == 3 && p->dh == 1 && p->dw == 1;
    for (size_t x = 0; x < ld; x += 8)
        for (int m0 = 0; m0 < M; m0 += DIRECT_MB) {
            int mv = M - m0 < DIRECT_MB ? M - m0 : DIRECT_MB;
            int i1 = m0 + (mv > 1), i2 = m0 + (mv > 2 ? 2 : mv - 1), i3 = m0 + mv - 1;
            const float *w0 = weight + (size_t)m0 * K, *w1 = weight + (size_t)i1 * K;
            const float *w2 = weight + (size_t)i2 * K, *w3 = weight + (size_t)i3 * K;
            v128_t a00, a01, a10, a11, a20, a21, a30, a31;
            a00 = a01 = wasm_f32x4_splat(bias ? bias[m0] : 0.0f);
            a10 = a11 = wasm_f32x4_splat(bias ? bias[i1] : 0.0f);
            a20 = a21 = wasm_f32x4_splat(bias ? bias[i2] : 0.0f);
            a30 = a31 = wasm_f32x4_splat(bias ? bias[i3] : 0.0f);
            const float *s = pad + x;
            if (k3) {
                for (int c = 0; c < C; c++, s += plane, w0 += 9, w1 += 9, w2 += 9, w3 += 9) {
                    const float *r1 = s + row, *r2 = r1 + row;
                    WASM_STEP(s, 0);
                    WASM_STEP(s + 1, 1);
                    WASM_STEP(s + 2, 2);
                    WASM_STEP(r1, 3);
                    WASM_STEP(r1 + 1, 4);
                    WASM_STEP(r1 + 2, 5);
                    WASM_STEP(r2, 6);
                    WASM_STEP(r2 + 1, 7);
                    WASM_STEP(r2 + 2, 8);
                }
            } else {
                for (int c = 0; c < C;
                     c++, s += plane, w0 += taps, w1 += taps, w2 += taps, w3 += taps)
                    for (int k = 0; k < taps; k++)
                        WASM_STEP(s + off[k], k);
            }
            float *o = blk + x;
            wasm_v128_store(o + i3 * ld, a30), wasm_v128_store(o + i3 * ld + 4, a31);
            wasm_v128_store(o + i2 * ld, a20), wasm_v128_store(o + i2 * ld + 4, a21);
            wasm_v128_store(o + i1 * ld, a10), wasm_v128_store(o + i1 * ld + 4, a11);
            wasm_v128_store(o + m0 * ld, a00), wasm_v128_store(o + m0 * ld + 4, a01);
        }
}

/* As pool_avx2, 4 outputs at a time: pmax(v, x) is x > v ? x : v, so the
 * running maximum starts at 0 and a NaN never wins (conv_relu_max2x2). */
static void pool_wasm(float *out_b, const float *blk, int m, size_t ld, int row, int oy0,
                      int oy1, const struct pool_params *q)
{
    size_t out_plane = (size_t)q->oh * q->ow;
    int pw = q->ow, pv = pw & ~3;
    for (int c = 0; c < m; c++) {
        const float *src = blk + (size_t)c * ld;
        float *dst = out_b + (size_t)c * out_plane;
        for (int y = oy0; y + 1 < oy1 && y / 2 < q->oh; y += 2) {
            const float *r0 = src + (size_t)(y - oy0) * row, *r1 = r0 + row;
            float *d = dst + (size_t)(y / 2) * pw;
            for (int x = 0; x < pv; x += 4) {
                v128_t l0 = wasm_v128_load(r0 + 2 * x), l1 = wasm_v128_load(r0 + 2 * x + 4);
                v128_t u0 = wasm_v128_load(r1 + 2 * x), u1 = wasm_v128_load(r1 + 2 * x + 4);
                v128_t v = wasm_f32x4_splat(0.0f);
                v = wasm_f32x4_pmax(v, wasm_i32x4_shuffle(l0, l1, 0, 2, 4, 6));
                v = wasm_f32x4_pmax(v, wasm_i32x4_shuffle(l0, l1, 1, 3, 5, 7));
                v = wasm_f32x4_pmax(v, wasm_i32x4_shuffle(u0, u1, 0, 2, 4, 6));
                v = wasm_f32x4_pmax(v, wasm_i32x4_shuffle(u0, u1, 1, 3, 5, 7));
                wasm_v128_store(d + x, v);
            }
            for (int x = pv; x < pw; x++)
                d[x] = conv_relu_max2x2(r0, r1, x);
        }
    }
}
#endif

int conv_direct_pool(float *out_b, const float *blk, int m, size_t ld, int row, int oy0,
                     int oy1, const struct pool_params *q, enum conv_isa isa)
{
#ifdef CONV_DIRECT_X86
    if (isa >= CONV_ISA_AVX2 && isa <= conv_isa_best()) {
        pool_avx2(out_b, blk, m, ld, row, oy0, oy1, q);
        return 1;
    }
#elif defined(CONV_DIRECT_WASM)
    if (isa >= CONV_ISA_AVX2) {
        pool_wasm(out_b, blk, m, ld, row, oy0, oy1, q);
        return 1;
    }
#endif
    return 0;
}

static void direct_rows(float *blk, size_t ld, const float *inp_b, const struct conv_src *cs,
                        int b, const float *weight, const float *bias,
                        const struct conv_params *p, int oy0, int oy1, float *pad)
{
    int rows = oy1 - oy0;
    BUG_ON(ld != conv_direct_ld(p, rows));
    pad_rows(pad, inp_b, cs, b, p, oy0, rows);
#ifdef CONV_DIRECT_X86
    size_t plane = (size_t)(rows + (p->kh - 1) * p->dh) * conv_direct_row(p);
    direct_avx2(blk, ld, pad, plane, weight, bias, p);
#elif defined(CONV_DIRECT_WASM)
    size_t plane = (size_t)(rows + (p->kh - 1) * p->dh) * conv_direct_row(p);
    direct_wasm(blk, ld, pad, plane, weight, bias, p);
#else
    BUG_ON(1); /* conv_direct_usable said no */
#endif
}

int conv_direct_pool_argmax(float *out_b, int32_t *am_b, const float *blk, int m, size_t ld,
                            int row, int oy0, int oy1, const struct pool_params *q,
                            enum conv_isa isa)
{
#ifdef CONV_DIRECT_X86
    if (isa >= CONV_ISA_AVX2 && isa <= conv_isa_best()) {
        pool_argmax_avx2(out_b, am_b, blk, m, ld, row, oy0, oy1, q);
        return 1;
    }
#endif
    (void)out_b, (void)am_b, (void)blk, (void)m, (void)ld, (void)row, (void)oy0, (void)oy1;
    (void)q, (void)isa;
    return 0;
}

void conv_direct_rows(float *blk, size_t ld, const float *inp_b, const float *weight,
                      const float *bias, const struct conv_params *p, int oy0, int oy1,
                      float *pad)
{
    direct_rows(blk, ld, inp_b, NULL, 0, weight, bias, p, oy0, oy1, pad);
}

void conv_direct_rows_src(float *blk, size_t ld, const struct conv_src *src, int b,
                          const float *weight, const float *bias, const struct conv_params *p,
                          int oy0, int oy1, float *pad)
{
    direct_rows(blk, ld, NULL, src, b, weight, bias, p, oy0, oy1, pad);
}
