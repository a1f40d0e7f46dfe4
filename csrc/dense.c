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

/* The sum of v's lanes, halves added in turn (the lanes i and i + V/2, ...),
 * the same order for every row. */
FR_INLINE float vsum_lanes(vfloat v)
{
#if FR_VLEN == 16
    return _mm512_reduce_add_ps((__m512)v);
#else
    float lanes[FR_VLEN];
    vstore(lanes, v);
    for (int width = FR_VLEN / 2; width > 0; width /= 2)
        for (int i = 0; i < width; i++)
            lanes[i] += lanes[i + width];
    return lanes[0];
#endif
}

/*
 * A Dense layer of one unit, as a dot product along k (a panel would spend
 * V lanes on the one unit, a multiply-add per input):
 *
 *   y[m] = bias + sum_lanes( sum_j a[m, jV:(j+1)V] * w[jV:(j+1)V] )   j in order
 *
 * a (rows, K) row stride lda; w (K); y (rows, ldy): the first V floats of a
 * row written, y then zeros (the padding).
 */
void FR_ISA_SUFFIX(fr_dense_unit)(int rows, int K, const float *a, ptrdiff_t lda,
                                  const float *w, float bias, float *y, ptrdiff_t ldy)
{
    const int whole = K / FR_VLEN * FR_VLEN;
    float w_tail[FR_VLEN] = {0};
    memcpy(w_tail, w + whole, (size_t)(K - whole) * sizeof(float));
    for (int m = 0; m < rows; m++) {
        const float *row = a + m * lda;
        vfloat acc = vset1(0.0f);
        for (int k = 0; k < whole; k += FR_VLEN)
            acc += vload(row + k) * vload(w + k);
        if (whole < K) {
            float tail[FR_VLEN] = {0};
            memcpy(tail, row + whole, (size_t)(K - whole) * sizeof(float));
            acc += vload(tail) * vload(w_tail);
        }
        vfloat out = vset1(0.0f);
        out[0] = bias + vsum_lanes(acc);
        vstore(y + m * ldy, out);
    }
}

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
