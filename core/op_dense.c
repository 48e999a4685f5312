/* op_dense.c - Gemm (transB, alpha, beta with a broadcast bias) and MatMul
 * with a constant right operand: the model runs' forward over weights packed
 * once per run, each output summed in one fixed order (a row's result the
 * same in any batch and with any thread count), gemm_forward (occlusion's
 * copies), and the input gradient over the weights in place, each input's
 * sum in one fixed order too (gemm_backward: one sgemm, the reference).
 */
#ifdef INTERP_NO_BLAS /* the WebAssembly build: core/sgemm.c */
#include "sgemm.h"
#else
#include <cblas.h>
#endif

#include <stdlib.h>
#include <string.h>

#include "conv_direct.h"
#include "graph.h"
#include "util.h"

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

/* The model runs' forward: every output summed over k in one fixed order
 * (k ascending, one chain of multiply-adds per output, from 0), the same
 * whatever the batch, the rows beside it and the thread count. An image's
 * latent must not change with --batch, with the images --on-error skip left
 * out of its batch or with the shard that ran it; one sgemm over the rows
 * rounded a row differently with other rows beside it (OpenBLAS picks a
 * small-matrix or a blocked kernel by the call's size: up to 4e-6 apart on
 * the Fashion-MNIST model), and one sgemv per row, which was exact, cost
 * 13 ms for 64 rows of the seed model's 16384 x 128 layer.
 *
 * The weights are packed once per run (gemm_pack): the output columns in
 * blocks of GEMM_NB, each block K x GEMM_NB (row k holds the block's columns
 * of input k, zero-padded past M). Four rows at a time go through a block in
 * chunks of GEMM_KC inputs (the chunk stays in cache for every row), their
 * running sums kept in a buffer between chunks (a float stored and read back
 * is the same float, so the chain is unbroken); the rows left over, and a
 * batch of one, go through four blocks at once over all of K (eight chains,
 * enough to keep the multiply-add units busy). Both do the same operations
 * in the same order, so a row's result is the same either way. */
#define GEMM_NB 16
#define GEMM_KC 512

size_t gemm_pack_floats(const struct gemm_params *p)
{
    size_t blocks = ((size_t)p->m + GEMM_NB - 1) / GEMM_NB;
    return blocks * GEMM_NB * (size_t)p->k;
}

void gemm_pack(float *pk, const float *w, const struct gemm_params *p)
{
    int blocks = (p->m + GEMM_NB - 1) / GEMM_NB;
    for (int cb = 0; cb < blocks; cb++) {
        float *b = pk + (size_t)cb * p->k * GEMM_NB;
        int c0 = cb * GEMM_NB, nc = p->m - c0 < GEMM_NB ? p->m - c0 : GEMM_NB;
        if (nc < GEMM_NB) memset(b, 0, sizeof(float) * (size_t)p->k * GEMM_NB);
        for (int k = 0; k < p->k; k++)
            for (int c = 0; c < nc; c++)
                b[(size_t)k * GEMM_NB + c] =
                    p->trans_b ? w[(size_t)(c0 + c) * p->k + k] : w[(size_t)k * p->m + c0 + c];
    }
}

