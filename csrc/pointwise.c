/*
 * pointwise.c - the layers that work on one frame at a time, feature by
 * feature or over the frame's features (compiled once per instruction set,
 * like the other kernel files). Every kernel reads `rows` frames of `width`
 * features with a stride of ld_x floats between frames and writes them with
 * stride ld_y; in place (x == y) is allowed. Each frame's result depends on
 * that frame alone, in a fixed order: streams and whole sequences agree bit
 * for bit.
 */
#include <math.h>

#include "simd.h"
#include "kernels.h"

#define SELU_SCALE 1.0507009873554804934193349852946f
#define SELU_ALPHA 1.6732632423543772848170429916717f

/* Load/store the `n` <= FR_VLEN floats of a row's tail; the rest of the vector is `fill`. */
FR_INLINE vfloat load_part(const float *p, int n, float fill)
{
    if (n == FR_VLEN) return vload(p);
    float part[FR_VLEN];
    for (int i = 0; i < FR_VLEN; i++)
        part[i] = i < n ? p[i] : fill;
    return vload(part);
}

FR_INLINE void store_part(float *p, vfloat v, int n)
{
    if (n == FR_VLEN) {
        vstore(p, v);
        return;
    }
    float part[FR_VLEN];
    vstore(part, v);
    memcpy(p, part, (size_t)n * sizeof(float));
}

/* x^p for an exponent known when the layer was built: small integers by
 * products (exact for 2, as ONNX's LayerNorm decompositions need), others
 * by exp(p log x), NaN for x < 0. */
FR_INLINE vfloat vpow(vfloat x, float p)
{
    if (p == 1.0f) return x;
    if (p == 2.0f) return x * x;
    if (p == 3.0f) return x * x * x;
    if (p == 0.5f) {
        float lanes[FR_VLEN];
        vstore(lanes, x);
        for (int i = 0; i < FR_VLEN; i++) lanes[i] = sqrtf(lanes[i]);
        return vload(lanes);
    }
    if (p == -1.0f) return 1.0f / x;
    return vexp(p * vlog(x));
}

FR_INLINE vfloat vsqrt(vfloat x)
{
    float lanes[FR_VLEN];
    vstore(lanes, x);
    for (int i = 0; i < FR_VLEN; i++) lanes[i] = sqrtf(lanes[i]);
    return vload(lanes);
}

