/* conv_wino.c - Winograd F(2x2, 3x3) convolution (see conv_wino.h): the band
 * geometry, the filter transform and the zero-padded, column-split input
 * here; the transforms and the 16 small GEMMs per band in conv_wino_kern.h,
 * compiled once for AVX2 + FMA and once for AVX-512F.
 *
 * A band is R rows of 2x2 output tiles, numbered row after row (T of them,
 * rounded up to 16, the vector lanes). Per band: V = B^T d B for every tile
 * and input channel (16 x C x T), P = U V for each of the 16 components
 * (16 x M x T),
 * Y = A^T P A per tile, bias, ReLU and the 2x2 max. For the sizes of a small
 * image classifier (C, M = 32..64, 16..64 tiles a row) the three buffers of
 * a band stay in the L2 cache.
 */
#include "conv_wino.h"

#include <stdint.h>
#include <string.h>

#include "graph.h"
#include "util.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define WINO_X86 1
#include "pool2x2_avx2.h"
#endif

enum { WINO_LANES = 16, WINO_BAND_FLOATS = 128 * 1024, WINO_MIN_C = 4 };

static int block_of(enum conv_isa isa)
{
    return isa >= CONV_ISA_AVX512 ? 8 : 4;
}

size_t conv_wino_tiles(const struct wino_geom *g, int R);
size_t conv_wino_vstride(const struct wino_geom *g, int R);
size_t conv_wino_pstride(const struct wino_geom *g, int R);

static size_t round_up(size_t n, size_t k)
{
    return (n + k - 1) / k * k;
}

int conv_wino_usable(const struct conv_params *p, enum conv_isa isa)
{
#ifdef WINO_X86
    return isa >= CONV_ISA_AVX2 && isa <= conv_isa_best() && p->group == 1 && p->kh == 3 &&
           p->kw == 3 && p->sh == 1 && p->sw == 1 && p->dh == 1 && p->dw == 1 &&
           p->c >= WINO_MIN_C && p->m >= 1 && p->oh >= 1 && p->ow >= 1 &&
           p->oh == p->h + p->pt + p->pb - 2 && p->ow == p->w + p->pl + p->pr - 2;
#else
    (void)p, (void)isa;
    return 0;
#endif
}

size_t conv_wino_weight_floats(const struct conv_params *p, enum conv_isa isa)
{
    return 16 * round_up((size_t)p->m, (size_t)block_of(isa)) * (size_t)p->c;
}

/* U = G g G^T, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1] (in double,
 * rounded once). */
void conv_wino_weights(const struct conv_params *p, enum conv_isa isa, const float *weight,
                       float *u)
{
    int MB = block_of(isa), C = p->c;
    size_t mpad = round_up((size_t)p->m, (size_t)MB);
    memset(u, 0, sizeof(float) * conv_wino_weight_floats(p, isa));
    for (int m = 0; m < p->m; m++)
        for (int c = 0; c < C; c++) {
            const float *g = weight + ((size_t)m * C + c) * 9;
            double t[4][3], U[4][4];
            for (int j = 0; j < 3; j++) {
                double g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
                t[0][j] = g0, t[1][j] = 0.5 * (g0 + g1 + g2), t[2][j] = 0.5 * (g0 - g1 + g2),
                t[3][j] = g2;
            }
            for (int i = 0; i < 4; i++) {
                double g0 = t[i][0], g1 = t[i][1], g2 = t[i][2];
                U[i][0] = g0, U[i][1] = 0.5 * (g0 + g1 + g2), U[i][2] = 0.5 * (g0 - g1 + g2),
                U[i][3] = g2;
            }
            for (int xi = 0; xi < 16; xi++)
                u[(((size_t)xi * (mpad / MB) + (size_t)(m / MB)) * C + c) * MB + m % MB] =
                    (float)U[xi / 4][xi % 4];
        }
}

/* Floats of each part of a band's scratch for R tile rows, 16-float aligned. */
static size_t pad_floats(const struct wino_geom *g, int R)
{
    return round_up((size_t)g->c * (size_t)(2 * R + 2) * 2 * g->rs, 16);
}
/* The 16 components of V and P lie one cache line further apart than their
 * size: at exact multiples of 4 KB the loads and stores of a tile's 16
 * components would all fall in one L1 set. */