/* Any CPU: one row, one block, the chains in acc. */
static void dense_row(float *y, const float *x, const float *b, int K)
{
    float acc[GEMM_NB] = {0};
    for (int k = 0; k < K; k++)
        for (int c = 0; c < GEMM_NB; c++)
            acc[c] += x[k] * b[(size_t)k * GEMM_NB + c];
    memcpy(y, acc, sizeof acc);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(INTERP_NO_BLAS)
#include <immintrin.h>
#define DENSE_X86 1

/* Four rows' running sums t (in and out) over steps i in [i0, i1): t[r] +=
 * x[r][i] * b[i * stride .. + GEMM_NB], one multiply-add chain per sum. The
 * forward's blocks (stride GEMM_NB: rows r0..r0+3 through inputs
 * [k0, k0 + kc) of a packed block) and the backward's (stride K: rows of
 * the output gradient through the M weight rows of 16 inputs, each row's
 * next line fetched `ahead` floats on; 0: none). Rows past R repeat the
 * last (computed, not written). */
__attribute__((target("avx2,fma"))) static void dense_rows4(float t[4][GEMM_NB],
                                                            const float *const x[4],
                                                            const float *b, size_t stride,
                                                            int i0, int i1, int ahead)
{
    __m256 a00 = _mm256_loadu_ps(t[0]), a01 = _mm256_loadu_ps(t[0] + 8);
    __m256 a10 = _mm256_loadu_ps(t[1]), a11 = _mm256_loadu_ps(t[1] + 8);
    __m256 a20 = _mm256_loadu_ps(t[2]), a21 = _mm256_loadu_ps(t[2] + 8);
    __m256 a30 = _mm256_loadu_ps(t[3]), a31 = _mm256_loadu_ps(t[3] + 8);
    const float *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
    for (int i = i0; i < i1; i++) {
        const float *bk = b + (size_t)i * stride;
        __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8), v;
        if (ahead) _mm_prefetch((const char *)(bk + ahead), _MM_HINT_T0);
        v = _mm256_broadcast_ss(x0 + i);
        a00 = _mm256_fmadd_ps(v, b0, a00), a01 = _mm256_fmadd_ps(v, b1, a01);
        v = _mm256_broadcast_ss(x1 + i);
        a10 = _mm256_fmadd_ps(v, b0, a10), a11 = _mm256_fmadd_ps(v, b1, a11);
        v = _mm256_broadcast_ss(x2 + i);
        a20 = _mm256_fmadd_ps(v, b0, a20), a21 = _mm256_fmadd_ps(v, b1, a21);
        v = _mm256_broadcast_ss(x3 + i);
        a30 = _mm256_fmadd_ps(v, b0, a30), a31 = _mm256_fmadd_ps(v, b1, a31);
    }
    _mm256_storeu_ps(t[0], a00), _mm256_storeu_ps(t[0] + 8, a01);
    _mm256_storeu_ps(t[1], a10), _mm256_storeu_ps(t[1] + 8, a11);
    _mm256_storeu_ps(t[2], a20), _mm256_storeu_ps(t[2] + 8, a21);
    _mm256_storeu_ps(t[3], a30), _mm256_storeu_ps(t[3] + 8, a31);
}

/* One row through nb (1..4) blocks starting at b (blocks `stride` floats
 * apart) over all K inputs; y gets nb x GEMM_NB sums. A missing block
 * repeats the last (computed, not written). */
__attribute__((target("avx2,fma"))) static void
dense_row4(float *y, const float *x, const float *b, size_t stride, int nb, int K)
{
    const float *b0 = b, *b1 = b + (nb > 1 ? stride : 0),
                *b2 = b + (nb > 2 ? 2 : nb - 1) * stride,
                *b3 = b + (nb > 3 ? 3 : nb - 1) * stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
           a7 = a0;
    for (int k = 0; k < K; k++) {
        size_t o = (size_t)k * GEMM_NB;
        __m256 v = _mm256_broadcast_ss(x + k);
        a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b0 + o), a0);
        a1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b0 + o + 8), a1);
        a2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b1 + o), a2);
        a3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b1 + o + 8), a3);
        a4 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b2 + o), a4);
        a5 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b2 + o + 8), a5);
        a6 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b3 + o), a6);
        a7 = _mm256_fmadd_ps(v, _mm256_loadu_ps(b3 + o + 8), a7);
    }
    float t[4 * GEMM_NB];
    _mm256_storeu_ps(t, a0), _mm256_storeu_ps(t + 8, a1);
    _mm256_storeu_ps(t + 16, a2), _mm256_storeu_ps(t + 24, a3);
    _mm256_storeu_ps(t + 32, a4), _mm256_storeu_ps(t + 40, a5);
    _mm256_storeu_ps(t + 48, a6), _mm256_storeu_ps(t + 56, a7);
    memcpy(y, t, sizeof(float) * (size_t)nb * GEMM_NB);
}

