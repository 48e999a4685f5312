/* op_activation.c - pointwise activations (Relu, LeakyRelu, Sigmoid, Tanh,
 * Clip, Elu, Selu, Softplus, Softsign, HardSigmoid, Exp, Gelu) and Softmax,
 * forward and backward. Derivatives at kinks follow PyTorch: ReLU'(0) = 0,
 * LeakyReLU'(0) = alpha, Clip passes the gradient only strictly inside
 * (lo, hi) (hardtanh's rule, which ReLU6 exports as), ELU'(0) = alpha,
 * HardSigmoid passes it only strictly inside its linear part.
 */
#include <math.h>

#define SQRT_2_OVER_PI 0.7978845608028654 /* sqrt(2 / pi), the tanh form of GELU */
#define INV_SQRT_2PI   0.3989422804014327 /* the normal density at 0 */

#include "graph.h"

/* ---------------------------------------------------------------- pointwise */
/* inp, out: count floats (n items) */
void act_forward(enum op_type op, float *out, const float *inp, size_t count,
                 const struct act_params *p)
{
    switch (op) {
    case OP_RELU:
        for (size_t i = 0; i < count; i++)
            out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
        break;
    case OP_LEAKYRELU:
        for (size_t i = 0; i < count; i++)
            out[i] = inp[i] > 0.0f ? inp[i] : p->alpha * inp[i];
        break;
    case OP_SIGMOID:
        for (size_t i = 0; i < count; i++)
            out[i] = 1.0f / (1.0f + expf(-inp[i]));
        break;
    case OP_TANH:
        for (size_t i = 0; i < count; i++)
            out[i] = tanhf(inp[i]);
        break;
    case OP_CLIP:
        for (size_t i = 0; i < count; i++) {
            float v = inp[i];
            out[i] = v < p->lo ? p->lo : v > p->hi ? p->hi : v;
        }
        break;
    case OP_ELU:
        for (size_t i = 0; i < count; i++)
            out[i] = inp[i] > 0.0f ? inp[i] : p->alpha * expm1f(inp[i]);
        break;
    case OP_SELU:
        for (size_t i = 0; i < count; i++)
            out[i] = p->gamma * (inp[i] > 0.0f ? inp[i] : p->alpha * expm1f(inp[i]));
        break;
    case OP_SOFTPLUS: /* log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|) */
        for (size_t i = 0; i < count; i++)
            out[i] = fmaxf(inp[i], 0.0f) + log1pf(expf(-fabsf(inp[i])));
        break;
    case OP_SOFTSIGN:
        for (size_t i = 0; i < count; i++)
            out[i] = inp[i] / (1.0f + fabsf(inp[i]));
        break;
    case OP_HARDSIGMOID:
        for (size_t i = 0; i < count; i++)
            out[i] = fmaxf(0.0f, fminf(1.0f, p->alpha * inp[i] + p->beta));
        break;
    case OP_EXP:
        for (size_t i = 0; i < count; i++)
            out[i] = expf(inp[i]);
        break;
    case OP_GELU:
        for (size_t i = 0; i < count; i++) {
            double x = inp[i];
            out[i] = (float)(p->approximate
                                 ? 0.5 * x *
                                       (1.0 + tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
                                 : 0.5 * x * (1.0 + erf(x * M_SQRT1_2)));
        }
        break;
    default: break;
    }
}

/* dout, out (forward output), inp (forward input): count floats ->
 * dinp (accumulated). */
void act_backward(enum op_type op, float *dinp, const float *dout, const float *out,
                  const float *inp, size_t count, const struct act_params *p)
{
    if (!dinp) return;
    switch (op) {
    case OP_RELU: /* written without a branch so that it vectorises */
        for (size_t i = 0; i < count; i++)
            dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
        break;
    case OP_LEAKYRELU:
        for (size_t i = 0; i < count; i++)
            dinp[i] += inp[i] > 0.0f ? dout[i] : p->alpha * dout[i];
        break;
    case OP_SIGMOID: /* s' = s (1 - s) */
        for (size_t i = 0; i < count; i++)
            dinp[i] += dout[i] * out[i] * (1.0f - out[i]);
        break;
    case OP_TANH: /* tanh' = 1 - tanh^2 */
        for (size_t i = 0; i < count; i++)
            dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
        break;
    case OP_CLIP:
        for (size_t i = 0; i < count; i++)
            if (inp[i] > p->lo && inp[i] < p->hi) dinp[i] += dout[i];
        break;
    case OP_ELU: /* alpha e^x = out + alpha below 0 */
        for (size_t i = 0; i < count; i++)
            dinp[i] += inp[i] > 0.0f ? dout[i] : dout[i] * (out[i] + p->alpha);
        break;
    case OP_SELU:
        for (size_t i = 0; i < count; i++)
            dinp[i] += dout[i] * (inp[i] > 0.0f ? p->gamma : out[i] + p->gamma * p->alpha);
        break;
    case OP_SOFTPLUS: /* the sigmoid */
        for (size_t i = 0; i < count; i++)
            dinp[i] += dout[i] / (1.0f + expf(-inp[i]));
        break;
    case OP_SOFTSIGN:
        for (size_t i = 0; i < count; i++) {
            float d = 1.0f + fabsf(inp[i]);
            dinp[i] += dout[i] / (d * d);
        }
        break;
    case OP_HARDSIGMOID:
        for (size_t i = 0; i < count; i++) {
            float z = p->alpha * inp[i] + p->beta;
            if (z > 0.0f && z < 1.0f) dinp[i] += p->alpha * dout[i];
        }
        break;
    case OP_EXP:
        for (size_t i = 0; i < count; i++)
            dinp[i] += dout[i] * out[i];
        break;
    case OP_GELU:
        for (size_t i = 0; i < count; i++) {
            double x = inp[i], d;
            if (p->approximate) {
                double u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x), t = tanh(u);
                d = 0.5 * (1.0 + t) +
                    0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x);
            } else { /* Phi(x) + x phi(x) */
                d = 0.5 * (1.0 + erf(x * M_SQRT1_2)) + x * INV_SQRT_2PI * exp(-0.5 * x * x);
            }
            dinp[i] += (float)(dout[i] * d);
        }
        break;
    default: break;
    }
}

