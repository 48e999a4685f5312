/* test_sgemm.c - the blocked sgemm/sgemv of core/sgemm.c (the WebAssembly
 * build's stand-in for OpenBLAS; here its plain-C micro-kernel, which the SIMD
 * one matches operation for operation) against OpenBLAS on random shapes,
 * every transpose, alpha and beta (0 overwrites NaN), leading dimensions
 * wider than the rows, and sizes across the K, N and M blocks.
 */
#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "../core/rng.h"

/* test_sgemm_impl.c: the same arguments, CBLAS's enum values as ints */
void lite_sgemm(int order, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc);
void lite_sgemv(int order, int trans, int m, int n, float alpha, const float *A, int lda,
                const float *x, int incx, float beta, float *y, int incy);

static float *randv(struct rng *r, size_t n)
{
    float *v = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(rng_uniform(r) * 2 - 1);
    return v;
}

Test(sgemm, against_openblas)
{
    struct rng r;
    rng_seed(&r, 7);
    const int dims[][3] = {
        {1, 1, 1},      {3, 5, 7},      {4, 8, 256}, {5, 9, 257},   {64, 128, 16384 / 64},
        {65, 513, 300}, {1, 128, 2000}, {70, 3, 1},  {17, 600, 33}, {128, 40, 700}};
    for (size_t d = 0; d < sizeof dims / sizeof *dims; d++)
        for (int t = 0; t < 4; t++) {
            int M = dims[d][0], N = dims[d][1], K = dims[d][2], ta = t & 1, tb = t >> 1;
            int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
            float *A = randv(&r, (size_t)(ta ? K : M) * lda);
            float *B = randv(&r, (size_t)(tb ? N : K) * ldb);
            float *C0 = randv(&r, (size_t)M * ldc), *C1 = malloc(sizeof(float) * M * ldc);
            float alpha = t == 3 ? -0.5f : 1.0f, beta = (float)(d % 3) * 0.5f; /* 0, 0.5, 1 */
            if (beta == 0.0f) C0[0] = NAN; /* beta 0: C is not read */
            for (int i = 0; i < M * ldc; i++)
                C1[i] = C0[i];
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                        tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta,
                        C0, ldc);
            lite_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                       tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C1,
                       ldc);
            double worst = 0;
            int at = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < ldc; j++) {
                    double e = fabs((double)C0[i * ldc + j] - C1[i * ldc + j]);
                    if (!(e <= worst)) worst = e, at = i * ldc + j;
                }
            /* sums of K products of numbers in [-1, 1]: rounding ~ K * 2^-24 */
            cr_expect(worst <= 1e-6 * (K + 4), "%dx%dx%d ta %d tb %d beta %g: worst %.3g at %d",
                      M, N, K, ta, tb, beta, worst, at);
            free(A), free(B), free(C0), free(C1);
        }
}

Test(sgemm, sgemv_against_openblas)
{
    struct rng r;
    rng_seed(&r, 8);
    const int dims[][2] = {{1, 1}, {3, 17}, {128, 16384}, {10, 128}, {33, 9}};
    for (size_t d = 0; d < sizeof dims / sizeof *dims; d++)
        for (int t = 0; t < 2; t++) {
            int m = dims[d][0], n = dims[d][1], lda = n + 3, ny = t ? n : m, nx = t ? m : n;
            float *A = randv(&r, (size_t)m * lda), *x = randv(&r, (size_t)nx);
            float *y0 = randv(&r, (size_t)ny), *y1 = malloc(sizeof(float) * ny);
            float beta = d % 2 ? 0.0f : 0.5f;
            for (int i = 0; i < ny; i++)
                y1[i] = y0[i];
            cblas_sgemv(CblasRowMajor, t ? CblasTrans : CblasNoTrans, m, n, 0.75f, A, lda, x, 1,
                        beta, y0, 1);
            lite_sgemv(CblasRowMajor, t ? CblasTrans : CblasNoTrans, m, n, 0.75f, A, lda, x, 1,
                       beta, y1, 1);
            double worst = 0;
            for (int i = 0; i < ny; i++)
                worst = fmax(worst, fabs((double)y0[i] - y1[i]));
            cr_expect(worst <= 1e-6 * (nx + 4), "sgemv %dx%d trans %d: worst %.3g", m, n, t,
                      worst);
            free(A), free(x), free(y0), free(y1);
        }
}
