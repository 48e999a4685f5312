/* op_dense.c - Gemm (transB, alpha, beta with a broadcast bias) and MatMul
 * with a constant right operand: the model runs' forward as one sgemv per
 * row and block of output columns (a row's result the same in any batch),
 * gemm_forward (occlusion's copies) and the backward as one sgemm over all
 * batch rows.
 */
#ifdef INTERP_NO_BLAS /* the WebAssembly build: core/sgemm.c */
#include "sgemm.h"
#else
#include <cblas.h>
#endif

#include "graph.h"

/* inp n x rows x K, weight K x M (M x K when trans_b) -> out n x rows x M:
 * out = alpha * inp * W' + beta * C (p->bias already holds beta * C). */
void gemm_forward(float *out, const float *inp, const float *weight,
                  const struct gemm_params *p, int n)
{
    int R = n * p->rows;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, p->trans_b ? CblasTrans : CblasNoTrans, R, p->m,
                p->k, p->alpha, inp, p->k, weight, p->trans_b ? p->k : p->m, 0.0f, out, p->m);
    if (!p->bias) return;
    for (int r = 0; r < R; r++) {
        float *o = out + (size_t)r * p->m;
        if (p->bias_scalar)
            for (int j = 0; j < p->m; j++)
                o[j] += p->bias[0];
        else
            for (int j = 0; j < p->m; j++)
                o[j] += p->bias[j];
    }
}

/* Output columns [j0, j1) of all R rows, one sgemv per row: each row is a
 * call of its own, of the same shape whatever the batch, so its result
 * depends on that row alone. One sgemm over the rows rounded a row
 * differently with other rows beside it (OpenBLAS picks a small-matrix
 * kernel or its blocked one by the call's size, and they sum in other
 * orders: up to 4e-6 on the Fashion-MNIST model between a batch of 64 and
 * one of 63), which made an image's latent depend on --batch and on which
 * images shared its batch. The weights block stays in cache from row to
 * row; for a 128-d latent over 16384 inputs this costs about what an sgemm
 * of 16 rows at a time does, and a single row is as fast as before. */
static void gemm_cols(float *out, const float *inp, const float *weight,
                      const struct gemm_params *p, int R, int j0, int j1)
{
    int cols = j1 - j0;
    if (cols <= 0) return;
    for (int r = 0; r < R; r++) {
        const float *x = inp + (size_t)r * p->k;
        float *y = out + (size_t)r * p->m;
        if (p->trans_b) /* W: M x K, y[j] = alpha * W[j,:] . x */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, cols, p->k, p->alpha,
                        weight + (size_t)j0 * p->k, p->k, x, 1, 0.0f, y + j0, 1);
        else /* W: K x M, y = alpha * W[:, j0:j1]^T x */
            cblas_sgemv(CblasRowMajor, CblasTrans, p->k, cols, p->alpha, weight + j0, p->m, x,
                        1, 0.0f, y + j0, 1);
        if (!p->bias) continue;
        for (int j = j0; j < j1; j++)
            y[j] += p->bias_scalar ? p->bias[0] : p->bias[j];
    }
}

void gemm_forward_part(float *out, const float *inp, const float *weight,
                       const struct gemm_params *p, int n, int tid, int nthreads)
{
    /* blocks of at least 16 columns; threads beyond the blocks idle */
    int blocks = nthreads < (p->m + 15) / 16 ? nthreads : (p->m + 15) / 16;
    if (blocks < 1) blocks = 1;
    if (tid >= blocks) return;
    int j0 = (int)((long)p->m * tid / blocks), j1 = (int)((long)p->m * (tid + 1) / blocks);
    gemm_cols(out, inp, weight, p, n * p->rows, j0, j1);
}

/* dout n x rows x M, weight as in the forward -> dinp n x rows x K
 * (accumulated): dinp += alpha * dout * W'^T. */
void gemm_backward(float *dinp, const float *dout, const float *weight,
                   const struct gemm_params *p, int n)
{
    if (!dinp) return;
    int R = n * p->rows;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, p->trans_b ? CblasNoTrans : CblasTrans, R, p->k,
                p->m, p->alpha, dout, p->m, weight, p->trans_b ? p->k : p->m, 1.0f, dinp, p->k);
}
