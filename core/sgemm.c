/* sgemm.c - the engine's GEMM and GEMV without a BLAS library (see sgemm.h):
 * op(B) is packed into 8-column panels and op(A) into 4-row panels per
 * block of K, and a 4 x 8 register block accumulates each tile. Compiled only
 * with INTERP_NO_BLAS (the WebAssembly build); native builds use OpenBLAS.
 */
#ifdef INTERP_NO_BLAS

#include "sgemm.h"

#include <stddef.h>
#include <string.h>

#include "util.h"

#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

enum { MR = 4, NR = 8, KC = 256, NC = 512, MC = 64 };

/* Packing buffers: one call at a time (this build has one thread). */
static float pack_a[MC * KC];
static float pack_b[KC * NC];

/* op(B) rows [k0, k0+kc), columns [j0, j0+nc) as ceil(nc/NR) panels of
 * kc x NR, zero-padded past nc. */
static void pack_b_block(const float *B, int ldb, int tb, int k0, int kc, int j0, int nc)
{
    for (int p = 0; p * NR < nc; p++) {
        float *d = pack_b + (size_t)p * kc * NR;
        int jn = nc - p * NR < NR ? nc - p * NR : NR, j = j0 + p * NR;
        for (int k = 0; k < kc; k++, d += NR) {
            if (tb) /* op(B)[k][j] = B[j][k] */
                for (int r = 0; r < jn; r++)
                    d[r] = B[(size_t)(j + r) * ldb + k0 + k];
            else
                memcpy(d, B + (size_t)(k0 + k) * ldb + j, sizeof(float) * (size_t)jn);
            for (int r = jn; r < NR; r++)
                d[r] = 0.0f;
        }
    }
}

/* op(A) rows [i0, i0+mc), columns [k0, k0+kc) as ceil(mc/MR) panels of
 * kc x MR, zero-padded past mc. */
static void pack_a_block(const float *A, int lda, int ta, int i0, int mc, int k0, int kc)
{
    for (int p = 0; p * MR < mc; p++) {
        float *d = pack_a + (size_t)p * kc * MR;
        int in = mc - p * MR < MR ? mc - p * MR : MR, i = i0 + p * MR;
        for (int k = 0; k < kc; k++, d += MR) {
            for (int r = 0; r < in; r++)
                d[r] =
                    ta ? A[(size_t)(k0 + k) * lda + i + r] : A[(size_t)(i + r) * lda + k0 + k];
            for (int r = in; r < MR; r++)
                d[r] = 0.0f;
        }
    }
}

/* acc (MR x NR) = sum over k of pa[k][r] * pb[k][c], multiply then add (no
 * fused multiply-add), so the SIMD and plain versions agree bit for bit. */
static void micro_kernel(int kc, const float *pa, const float *pb, float *acc)
{
#ifdef __wasm_simd128__
    v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00;
    for (int k = 0; k < kc; k++, pa += MR, pb += NR) {
        v128_t b0 = wasm_v128_load(pb), b1 = wasm_v128_load(pb + 4);
        v128_t a = wasm_f32x4_splat(pa[0]);
        c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(a, b0));
        c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(a, b1));
        a = wasm_f32x4_splat(pa[1]);
        c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(a, b0));
        c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(a, b1));
        a = wasm_f32x4_splat(pa[2]);
        c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(a, b0));
        c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(a, b1));
        a = wasm_f32x4_splat(pa[3]);
        c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(a, b0));
        c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(a, b1));
    }
    wasm_v128_store(acc, c00), wasm_v128_store(acc + 4, c01);
    wasm_v128_store(acc + 8, c10), wasm_v128_store(acc + 12, c11);
    wasm_v128_store(acc + 16, c20), wasm_v128_store(acc + 20, c21);
    wasm_v128_store(acc + 24, c30), wasm_v128_store(acc + 28, c31);
#else
    for (int i = 0; i < MR * NR; i++)
        acc[i] = 0.0f;
    for (int k = 0; k < kc; k++, pa += MR, pb += NR)
        for (int r = 0; r < MR; r++)
            for (int c = 0; c < NR; c++)
                acc[r * NR + c] += pa[r] * pb[c];
