/* op_pool.c - MaxPool, AveragePool, GlobalAveragePool: forward and backward.
 * MaxPool follows PyTorch's gradient convention: each window's gradient goes
 * to its first maximal element in row-major order (the argmax cache records it).
 */
#include <math.h>
#include <string.h>

#include "conv_direct.h"
#include "graph.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define POOL_X86 1
#include "pool2x2_avx2.h"
#endif

/* ---------------------------------------------------------------- MaxPool */
#ifdef POOL_X86
/* 8 windows of a 2x2 row pair at once (outputs ox0 .. ox0+7): the same first
 * maximum as the scalar loop; returns 0 (nothing written) when a NaN is among
 * them, for the scalar loop's rule. */
__attribute__((target("avx2"))) static int pool8_avx2(float *dst, int32_t *am, const float *r0,
                                                       const float *r1, int ox0, int row0,
                                                       int w)
{
    __m256 v0, v1, v2, v3;
    POOL2X2_DEINT(_mm256_loadu_ps(r0 + 2 * ox0), _mm256_loadu_ps(r0 + 2 * ox0 + 8), v0, v1);
    POOL2X2_DEINT(_mm256_loadu_ps(r1 + 2 * ox0), _mm256_loadu_ps(r1 + 2 * ox0 + 8), v2, v3);
    __m256 nan = _mm256_or_ps(_mm256_cmp_ps(v0, v1, _CMP_UNORD_Q),
                              _mm256_cmp_ps(v2, v3, _CMP_UNORD_Q));
    if (_mm256_movemask_ps(nan)) return 0;
    pool2x2_first8(dst + ox0, am ? am + ox0 : NULL, v0, v1, v2, v3, row0 + 2 * ox0, w);
    return 1;
}

static int pool_has_avx2(void)
{
    static int v = -1;
    if (v < 0) v = __builtin_cpu_supports("avx2") != 0;
    return v;
}
#endif

/* The common 2x2 stride-2 window without padding, same rule as below. */
static void maxpool2x2(float *out, int32_t *argmax, const float *inp,
                       const struct pool_params *p, size_t planes)
{
    size_t in_plane = (size_t)p->h * p->w, out_plane = (size_t)p->oh * p->ow;
#ifdef POOL_X86
    int simd = pool_has_avx2();
#endif
    for (size_t pl = 0; pl < planes; pl++)
        for (int oy = 0; oy < p->oh; oy++) {
            const float *r0 = inp + pl * in_plane + (size_t)(2 * oy) * p->w, *r1 = r0 + p->w;
            float *dst = out + pl * out_plane + (size_t)oy * p->ow;
            int32_t *am = argmax ? argmax + pl * out_plane + (size_t)oy * p->ow : NULL;
            int ox = 0;
#ifdef POOL_X86
            /* 16 input columns per step: read only while 2 * (ox + 8) <= w */
            for (; simd && 2 * (ox + 8) <= p->w && ox + 8 <= p->ow; ox += 8)
                if (!pool8_avx2(dst, am, r0, r1, ox, 2 * oy * p->w, p->w)) break;
#endif
            for (; ox < p->ow; ox++) {
                float v[4] = {r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]};
                /* first maximum by plain comparisons; a NaN makes some
                 * comparison pair unordered, and then the careful loop runs */
                int k01 = v[1] > v[0], k23 = 2 + (v[3] > v[2]);
                int k = v[k23] > v[k01] ? k23 : k01;
                if (v[0] != v[0] || v[1] != v[1] || v[2] != v[2] || v[3] != v[3]) {
                    k = 0;
                    for (int t = 1; t < 4; t++)
                        if (v[t] > v[k] || (isnan(v[t]) && !isnan(v[k]))) k = t;
                }
                dst[ox] = v[k];
                if (am) am[ox] = (2 * oy + (k >> 1)) * p->w + 2 * ox + (k & 1);
            }
        }
}

/* inp n x C x H x W -> out n x C x OH x OW; argmax (may be NULL) = y*W + x of
 * the first maximum of each window (strict '>' keeps the first). */