/* Blocks [cb0, cb1) of all R rows into sums (R x (cb1 - cb0) x GEMM_NB). */
static void dense_blocks_avx2(float *sums, const float *inp, const float *pk,
                              const struct gemm_params *p, int R, int cb0, int cb1)
{
    int nb = cb1 - cb0, R4 = R / 4 * 4;
    size_t stride = (size_t)p->k * GEMM_NB, ld = (size_t)nb * GEMM_NB;
    for (int cb = cb0; cb < cb1; cb++) {
        const float *b = pk + (size_t)cb * stride;
        for (int r0 = 0; r0 < R4; r0 += 4) {
            const float *x[4];
            float t[4][GEMM_NB] = {{0}};
            for (int r = 0; r < 4; r++)
                x[r] = inp + (size_t)(r0 + r) * p->k;
            for (int k0 = 0; k0 < p->k; k0 += GEMM_KC) {
                if (k0)
                    for (int r = 0; r < 4; r++)
                        memcpy(t[r],
                               sums + (size_t)(r0 + r) * ld + (size_t)(cb - cb0) * GEMM_NB,
                               sizeof t[r]);
                dense_rows4(t, x, b, GEMM_NB, k0,
                            k0 + (p->k - k0 < GEMM_KC ? p->k - k0 : GEMM_KC), 0);
                for (int r = 0; r < 4; r++)
                    memcpy(sums + (size_t)(r0 + r) * ld + (size_t)(cb - cb0) * GEMM_NB, t[r],
                           sizeof t[r]);
            }
        }
    }
    for (int r = R4; r < R; r++)
        for (int cb = cb0; cb < cb1; cb += 4)
            dense_row4(sums + (size_t)r * ld + (size_t)(cb - cb0) * GEMM_NB,
                       inp + (size_t)r * p->k, pk + (size_t)cb * stride, stride,
                       cb1 - cb < 4 ? cb1 - cb : 4, p->k);
}
#endif

void gemm_forward_part(float *out, const float *inp, const float *pk,
                       const struct gemm_params *p, int n, int tid, int nthreads)
{
    int blocks = (p->m + GEMM_NB - 1) / GEMM_NB, nt = nthreads > 0 ? nthreads : 1;
    int cb0 = (int)((long)blocks * tid / nt), cb1 = (int)((long)blocks * (tid + 1) / nt);
    int R = n * p->rows, nb = cb1 - cb0;
    if (nb <= 0) return;
    size_t ld = (size_t)nb * GEMM_NB;
    float *sums = xmalloc(sizeof(float) * (size_t)R * ld);
#ifdef DENSE_X86
    if (conv_isa_default() >= CONV_ISA_AVX2) /* the conv kernels' level (INTERP_CONV_ISA) */
        dense_blocks_avx2(sums, inp, pk, p, R, cb0, cb1);
    else
#endif
        for (int r = 0; r < R; r++)
            for (int cb = cb0; cb < cb1; cb++)
                dense_row(sums + (size_t)r * ld + (size_t)(cb - cb0) * GEMM_NB,
                          inp + (size_t)r * p->k, pk + (size_t)cb * p->k * GEMM_NB, p->k);
    int j0 = cb0 * GEMM_NB, j1 = cb1 * GEMM_NB < p->m ? cb1 * GEMM_NB : p->m;
    for (int r = 0; r < R; r++) { /* alpha and the bias, once the sums are complete */
        float *y = out + (size_t)r * p->m;
        const float *s = sums + (size_t)r * ld;
        for (int j = j0; j < j1; j++)
            y[j] = p->alpha * s[j - j0] +
                   (p->bias ? (p->bias_scalar ? p->bias[0] : p->bias[j]) : 0.0f);
    }
    free(sums);
}

/* ---------------------------------------------------------------- backward
 * The model runs' input gradient, dinp += alpha * dout * W'^T, over the
 * weights as M rows of K (row j: output j's weight for every input): the
 * graph's own array with trans_b, else a transposed copy made once per run
 * (gemm_bwd_pack). Each input's sum runs over j ascending, one chain of
 * multiply-adds from 0, whatever the batch, the rows beside it and the
 * thread count. One sgemm over the rows (gemm_backward) repacked the 8 MB of
 * the seed model's 16384 x 128 layer on every call: 0.17 ms an image of
 * `interp saliency` at its batch of 8; this reads the weights in place. */
#define GEMM_BKB GEMM_NB /* columns (inputs) of a block: dense_rows4's width */
/* The weights' rows are K floats apart, too many streams for the hardware
 * prefetcher: each step fetches its row's line two blocks ahead (a prefetch
 * past the array's end is harmless). On the seed model at batch 8: 0.077 ms
 * an image; 0.126 without, 0.11 one block ahead, 0.085 four. */