#endif
}

/* C rows of M x N scaled by beta; beta 0 writes zeros (CBLAS: C is not read). */
static void scale_c(float *C, int ldc, int M, int N, float beta)
{
    if (beta == 1.0f) return;
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        if (beta == 0.0f)
            memset(c, 0, sizeof(float) * (size_t)N);
        else
            for (int j = 0; j < N; j++)
                c[j] *= beta;
    }
}

void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
                 int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc)
{
    ASSERT(order == CblasRowMajor);
    if (M <= 0 || N <= 0) return;
    scale_c(C, ldc, M, N, beta);
    if (K <= 0 || alpha == 0.0f) return;
    int at = ta != CblasNoTrans, bt = tb != CblasNoTrans;
    float acc[MR * NR];
    for (int j0 = 0; j0 < N; j0 += NC) {
        int nc = N - j0 < NC ? N - j0 : NC;
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            pack_b_block(B, ldb, bt, k0, kc, j0, nc);
            for (int i0 = 0; i0 < M; i0 += MC) {
                int mc = M - i0 < MC ? M - i0 : MC;
                pack_a_block(A, lda, at, i0, mc, k0, kc);
                for (int p = 0; p * MR < mc; p++)
                    for (int q = 0; q * NR < nc; q++) {
                        micro_kernel(kc, pack_a + (size_t)p * kc * MR,
                                     pack_b + (size_t)q * kc * NR, acc);
                        int rn = mc - p * MR < MR ? mc - p * MR : MR;
                        int cn = nc - q * NR < NR ? nc - q * NR : NR;
                        for (int r = 0; r < rn; r++) {
                            float *c = C + (size_t)(i0 + p * MR + r) * ldc + j0 + q * NR;
                            for (int x = 0; x < cn; x++)
                                c[x] += alpha * acc[r * NR + x];
                        }
                    }
            }
        }
    }
}

/* sum of a[i] * b[i], four partial sums per lane group */
static float dot(const float *a, const float *b, int n)
{
    int i = 0;
    float s = 0.0f;
#ifdef __wasm_simd128__
    v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0;
    for (; i + 8 <= n; i += 8) {
        s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
        s1 = wasm_f32x4_add(
            s1, wasm_f32x4_mul(wasm_v128_load(a + i + 4), wasm_v128_load(b + i + 4)));
    }
    s0 = wasm_f32x4_add(s0, s1);
    s = wasm_f32x4_extract_lane(s0, 0) + wasm_f32x4_extract_lane(s0, 1) +
        wasm_f32x4_extract_lane(s0, 2) + wasm_f32x4_extract_lane(s0, 3);
#endif
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void cblas_sgemv(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE trans, int m, int n, float alpha,
                 const float *A, int lda, const float *x, int incx, float beta, float *y,
                 int incy)
{
    ASSERT(order == CblasRowMajor && incx == 1 && incy == 1);
    if (m <= 0 || n <= 0) return;
    if (trans == CblasNoTrans) { /* y (m) = alpha * A x + beta * y */
        for (int i = 0; i < m; i++) {
            float v = alpha * dot(A + (size_t)i * lda, x, n);
            y[i] = beta == 0.0f ? v : v + beta * y[i];
        }
        return;
    }
    /* y (n) = alpha * A^T x + beta * y: rows of A added with weights x[i] */
    scale_c(y, n, 1, n, beta);
    for (int i = 0; i < m; i++) {
        float w = alpha * x[i];
        const float *a = A + (size_t)i * lda;
        int j = 0;
#ifdef __wasm_simd128__
        v128_t wv = wasm_f32x4_splat(w);
        for (; j + 4 <= n; j += 4)
            wasm_v128_store(y + j, wasm_f32x4_add(wasm_v128_load(y + j),
                                                  wasm_f32x4_mul(wv, wasm_v128_load(a + j))));
#endif
        for (; j < n; j++)
            y[j] += w * a[j];
    }
}

int openblas_get_num_threads(void)
{
    return 1;
}

void openblas_set_num_threads(int num_threads)
{
    (void)num_threads;
}

#endif /* INTERP_NO_BLAS */
