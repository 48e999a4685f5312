/* op_norm.c - BatchNormalization in inference mode (running statistics),
 * prepared into a per-channel affine map y = a*x + b, forward and backward.
 */
#include "graph.h"

/* inp, out: n x C x plane */
void batchnorm_forward(float *out, const float *inp, const struct bn_params *p, int n)
{
    int planes = n * p->c;
    for (int bc = 0; bc < planes; bc++) {
        int c = bc % p->c;
        size_t off = (size_t)bc * p->plane;
        float a = p->a[c], s = p->b[c];
        for (size_t i = 0; i < p->plane; i++)
            out[off + i] = a * inp[off + i] + s;
    }
}

/* dout n x C x plane -> dinp n x C x plane (accumulated): dx = a * dy */
void batchnorm_backward(float *dinp, const float *dout, const struct bn_params *p, int n)
{
    if (!dinp) return;
    for (int b = 0; b < n; b++)
        for (int c = 0; c < p->c; c++) {
            size_t off = ((size_t)b * p->c + c) * p->plane;
            float a = p->a[c];
            for (size_t i = 0; i < p->plane; i++)
                dinp[off + i] += a * dout[off + i];
        }
}