size_t conv_wino_tiles(const struct wino_geom *g, int R)
{
    return round_up((size_t)R * g->ntx, WINO_LANES);
}
size_t conv_wino_vstride(const struct wino_geom *g, int R)
{
    return (size_t)g->c * conv_wino_tiles(g, R) + 16;
}
size_t conv_wino_pstride(const struct wino_geom *g, int R)
{
    return (size_t)g->mpad * conv_wino_tiles(g, R) + 16;
}
static size_t v_floats(const struct wino_geom *g, int R)
{
    return 16 * conv_wino_vstride(g, R);
}
static size_t p_floats(const struct wino_geom *g, int R)
{
    return 16 * conv_wino_pstride(g, R);
}

void conv_wino_geom(struct wino_geom *g, const struct conv_params *p,
                    const struct pool_params *q, enum conv_isa isa, int rows)
{
    memset(g, 0, sizeof *g);
    g->isa = isa;
    g->c = p->c, g->m = p->m, g->mpad = (int)round_up((size_t)p->m, (size_t)block_of(isa));
    g->h = p->h, g->w = p->w, g->pt = p->pt, g->pl = p->pl;
    g->oh = p->oh, g->ow = p->ow, g->relu = p->relu;
    if (q) {
        g->pool = 1, g->poh = q->oh, g->pow = q->ow;
        g->nty = q->oh, g->ntx = q->ow;
    } else {
        g->nty = (p->oh + 1) / 2, g->ntx = (p->ow + 1) / 2;
    }
    g->lanes = (int)round_up((size_t)g->ntx, WINO_LANES);
    /* a tile reads padded columns up to 2 * lanes + 1; the input's own
     * columns (w + pl) may reach one further when the output is odd; the
     * padding's last vector step stores 16 floats past where it starts */
    size_t need = (size_t)(g->w + g->pl + 1) / 2 + 1;
    g->rs = round_up((need > (size_t)g->lanes + 1 ? need : (size_t)g->lanes + 1) + 16, 16);
    if (rows <= 0) {
        rows = 1;
        while (rows < g->nty &&
               pad_floats(g, rows + 1) + v_floats(g, rows + 1) + p_floats(g, rows + 1) <=
                   WINO_BAND_FLOATS)
            rows++;
    }
    g->rows = rows < 1 ? 1 : rows > g->nty ? g->nty : rows;
}

size_t conv_wino_scratch_floats(const struct wino_geom *g)
{
    return pad_floats(g, g->rows) + v_floats(g, g->rows) + p_floats(g, g->rows) + 16;
}

#ifdef WINO_X86
/* ---------------------------------------------------------------- AVX2 + FMA */
#define WK(name)  name##_avx2
#define WK_TARGET __attribute__((target("avx2,fma")))
#define WK_VW     8
#define WK_MB     4
#define wk_vec    __m256
#define wk_load   _mm256_loadu_ps
#define wk_store  _mm256_storeu_ps
#define wk_set1   _mm256_set1_ps
#define wk_add    _mm256_add_ps
#define wk_sub    _mm256_sub_ps
#define wk_fma    _mm256_fmadd_ps
#define wk_max    _mm256_max_ps
#define wk_zero   _mm256_setzero_ps
#define wk_mask(n)                                                                             \
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define wk_loadn(p, n)     _mm256_maskload_ps(p, wk_mask(n))
#define wk_storen(p, v, n) _mm256_maskstore_ps(p, wk_mask(n), v)
#define wk_sel_gt(a, b, x, y) _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_GT_OQ))
/* base + 2 * lane + off (off: small whole floats) to the first n of p */
#define wk_store_idx(p, off, base, n)                                                          \
    do {                                                                                       \
        __m256i i_ =                                                                           \
            _mm256_add_epi32(_mm256_cvtps_epi32(off),                                          \
                             _mm256_add_epi32(_mm256_set1_epi32(base),                         \
                                              _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)));  \
        if ((n) == 8)                                                                          \
            _mm256_storeu_si256((__m256i *)(p), i_);                                           \
        else                                                                                   \
            _mm256_maskstore_epi32((int *)(p), wk_mask(n), i_);                                \
    } while (0)
/* even and odd elements of a:b (16 floats) in order */
#define wk_deint POOL2X2_DEINT
/* a0 b0 a1 b1 ... a7 b7 in lo:hi */
#define wk_inter(a, b, lo, hi)                                                                 \
    do {                                                                                       \
        __m256 l_ = _mm256_unpacklo_ps(a, b), h_ = _mm256_unpackhi_ps(a, b);                   \
        lo = _mm256_permute2f128_ps(l_, h_, 0x20);                                             \
        hi = _mm256_permute2f128_ps(l_, h_, 0x31);                                             \
    } while (0)