/* One vector of an elementwise op; slopes: PReLU's slopes for these lanes. */
FR_INLINE vfloat unary_vector(fr_unary op, float alpha, float beta, vfloat slopes, vfloat x)
{
    switch (op) {
    case FR_UNARY_RELU: return vrelu(x);
    case FR_UNARY_LEAKY_RELU: return vselect(x >= 0.0f, x, alpha * x);
    case FR_UNARY_PRELU: return vselect(x >= 0.0f, x, slopes * x);
    case FR_UNARY_ELU: return vselect(x > 0.0f, x, alpha * (vexp(x) - 1.0f));
    case FR_UNARY_SELU: return SELU_SCALE * vselect(x > 0.0f, x, SELU_ALPHA * (vexp(x) - 1.0f));
    case FR_UNARY_GELU: return 0.5f * x * vone_plus_erf(x * 0.70710678118654752f);
    case FR_UNARY_GELU_TANH:
        return 0.5f * x * (1.0f + vtanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case FR_UNARY_SILU: return x * vsigmoid(x);
    case FR_UNARY_TANH: return vtanh(x);
    case FR_UNARY_SIGMOID: return vsigmoid(x);
    case FR_UNARY_HARD_SIGMOID: return vclamp(alpha * x + beta, 0.0f, 1.0f);
    case FR_UNARY_SOFTPLUS: {
        /* log(1 + exp(z)) = max(z, 0) + log(1 + exp(-|z|)), z = beta x */
        vfloat z = beta * x;
        vfloat soft = (vselect(z > 0.0f, z, vset1(0.0f)) + vlog(1.0f + vexp(-vabs(z)))) / beta;
        return vselect(z > alpha, x, soft);
    }
    case FR_UNARY_EXP: return vexp(x);
    case FR_UNARY_LOG: return vlog(x);
    case FR_UNARY_SQRT: return vsqrt(x);
    case FR_UNARY_RECIPROCAL: return 1.0f / x;
    case FR_UNARY_ABS: return vabs(x);
    case FR_UNARY_NEG: return -x;
    case FR_UNARY_CLIP: return vclamp(x, alpha, beta);
    case FR_UNARY_POW: return vpow(x, alpha);
    default: return x;
    }
}

/* softmax or log_softmax of one frame of `width` features, in place in y. */
static void softmax_frame(int log_output, int width, const float *x, float *y)
{
    float max = x[0];
    for (int j = 1; j < width; j++)
        max = x[j] > max || x[j] != x[j] ? x[j] : max;
    float sum = 0.0f;
    for (int j = 0; j < width; j += FR_VLEN) {
        int n = width - j < FR_VLEN ? width - j : FR_VLEN;
        vfloat shifted = load_part(x + j, n, 0.0f) - max;
        float lanes[FR_VLEN];
        vstore(lanes, vexp(shifted));
        for (int i = 0; i < n; i++) sum += lanes[i];
        store_part(y + j, log_output ? shifted : vexp(shifted), n);
    }
    if (log_output) {
        float log_sum = logf(sum);
        for (int j = 0; j < width; j++) y[j] -= log_sum;
    } else {
        for (int j = 0; j < width; j++) y[j] /= sum;
    }
}

void FR_ISA_SUFFIX(fr_unary_rows)(fr_unary op, float alpha, float beta, const float *params,
                                  int num_params, int rows, int width, const float *x,
                                  ptrdiff_t ld_x, float *y, ptrdiff_t ld_y)
{
    for (int r = 0; r < rows; r++) {
        const float *in = x + r * ld_x;
        float *out = y + r * ld_y;
        if (op == FR_UNARY_SOFTMAX || op == FR_UNARY_LOG_SOFTMAX) {
            softmax_frame(op == FR_UNARY_LOG_SOFTMAX, width, in, out);
            continue;
        }
        for (int j = 0; j < width; j += FR_VLEN) {
            int n = width - j < FR_VLEN ? width - j : FR_VLEN;
            vfloat slopes = vset1(0.0f);
            if (op == FR_UNARY_PRELU)
                slopes = num_params == 1 ? vset1(params[0]) : load_part(params + j, n, 0.0f);
            store_part(out + j, unary_vector(op, alpha, beta, slopes, load_part(in + j, n, 0.0f)),
                       n);
        }
    }
}

FR_INLINE vfloat binary_vector(fr_binary op, vfloat a, vfloat b)
{
    switch (op) {
    case FR_BINARY_ADD: return a + b;
    case FR_BINARY_SUB: return a - b;
    case FR_BINARY_MUL: return a * b;
    case FR_BINARY_DIV: return a / b;
    case FR_BINARY_MAX: return vselect((a > b) | (a != a), a, b);
    case FR_BINARY_MIN: return vselect((a < b) | (a != a), a, b);
    default: {                           /* pow: a^b feature by feature */
        float base[FR_VLEN], power[FR_VLEN];
        vstore(base, a);
        vstore(power, b);
        for (int i = 0; i < FR_VLEN; i++) base[i] = powf(base[i], power[i]);
        return vload(base);
    }
    }
}

void FR_ISA_SUFFIX(fr_binary_rows)(fr_binary op, int rows, int width, const float *a,
                                   ptrdiff_t ld_a, const float *b, ptrdiff_t ld_b, int b_width,
                                   int b_first, float *y, ptrdiff_t ld_y)
{
    for (int r = 0; r < rows; r++) {
        const float *left = a + r * ld_a, *right = b + r * ld_b;
        float *out = y + r * ld_y;
        for (int j = 0; j < width; j += FR_VLEN) {
            int n = width - j < FR_VLEN ? width - j : FR_VLEN;
            vfloat u = load_part(left + j, n, 0.0f);
            vfloat v = b_width == 1 ? vset1(right[0]) : load_part(right + j, n, 0.0f);
            store_part(out + j, b_first ? binary_vector(op, v, u) : binary_vector(op, u, v), n);
        }
    }
}

void FR_ISA_SUFFIX(fr_affine_rows)(int rows, int width, const float *x, ptrdiff_t ld_x,
                                   const float *scale, const float *shift, float *y, ptrdiff_t ld_y)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < width; j += FR_VLEN) {
            int n = width - j < FR_VLEN ? width - j : FR_VLEN;
            vfloat v = load_part(x + r * ld_x + j, n, 0.0f);
            store_part(y + r * ld_y + j, v * load_part(scale + j, n, 0.0f)
                                         + load_part(shift + j, n, 0.0f), n);
        }
}

/*
 * Layer norm of each frame: mean and biased variance over its features,
 * accumulated in double in feature order, then
 * y = (x - mean) / sqrt(var + eps) * gamma + beta.
 */
void FR_ISA_SUFFIX(fr_layer_norm_rows)(int rows, int width, const float *x, ptrdiff_t ld_x,
                                       const float *gamma, const float *beta, float eps, float *y,
                                       ptrdiff_t ld_y)
{
    for (int r = 0; r < rows; r++) {
        const float *in = x + r * ld_x;
        float *out = y + r * ld_y;
        double sum = 0.0;
        for (int j = 0; j < width; j++) sum += in[j];
        double mean = sum / width, squares = 0.0;
        for (int j = 0; j < width; j++) squares += (in[j] - mean) * (in[j] - mean);
        float inverse = (float)(1.0 / sqrt(squares / width + eps));
        float centre = (float)mean;
        for (int j = 0; j < width; j++)
            out[j] = (in[j] - centre) * inverse * gamma[j] + beta[j];
    }
}

/* y[r] = the sum, mean, max or min of frame r's features (NaN wins max and min). */
void FR_ISA_SUFFIX(fr_reduce_rows)(fr_reduce op, int rows, int width, const float *x,
                                   ptrdiff_t ld_x, float *y, ptrdiff_t ld_y)
{
    for (int r = 0; r < rows; r++) {
        const float *in = x + r * ld_x;
        float value = in[0];
        for (int j = 1; j < width; j++) {
            float v = in[j];
            if (op == FR_REDUCE_MAX) value = v > value || v != v ? v : value;
            else if (op == FR_REDUCE_MIN) value = v < value || v != v ? v : value;
            else value += v;
        }
        y[r * ld_y] = op == FR_REDUCE_MEAN ? value / width : value;
    }
}
