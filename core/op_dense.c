/* op_dense.c - Gemm (transB, alpha, beta with a broadcast bias) and MatMul
 * with a constant right operand: the model runs' forward as one sgemv per
 * row and block of output columns (a row's result the same in any batch and
 * with any thread count), gemm_forward (occlusion's copies) and the backward
 * as one sgemm over all batch rows.
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
 * one of 63), which made an image's latent depend on --batch, on the images
 * that --on-error skip left out of its batch and on which shard ran it. The
 * weights block (32 columns) stays in cache from row to row; for a 128-d
 * latent over 16384 inputs this costs about what an sgemm of 16 rows at a
 * time does, and a single row is as fast as before. */
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

/* Output columns go in fixed blocks of GEMM_COLS_BLOCK, one sgemv per row
 * each, dealt to the threads in turn: OpenBLAS may round a column differently
 * in a call of another size, so blocks that followed the thread count would
 * make a result depend on --threads, and the shards of a sharded run (issue
 * 18), each with its own thread count, must reproduce one run bit for bit. */
#define GEMM_COLS_BLOCK 32

void gemm_forward_part(float *out, const float *inp, const float *weight,
                       const struct gemm_params *p, int n, int tid, int nthreads)
{
    int blocks = (p->m + GEMM_COLS_BLOCK - 1) / GEMM_COLS_BLOCK,
        step = nthreads > 0 ? nthreads : 1;
    for (int b = tid; b < blocks; b += step) {
        int j0 = b * GEMM_COLS_BLOCK,
            j1 = j0 + GEMM_COLS_BLOCK < p->m ? j0 + GEMM_COLS_BLOCK : p->m;
        gemm_cols(out, inp, weight, p, n * p->rows, j0, j1);
    }
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
