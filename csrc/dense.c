/*
 * dense.c - Dense layer activations, applied in place after the gemm
 * y = W x + b has written rows of `padded` floats:
 *
 *   linear   y
 *   relu     max(y, 0)
 *   tanh     tanh(y)
 *   sigmoid  1 / (1 + exp(-y))
 *   elu      y if y > 0 else exp(y) - 1
 *   softmax  exp(y_j - max_k y_k) / sum_k exp(y_k - max_k y_k), over the
 *            first `units` entries of a row (padding excluded)
 */
#include "simd.h"
#include "kernels.h"

FR_INLINE vfloat activate_vector(fr_activation act, vfloat x)
{
    switch (act) {
    case FR_ACT_RELU: return vrelu(x);
    case FR_ACT_TANH: return vtanh(x);
    case FR_ACT_SIGMOID: return vsigmoid(x);
    case FR_ACT_ELU: return velu(x);
    default: return x;
    }
}

static void softmax_row(int units, float *y)
{
    float max = y[0];
    for (int j = 1; j < units; j++)
        max = y[j] > max ? y[j] : max;
    for (int j = 0; j < units; j += FR_VLEN)
        vstore(y + j, vexp(vload(y + j) - max));
    float sum = 0.0f;
    for (int j = 0; j < units; j++)
        sum += y[j];
    for (int j = 0; j < units; j++)
        y[j] /= sum;
}

void FR_ISA_SUFFIX(fr_dense_activation)(int rows, int units, int padded, fr_activation act,
                                        float *y)
{
    if (act == FR_ACT_LINEAR)
        return;
    for (int m = 0; m < rows; m++) {
        float *row = y + (ptrdiff_t)m * padded;
        if (act == FR_ACT_SOFTMAX) {
            softmax_row(units, row);
            continue;
        }
        for (int j = 0; j < padded; j += FR_VLEN)
            vstore(row + j, activate_vector(act, vload(row + j)));
    }
}

void FR_ISA_SUFFIX(fr_activate)(fr_activation act, const float *x, float *y, size_t n)
{
    size_t i = 0;
    for (; i + FR_VLEN <= n; i += FR_VLEN)
        vstore(y + i, activate_vector(act, vload(x + i)));
    if (i < n) {
        float tail[FR_VLEN] = {0};
        memcpy(tail, x + i, (n - i) * sizeof(float));
        vstore(tail, activate_vector(act, vload(tail)));
        memcpy(y + i, tail, (n - i) * sizeof(float));
    }
}
