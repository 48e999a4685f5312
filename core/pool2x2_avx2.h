/* pool2x2_avx2.h - the AVX2 steps of a 2x2 stride-2 max-pool over 8 windows
 * that the MaxPool op (op_pool.c) and the fused conv epilogues (conv_direct.c,
 * conv_wino.c) share: splitting a row's 16 floats into the windows' even and
 * odd columns, and each window's first maximum with its index. Empty but on
 * x86-64 with GCC's target attributes; inlined into the callers' avx2 code.
 */
#ifndef INTERP_POOL2X2_AVX2_H
#define INTERP_POOL2X2_AVX2_H

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <stdint.h>

/* even and odd elements of a:b (16 floats) in order: shuffle within the
 * 128-bit lanes, then put the lanes in order */
#define POOL2X2_DEINT(a, b, e, o)                                                              \
    do {                                                                                       \
        __m256 a_ = (a), b_ = (b);                                                             \
        e = _mm256_castpd_ps(_mm256_permute4x64_pd(                                            \
            _mm256_castps_pd(_mm256_shuffle_ps(a_, b_, _MM_SHUFFLE(2, 0, 2, 0))),              \
            _MM_SHUFFLE(3, 1, 2, 0)));                                                         \
        o = _mm256_castpd_ps(_mm256_permute4x64_pd(                                            \
            _mm256_castps_pd(_mm256_shuffle_ps(a_, b_, _MM_SHUFFLE(3, 1, 3, 1))),              \
            _MM_SHUFFLE(3, 1, 2, 0)));                                                         \
    } while (0)

/* 8 windows given by their elements v0 v1 (top row) v2 v3 (bottom row), no
 * NaN among them: each window's first maximum in row-major order (strict '>'
 * keeps the first, as maxpool_forward) to dst, and, when am is not NULL, its
 * index base + 2 * lane + (row ? w : 0) + column to am (base: the first
 * window's top left, y * w + x). */
__attribute__((target("avx2"))) static inline void
pool2x2_first8(float *dst, int32_t *am, __m256 v0, __m256 v1, __m256 v2, __m256 v3, int base,
               int w)
{
    __m256 m01 = _mm256_cmp_ps(v1, v0, _CMP_GT_OQ), m23 = _mm256_cmp_ps(v3, v2, _CMP_GT_OQ);
    __m256 best01 = _mm256_blendv_ps(v0, v1, m01), best23 = _mm256_blendv_ps(v2, v3, m23);
    __m256 m = _mm256_cmp_ps(best23, best01, _CMP_GT_OQ);
    _mm256_storeu_ps(dst, _mm256_blendv_ps(best01, best23, m));
    if (!am) return;
    /* k = (m ? 2 + m23 : m01): row (k >> 1), column (k & 1) of the window */
    __m256i one = _mm256_set1_epi32(1);
    __m256i c01 = _mm256_and_si256(_mm256_castps_si256(m01), one);
    __m256i c23 = _mm256_and_si256(_mm256_castps_si256(m23), one);
    __m256i mi = _mm256_castps_si256(m);
    __m256i off = _mm256_add_epi32(_mm256_blendv_epi8(c01, c23, mi),
                                   _mm256_and_si256(mi, _mm256_set1_epi32(w)));
    __m256i at = _mm256_add_epi32(_mm256_set1_epi32(base),
                                  _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
    _mm256_storeu_si256((__m256i *)am, _mm256_add_epi32(at, off));
}
#endif

#endif