#define GEMM_BPF (2 * GEMM_BKB)

size_t gemm_bwd_pack_floats(const struct gemm_params *p)
{
    return p->trans_b ? 0 : (size_t)p->k * (size_t)p->m;
}

void gemm_bwd_pack(float *wt, const float *w, const struct gemm_params *p)
{
    for (int k = 0; k < p->k; k++)
        for (int j = 0; j < p->m; j++)
            wt[(size_t)j * p->k + k] = w[(size_t)k * p->m + j];
}

/* Any CPU: row g's sums for inputs [k0, k0 + kc) (kc <= GEMM_BKB). */
static void dense_bwd_row(float *s, const float *g, const float *wt, size_t K, int M, int kc)
{
    float acc[GEMM_BKB] = {0};
    for (int j = 0; j < M; j++)
        for (int c = 0; c < kc; c++)
            acc[c] += g[j] * wt[(size_t)j * K + c];
    memcpy(s, acc, sizeof(float) * (size_t)kc);
}

#ifdef DENSE_X86
/* The tail block at dense_rows4's level: a multiply-add per step, as there. */
__attribute__((target("avx2,fma"))) static void
dense_bwd_row_fma(float *s, const float *g, const float *wt, size_t K, int M, int kc)
{
    float acc[GEMM_BKB] = {0};
    for (int j = 0; j < M; j++)
        for (int c = 0; c < kc; c++)
            acc[c] = __builtin_fmaf(g[j], wt[(size_t)j * K + c], acc[c]);
    memcpy(s, acc, sizeof(float) * (size_t)kc);
}
#endif

void gemm_backward_part(float *dinp, const float *dout, const float *wt,
                        const struct gemm_params *p, int n, int tid, int nthreads)
{
    int nt = nthreads > 0 ? nthreads : 1, blocks = (p->k + GEMM_BKB - 1) / GEMM_BKB;
    int cb0 = (int)((long)blocks * tid / nt), cb1 = (int)((long)blocks * (tid + 1) / nt);
    int R = n * p->rows, M = p->m;
    size_t K = (size_t)p->k;
#ifdef DENSE_X86
    int avx2 = conv_isa_default() >= CONV_ISA_AVX2; /* the conv kernels' level */
#endif
    for (int cb = cb0; cb < cb1; cb++) {
        size_t k0 = (size_t)cb * GEMM_BKB;
        int kc = K - k0 < GEMM_BKB ? (int)(K - k0) : GEMM_BKB;
        for (int r0 = 0; r0 < R; r0 += 4) {
            int rn = R - r0 < 4 ? R - r0 : 4;
            float s[4][GEMM_BKB];
#ifdef DENSE_X86
            if (avx2 && kc == GEMM_BKB) {
                const float *g[4];
                for (int r = 0; r < 4; r++)
                    g[r] = dout + (size_t)(r0 + (r < rn ? r : rn - 1)) * M;
                memset(s, 0, sizeof s);
                dense_rows4(s, g, wt + k0, K, 0, M, GEMM_BPF);
            } else if (avx2)
                for (int r = 0; r < rn; r++)
                    dense_bwd_row_fma(s[r], dout + (size_t)(r0 + r) * M, wt + k0, K, M, kc);
            else
#endif
                for (int r = 0; r < rn; r++)
                    dense_bwd_row(s[r], dout + (size_t)(r0 + r) * M, wt + k0, K, M, kc);
            for (int r = 0; r < rn; r++) {
                float *d = dinp + (size_t)(r0 + r) * K + k0;
                for (int c = 0; c < kc; c++)
                    d[c] += p->alpha * s[r][c];
            }
        }
    }
}

/* dout n x rows x M, weight as in the forward -> dinp n x rows x K
 * (accumulated): dinp += alpha * dout * W'^T, one sgemm (the tests'
 * reference for gemm_backward_part). */
void gemm_backward(float *dinp, const float *dout, const float *weight,
                   const struct gemm_params *p, int n)
{
    if (!dinp) return;
    int R = n * p->rows;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, p->trans_b ? CblasNoTrans : CblasTrans, R, p->k,
                p->m, p->alpha, dout, p->m, weight, p->trans_b ? p->k : p->m, 1.0f, dinp, p->k);
}