/* dout, inp: count floats -> dinp (accumulated); the rule Captum's
 * GuidedBackprop puts on each ReLU module: relu(dout * (inp > 0)). */
void relu_backward_guided(float *dinp, const float *dout, const float *inp, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dinp[i] += inp[i] > 0.0f && dout[i] > 0.0f ? dout[i] : 0.0f;
}

/* ---------------------------------------------------------------- Softmax */
/* inp, out: n items of outer x len x inner; softmax over len, max-shifted. */
void softmax_forward(float *out, const float *inp, const struct softmax_params *p, int n)
{
    size_t item = p->outer * p->len * p->inner;
    for (int b = 0; b < n; b++)
        for (size_t o = 0; o < p->outer; o++)
            for (size_t in = 0; in < p->inner; in++) {
                size_t base = b * item + o * p->len * p->inner + in;
                float mx = -INFINITY;
                for (size_t k = 0; k < p->len; k++)
                    if (inp[base + k * p->inner] > mx) mx = inp[base + k * p->inner];
                double s = 0.0;
                for (size_t k = 0; k < p->len; k++) {
                    float e = expf(inp[base + k * p->inner] - mx);
                    out[base + k * p->inner] = e;
                    s += e;
                }
                float r = (float)(1.0 / s);
                for (size_t k = 0; k < p->len; k++)
                    out[base + k * p->inner] *= r;
            }
}

/* dout, out (the forward's output): n x outer x len x inner -> dinp
 * (accumulated): dx_k = y_k (dy_k - sum_j dy_j y_j). */
void softmax_backward(float *dinp, const float *dout, const float *out,
                      const struct softmax_params *p, int n)
{
    if (!dinp) return;
    size_t item = p->outer * p->len * p->inner;
    for (int b = 0; b < n; b++)
        for (size_t o = 0; o < p->outer; o++)
            for (size_t in = 0; in < p->inner; in++) {
                size_t base = b * item + o * p->len * p->inner + in;
                double dot = 0.0;
                for (size_t k = 0; k < p->len; k++)
                    dot += (double)dout[base + k * p->inner] * out[base + k * p->inner];
                for (size_t k = 0; k < p->len; k++) {
                    size_t i = base + k * p->inner;
                    dinp[i] += out[i] * (dout[i] - (float)dot);
                }
            }
}
