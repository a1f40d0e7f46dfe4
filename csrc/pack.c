/*
 * pack.c - canonical (PyTorch) weights to the panel layout of the kernels,
 * once, when a layer is added to a model (kernels.h describes the layout).
 */
#include <string.h>

#include "kernels.h"

size_t fr_precision_bytes(fr_precision precision)
{
    return precision == FR_PRECISION_FLOAT32 ? 4 : precision == FR_PRECISION_INT8 ? 1 : 2;
}

size_t fr_panel_bytes(const fr_kernels *kernels, int K, int gates)
{
    const size_t C = kernels->kgroup, rows = (K + C - 1) / C * C;
    const size_t bytes = fr_precision_bytes(kernels->precision);
    const size_t scales = kernels->precision == FR_PRECISION_INT8 ? sizeof(float) : 0;
    return (rows * bytes + scales) * gates * kernels->vlen;
}

/* dst (P, K' / C, G, V, C) <- src (G * units, K), gate-major rows, C = kgroup,
 * K' = K rounded up to a multiple of C; padded units and inputs are zero. */
void fr_pack_panels(float *dst, const float *src, int gates, int units, int K, int vlen,
                    int kgroup)
{
    int panels = (units + vlen - 1) / vlen, groups = (K + kgroup - 1) / kgroup;
    for (int p = 0; p < panels; p++)
        for (int j = 0; j < groups; j++)
            for (int g = 0; g < gates; g++)
                for (int u = 0; u < vlen; u++)
                    for (int i = 0; i < kgroup; i++) {
                        int unit = p * vlen + u, k = j * kgroup + i;
                        *dst++ = unit < units && k < K
                                 ? src[((ptrdiff_t)g * units + unit) * K + k] : 0.0f;
                    }
}

/* dst (P, G, V) <- src (G * units), or zeros when src is NULL. */
void fr_pack_bias(float *dst, const float *src, int gates, int units, int vlen)
{
    int panels = (units + vlen - 1) / vlen;
    for (int p = 0; p < panels; p++)
        for (int g = 0; g < gates; g++)
            for (int u = 0; u < vlen; u++) {
                int unit = p * vlen + u;
                *dst++ = src != NULL && unit < units ? src[g * units + unit] : 0.0f;
            }
}

/*
 * IEEE binary16 of a float, rounded to nearest, ties to even: the same as a
 * hardware conversion (and NumPy's astype(float16)), written out so that
 * packing needs no F16C.
 */
uint16_t fr_float_to_half(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    uint32_t sign = (bits >> 16) & 0x8000, mantissa = bits & 0x7fffff;
    int exponent = (int)((bits >> 23) & 0xff) - 127 + 15;
    if (((bits >> 23) & 0xff) == 0xff)                 /* infinity, NaN */
        return (uint16_t)(sign | 0x7c00 | (mantissa ? 0x200 : 0));
    if (exponent >= 31) return (uint16_t)(sign | 0x7c00); /* overflow */
    if (exponent <= 0) {                               /* subnormal or zero */
        if (exponent < -10) return (uint16_t)sign;
        mantissa |= 0x800000;
        int shift = 14 - exponent;
        uint32_t half = mantissa >> shift, rest = mantissa & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exponent << 10) | (mantissa >> 13);
    uint32_t rest = mantissa & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++; /* may carry into the exponent */
    return (uint16_t)half;
}

uint16_t fr_float_to_bfloat16(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    if ((bits & 0x7fffffff) > 0x7f800000) return (uint16_t)((bits >> 16) | 0x40); /* NaN */
    bits += 0x7fff + ((bits >> 16) & 1);               /* may carry into the exponent */
    return (uint16_t)(bits >> 16);
}