#include "conv_wino_kern.h"
#undef WK
#undef WK_TARGET
#undef WK_VW
#undef WK_MB
#undef wk_vec
#undef wk_load
#undef wk_store
#undef wk_set1
#undef wk_add
#undef wk_sub
#undef wk_fma
#undef wk_max
#undef wk_zero
#undef wk_loadn
#undef wk_storen
#undef wk_mask
#undef wk_deint
#undef wk_inter
#undef wk_sel_gt
#undef wk_store_idx

/* ---------------------------------------------------------------- AVX-512F */
#define WK(name)           name##_avx512
#define WK_TARGET          __attribute__((target("avx512f")))
#define WK_VW              16
#define WK_MB              8
#define WK_WIDE            1
#define wk_vec             __m512
#define wk_load            _mm512_loadu_ps
#define wk_store           _mm512_storeu_ps
#define wk_set1            _mm512_set1_ps
#define wk_add             _mm512_add_ps
#define wk_sub             _mm512_sub_ps
#define wk_fma             _mm512_fmadd_ps
#define wk_max             _mm512_max_ps
#define wk_zero            _mm512_setzero_ps
#define wk_loadn(p, n)     _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), p)
#define wk_storen(p, v, n) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1), v)
#define wk_sel_gt(a, b, x, y) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_GT_OQ), y, x)
#define wk_store_idx(p, off, base, n)                                                          \
    _mm512_mask_storeu_epi32(                                                                  \
        p, (__mmask16)((1u << (n)) - 1),                                                       \
        _mm512_add_epi32(_mm512_cvtps_epi32(off),                                              \
                         _mm512_add_epi32(_mm512_set1_epi32(base),                             \
                                          _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, \
                                                            20, 22, 24, 26, 28, 30))))
#define wk_deint(a, b, e, o)                                                                   \
    do {                                                                                       \
        __m512 a_ = (a), b_ = (b);                                                             \
        e = _mm512_permutex2var_ps(                                                            \
            a_, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30),  \
            b_);                                                                               \
        o = _mm512_permutex2var_ps(                                                            \
            a_, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31),  \
            b_);                                                                               \
    } while (0)
#define wk_inter(a, b, lo, hi)                                                                 \
    do {                                                                                       \
        lo = _mm512_permutex2var_ps(                                                           \
            a, _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), b);  \
        hi = _mm512_permutex2var_ps(                                                           \
            a,                                                                                 \
            _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31),   \
            b);                                                                                \
    } while (0)
#include "conv_wino_kern.h"
#endif

void conv_wino_band_ex(float *out_b, int32_t *am_b, const float *inp_b,
                       const struct conv_src *cs, int b, const float *u, const float *bias,
                       const struct wino_geom *g, int ty0, int ty1, float *scratch)
{
    int R = ty1 - ty0;
    BUG_ON(R < 1 || R > g->rows || ty1 > g->nty);
    BUG_ON(cs && g->w > CONV_SRC_MAX_W);
    BUG_ON(am_b && !g->pool);
    /* 64-byte aligned: a vector never straddles two cache lines */
    float *pad = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *V = pad + pad_floats(g, R), *P = V + v_floats(g, R);
#ifdef WINO_X86
    if (g->isa >= CONV_ISA_AVX512) {
        wino_pad_avx512(pad, inp_b, cs, b, g, ty0, R);
        wino_input_avx512(V, pad, g, R);
        wino_gemm_avx512(P, u, V, g, R);
        wino_output_avx512(out_b, am_b, P, bias, g, ty0, R);
        return;
    }
    wino_pad_avx2(pad, inp_b, cs, b, g, ty0, R);
    wino_input_avx2(V, pad, g, R);
    wino_gemm_avx2(P, u, V, g, R);
    wino_output_avx2(out_b, am_b, P, bias, g, ty0, R);
#else
    (void)V, (void)P, (void)out_b, (void)u, (void)bias, (void)inp_b, (void)cs, (void)b;
    (void)am_b;
    BUG_ON(1); /* conv_wino_usable said no */
#endif
}

void conv_wino_band(float *out_b, const float *inp_b, const float *u, const float *bias,
                    const struct wino_geom *g, int ty0, int ty1, float *scratch)
{
    conv_wino_band_ex(out_b, NULL, inp_b, NULL, 0, u, bias, g, ty0, ty1, scratch);
}