void maxpool_forward(float *out, int32_t *argmax, const float *inp, const struct pool_params *p,
                     int n)
{
    size_t planes = (size_t)n * p->c, in_plane = (size_t)p->h * p->w;
    size_t out_plane = (size_t)p->oh * p->ow;
    if (p->kh == 2 && p->kw == 2 && p->sh == 2 && p->sw == 2 && !p->pt && !p->pl &&
        2 * p->oh <= p->h && 2 * p->ow <= p->w) {
        maxpool2x2(out, argmax, inp, p, planes);
        return;
    }
    for (size_t pl = 0; pl < planes; pl++) {
        const float *src = inp + pl * in_plane;
        float *dst = out + pl * out_plane;
        int32_t *am = argmax ? argmax + pl * out_plane : NULL;
        for (int oy = 0; oy < p->oh; oy++) {
            int y0 = oy * p->sh - p->pt;
            int ya = y0 < 0 ? 0 : y0, yb = y0 + p->kh > p->h ? p->h : y0 + p->kh;
            for (int ox = 0; ox < p->ow; ox++) {
                int x0 = ox * p->sw - p->pl;
                int xa = x0 < 0 ? 0 : x0, xb = x0 + p->kw > p->w ? p->w : x0 + p->kw;
                float best = -INFINITY;
                int32_t idx = -1;
                for (int y = ya; y < yb; y++)
                    for (int x = xa; x < xb; x++) {
                        float v = src[(size_t)y * p->w + x];
                        /* NaN propagates (the first one wins), as in PyTorch */
                        if (idx < 0 || v > best || (isnan(v) && !isnan(best))) {
                            best = v;
                            idx = y * p->w + x;
                        }
                    }
                dst[oy * p->ow + ox] = idx < 0 ? 0.0f : best;
                if (am) am[oy * p->ow + ox] = idx;
            }
        }
    }
}

/* dout n x C x OH x OW, argmax n x C x OH x OW -> dinp n x C x H x W (accumulated) */
void maxpool_backward(float *dinp, const float *dout, const int32_t *argmax,
                      const struct pool_params *p, int n)
{
    if (!dinp) return;
    size_t planes = (size_t)n * p->c, in_plane = (size_t)p->h * p->w;
    size_t out_plane = (size_t)p->oh * p->ow;
    for (size_t pl = 0; pl < planes; pl++) {
        float *d = dinp + pl * in_plane;
        const float *g = dout + pl * out_plane;
        const int32_t *am = argmax + pl * out_plane;
        for (size_t k = 0; k < out_plane; k++)
            if (am[k] >= 0) d[am[k]] += g[k];
    }
}

#ifdef POOL_X86
/* maxpool2x2_relu_row's windows 0 .. ow rounded down to 8, 8 at a time;
 * returns the first window left to the scalar loop. */
