/* op_dense.c - Gemm (transB, alpha, beta with a broadcast bias) and MatMul
 * with a constant right operand, as one sgemm over all batch rows (or, in
 * the threaded forward, one sgemm/sgemv per block of output columns).
 */
#include <cblas.h>

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

/* Output columns [j0, j1) of all R rows. One row (a single image through a
 * dense layer) is a matrix-vector product: sgemv streams the weights once,
 * where sgemm would first copy all of them into its packed layout. */
static void gemm_cols(float *out, const float *inp, const float *weight,
                      const struct gemm_params *p, int R, int j0, int j1)
{
    int cols = j1 - j0;
    if (cols <= 0) return;
    if (R == 1) {
        if (p->trans_b) /* W: M x K, y[j] = alpha * W[j,:] . x */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, cols, p->k, p->alpha,
                        weight + (size_t)j0 * p->k, p->k, inp, 1, 0.0f, out + j0, 1);
        else /* W: K x M, y = alpha * W[:, j0:j1]^T x */
            cblas_sgemv(CblasRowMajor, CblasTrans, p->k, cols, p->alpha, weight + j0, p->m, inp,
                        1, 0.0f, out + j0, 1);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, p->trans_b ? CblasTrans : CblasNoTrans, R,
                    cols, p->k, p->alpha, inp, p->k,
                    p->trans_b ? weight + (size_t)j0 * p->k : weight + j0,
                    p->trans_b ? p->k : p->m, 0.0f, out + j0, p->m);
    }
    if (!p->bias) return;
    for (int r = 0; r < R; r++) {
        float *o = out + (size_t)r * p->m;
        for (int j = j0; j < j1; j++)
            o[j] += p->bias_scalar ? p->bias[0] : p->bias[j];
    }
}

/* Output columns go in fixed blocks of GEMM_COLS_BLOCK, one sgemm (or sgemv)
 * each, dealt to the threads in turn: OpenBLAS may round a column differently
 * in a call of another size, so blocks that followed the thread count would
 * make a result depend on --threads, and the shards of a sharded run (issue
 * 18), each with its own thread count, must reproduce one run bit for bit. */
#define GEMM_COLS_BLOCK 32

void gemm_forward_part(float *out, const float *inp, const float *weight,
                       const struct gemm_params *p, int n, int tid, int nthreads)
{
    int blocks = (p->m + GEMM_COLS_BLOCK - 1) / GEMM_COLS_BLOCK;
    for (int b = tid; b<blocks; b += nthreads> 0 ? nthreads : 1) {
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
