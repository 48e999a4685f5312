/* op_dense.c - Gemm (transB, alpha, beta with a broadcast bias) and MatMul
 * with a constant right operand, as one sgemm over all batch rows.
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
