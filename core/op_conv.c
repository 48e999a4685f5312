/* op_conv.c - Conv forward and backward: im2col + one cblas_sgemm per image
 * and group (darknet's layout), col2im for the input gradient.
 * Kernels never allocate: the caller passes the column scratch buffer.
 */
#include <cblas.h>
#include <string.h>

#include "graph.h"

size_t conv_col_floats(const struct conv_params *p)
{
    return (size_t)(p->c / p->group) * p->kh * p->kw * (size_t)p->oh * p->ow;
}

/* A 1x1 kernel, stride 1, no padding reads the input as the column matrix. */
static int conv_is_pointwise(const struct conv_params *p)
{
    return p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pt == 0 && p->pl == 0 &&
           p->pb == 0 && p->pr == 0;
}

/* ---------------------------------------------------------------- im2col */
/* inp: cg x H x W (one group of one image) -> col: (cg*KH*KW) x (OH*OW) */
static void im2col(float *col, const float *inp, int cg, const struct conv_params *p)
{
    size_t ohw = (size_t)p->oh * p->ow;
    for (int c = 0; c < cg; c++) {
        const float *plane = inp + (size_t)c * p->h * p->w;
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                float *row = col + ((size_t)(c * p->kh + i) * p->kw + j) * ohw;
                for (int oy = 0; oy < p->oh; oy++) {
                    int y = oy * p->sh - p->pt + i * p->dh;
                    float *dst = row + (size_t)oy * p->ow;
                    if (y < 0 || y >= p->h) {
                        memset(dst, 0, sizeof(float) * p->ow);
                        continue;
                    }
                    const float *src = plane + (size_t)y * p->w;
                    int x0 = -p->pl + j * p->dw;
                    if (p->sw == 1) { /* zeros, a contiguous run, zeros */
                        int lo = x0 < 0 ? -x0 : 0, hi = p->w - x0 < p->ow ? p->w - x0 : p->ow;
                        if (hi < lo) hi = lo;
                        if (lo > p->ow) lo = hi = p->ow;
                        memset(dst, 0, sizeof(float) * (size_t)lo);
                        if (hi > lo)
                            memcpy(dst + lo, src + x0 + lo, sizeof(float) * (size_t)(hi - lo));
                        memset(dst + hi, 0, sizeof(float) * (size_t)(p->ow - hi));
                        continue;
                    }
                    for (int ox = 0; ox < p->ow; ox++) {
                        int x = x0 + ox * p->sw;
                        dst[ox] = (x >= 0 && x < p->w) ? src[x] : 0.0f;
                    }
                }
            }
    }
}

/* The adjoint of im2col: dinp (cg x H x W) += scatter of col. */
static void col2im_add(float *dinp, const float *col, int cg, const struct conv_params *p)
{
    size_t ohw = (size_t)p->oh * p->ow;
    for (int c = 0; c < cg; c++) {
        float *plane = dinp + (size_t)c * p->h * p->w;
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                const float *row = col + ((size_t)(c * p->kh + i) * p->kw + j) * ohw;
                for (int oy = 0; oy < p->oh; oy++) {
                    int y = oy * p->sh - p->pt + i * p->dh;
                    if (y < 0 || y >= p->h) continue;
                    float *dst = plane + (size_t)y * p->w;
                    const float *src = row + (size_t)oy * p->ow;
                    int x0 = -p->pl + j * p->dw;
                    for (int ox = 0; ox < p->ow; ox++) {
                        int x = x0 + ox * p->sw;
                        if (x >= 0 && x < p->w) dst[x] += src[ox];
                    }
                }
            }
    }
}

/* ---------------------------------------------------------------- Conv */
/* out[n, g*mg + m, :] = W_g (mg x K) * col_g (K x OH*OW) + bias, K = cg*KH*KW;
 * p->relu clamps at 0 in the same pass (ReLU'(0) semantics are irrelevant:
 * fused steps exist only in forward-only runs). */
void conv_forward(float *out, const float *inp, const float *weight, const float *bias,
                  const struct conv_params *p, int n, float *col)
{
    int cg = p->c / p->group, mg = p->m / p->group;
    int K = cg * p->kh * p->kw;
    int ohw = p->oh * p->ow;
    size_t in_item = (size_t)p->c * p->h * p->w, out_item = (size_t)p->m * ohw;
    int pointwise = conv_is_pointwise(p);
    for (int b = 0; b < n; b++)
        for (int g = 0; g < p->group; g++) {
            const float *in_g = inp + b * in_item + (size_t)g * cg * p->h * p->w;
            float *out_g = out + b * out_item + (size_t)g * mg * ohw;
            const float *w_g = weight + (size_t)g * mg * K;
            const float *cols = in_g;
            if (!pointwise) {
                im2col(col, in_g, cg, p);
                cols = col;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mg, ohw, K, 1.0f, w_g, K,
                        cols, ohw, 0.0f, out_g, ohw);
            if (bias ||
                p->relu) /* one pass while the block is warm: bias, then ReLU if fused */
                for (int m = 0; m < mg; m++) {
                    float v = bias ? bias[g * mg + m] : 0.0f;
                    float *o = out_g + (size_t)m * ohw;
                    if (p->relu)
                        for (int k = 0; k < ohw; k++)
                            o[k] = o[k] + v > 0.0f ? o[k] + v : 0.0f;
                    else
                        for (int k = 0; k < ohw; k++)
                            o[k] += v;
                }
        }
}

/* dout:   n x M x OH x OW
 * weight: M x C/group x KH x KW
 * dinp:   n x C x H x W, accumulated: dcol_g = W_g^T (K x mg) * dout_g, col2im. */
void conv_backward(float *dinp, const float *dout, const float *weight,
                   const struct conv_params *p, int n, float *col)
{
    if (!dinp) return;
    int cg = p->c / p->group, mg = p->m / p->group;
    int K = cg * p->kh * p->kw;
    int ohw = p->oh * p->ow;
    size_t in_item = (size_t)p->c * p->h * p->w, out_item = (size_t)p->m * ohw;
    int pointwise = conv_is_pointwise(p);
    for (int b = 0; b < n; b++)
        for (int g = 0; g < p->group; g++) {
            float *din_g = dinp + b * in_item + (size_t)g * cg * p->h * p->w;
            const float *dout_g = dout + b * out_item + (size_t)g * mg * ohw;
            const float *w_g = weight + (size_t)g * mg * K;
            if (pointwise) { /* the column matrix is the input itself: accumulate in place */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, ohw, mg, 1.0f, w_g, K,
                            dout_g, ohw, 1.0f, din_g, ohw);
                continue;
            }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, ohw, mg, 1.0f, w_g, K,
                        dout_g, ohw, 0.0f, col, ohw);
            col2im_add(din_g, col, cg, p);
        }
}
