/* sgemm.h - a small blocked single-precision GEMM/GEMV behind the CBLAS
 * calls the engine makes, for builds without a BLAS (the WebAssembly build:
 * `make web` defines INTERP_NO_BLAS). op_conv.c and op_dense.c include this
 * header instead of <cblas.h> under that switch; native builds never compile
 * it in and keep OpenBLAS.
 *
 *     // C (M x N) = alpha * A (M x K) * B^T (B: N x K) + beta * C, row-major
 *     cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K,
 *                 B, K, 0.0f, C, N);
 *
 * Only CblasRowMajor is implemented (the engine uses nothing else).
 */
#ifndef INTERP_SGEMM_H
#define INTERP_SGEMM_H

/* CBLAS's enumerations, with CBLAS's values. */
enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112, CblasConjTrans = 113 };

/* C = alpha * op(A) * op(B) + beta * C with op(A) M x K, op(B) K x N, C M x N,
 * all row-major with leading dimensions lda, ldb, ldc. beta 0 overwrites C
 * (NaNs in C do not survive), as CBLAS specifies. Blocked over K and N with
 * packed panels and a 4 x 8 register block (WebAssembly SIMD when the build
 * has -msimd128, plain C otherwise). Single-threaded, never allocates (its
 * packing buffers are static). */
void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
                 int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc);

/* y = alpha * op(A) * x + beta * y; A is m x n row-major (lda), op(A) is A
 * (NoTrans: y has m entries, x n) or A^T (Trans: y has n, x m); incx and incy
 * must be 1. */
void cblas_sgemv(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE trans, int m, int n, float alpha,
                 const float *A, int lda, const float *x, int incx, float beta, float *y,
                 int incy);

/* OpenBLAS's thread controls, which core/model.c calls around threaded
 * forwards: this BLAS has one thread. */
int openblas_get_num_threads(void);
void openblas_set_num_threads(int num_threads);

#endif