__attribute__((target("avx2"))) static int relu_unpool_avx2(float *d, const float *dout,
                                                            const float *out, const int32_t *am,
                                                            int ow, int y, float s, int guided)
{
    int w = 2 * ow, ox = 0, base = (y & ~1) * w, dy = (y & 1) * w;
    __m256 zero = _mm256_setzero_ps(), sv = _mm256_set1_ps(s);
    __m256i even = _mm256_set1_epi32(dy), odd = _mm256_set1_epi32(dy + 1);
    __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    for (; ox + 8 <= ow; ox += 8) {
        __m256 gv = _mm256_loadu_ps(dout + ox);
        __m256 keep = _mm256_cmp_ps(_mm256_loadu_ps(out + ox), zero, _CMP_GT_OQ);
        if (guided) keep = _mm256_and_ps(keep, _mm256_cmp_ps(gv, zero, _CMP_GT_OQ));
        __m256 v = _mm256_and_ps(_mm256_mul_ps(sv, gv), keep);
        /* the argmax relative to the window's top left */
        __m256i rel =
            _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(am + ox)),
                             _mm256_add_epi32(_mm256_set1_epi32(base + 2 * ox), lane2));
        __m256 e = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(rel, even)));
        __m256 o = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(rel, odd)));
        __m256 lo = _mm256_unpacklo_ps(e, o), hi = _mm256_unpackhi_ps(e, o);
        _mm256_storeu_ps(d + 2 * ox, _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_storeu_ps(d + 2 * ox + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
    return ox;
}
#endif

void maxpool2x2_relu_row(float *d, const float *dout, const float *out, const int32_t *am,
                         int ow, int y, float s, int guided)
{
    int w = 2 * ow, ox = 0, base = (y & ~1) * w, dy = (y & 1) * w;
#ifdef POOL_X86
    if (conv_isa_default() >= CONV_ISA_AVX2)
        ox = relu_unpool_avx2(d, dout, out, am, ow, y, s, guided);
#endif
    for (; ox < ow; ox++) {
        float gk = dout[ox], v = out[ox] > 0.0f && (!guided || gk > 0.0f) ? s * gk : 0.0f;
        int32_t rel = am[ox] - (base + 2 * ox);
        d[2 * ox] = rel == dy ? v : 0.0f;
        d[2 * ox + 1] = rel == dy + 1 ? v : 0.0f;
    }
}

void maxpool2x2_relu_backward(float *d, const float *dout, const float *out, const int32_t *am,
                              int oh, int ow, float s, int guided)
{
    for (int y = 0; y < 2 * oh; y++) {
        size_t k = (size_t)(y / 2) * ow;
        maxpool2x2_relu_row(d + (size_t)y * 2 * ow, dout + k, out + k, am + k, ow, y, s,
                            guided);
    }
}

/* ---------------------------------------------------------------- AveragePool */
/* The divisor as PyTorch and ONNX define it: with count_include_pad the window
 * clipped to the padded input, else the window clipped to the input. */
static int avg_window(const struct pool_params *p, int oy, int ox, int *ya, int *yb, int *xa,
                      int *xb)
{
    int y0 = oy * p->sh - p->pt, x0 = ox * p->sw - p->pl;
    int y1 = y0 + p->kh, x1 = x0 + p->kw;
    int py1 = y1 > p->h + p->pb ? p->h + p->pb : y1;
    int px1 = x1 > p->w + p->pr ? p->w + p->pr : x1;
    int padded = (py1 - y0) * (px1 - x0);
    *ya = y0 < 0 ? 0 : y0;
    *xa = x0 < 0 ? 0 : x0;
    *yb = y1 > p->h ? p->h : y1;
    *xb = x1 > p->w ? p->w : x1;
    int inside = (*yb - *ya) * (*xb - *xa);
    return p->count_include_pad ? padded : inside;
}

void avgpool_forward(float *out, const float *inp, const struct pool_params *p, int n)
{
    size_t planes = (size_t)n * p->c, in_plane = (size_t)p->h * p->w;
    size_t out_plane = (size_t)p->oh * p->ow;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *src = inp + pl * in_plane;
        float *dst = out + pl * out_plane;
        for (int oy = 0; oy < p->oh; oy++)
            for (int ox = 0; ox < p->ow; ox++) {
                int ya, yb, xa, xb;
                int div = avg_window(p, oy, ox, &ya, &yb, &xa, &xb);
                float s = 0.0f;
                for (int y = ya; y < yb; y++)
                    for (int x = xa; x < xb; x++)
                        s += src[(size_t)y * p->w + x];
                dst[oy * p->ow + ox] = div > 0 ? s / (float)div : 0.0f;
            }
    }
}

/* dout n x C x OH x OW -> dinp n x C x H x W (accumulated): each input in a
 * window receives dout / divisor. */
void avgpool_backward(float *dinp, const float *dout, const struct pool_params *p, int n)
{
    if (!dinp) return;
    size_t planes = (size_t)n * p->c, in_plane = (size_t)p->h * p->w;
    size_t out_plane = (size_t)p->oh * p->ow;
    for (size_t pl = 0; pl < planes; pl++) {
        float *d = dinp + pl * in_plane;
        const float *g = dout + pl * out_plane;
        for (int oy = 0; oy < p->oh; oy++)
            for (int ox = 0; ox < p->ow; ox++) {
                int ya, yb, xa, xb;
                int div = avg_window(p, oy, ox, &ya, &yb, &xa, &xb);
                if (div <= 0) continue;
                float v = g[oy * p->ow + ox] / (float)div;
                for (int y = ya; y < yb; y++)
                    for (int x = xa; x < xb; x++)
                        d[(size_t)y * p->w + x] += v;
            }
    }
}

/* ---------------------------------------------------------------- GlobalAveragePool */
/* inp n x C x plane -> out n x C */
void gap_forward(float *out, const float *inp, int c, size_t plane, int n)
{
    size_t planes = (size_t)n * c;
    for (size_t k = 0; k < planes; k++) {
        const float *src = inp + k * plane;
        double s = 0.0;
        for (size_t i = 0; i < plane; i++)
            s += src[i];
        out[k] = (float)(s / (double)plane);
    }
}

/* dout n x C -> dinp n x C x plane (accumulated) */
void gap_backward(float *dinp, const float *dout, int c, size_t plane, int n)
{
    if (!dinp) return;
    size_t planes = (size_t)n * c;
    for (size_t k = 0; k < planes; k++) {
        float v = dout[k] / (float)plane;
        float *d = dinp + k * plane;
        for (size_t i = 0; i < plane; i++)
            d[i] += v;
    }
}
