/*
 * pack.c - canonical (PyTorch) weights to the panel layout of the kernels,
 * once, when a layer is added to a model (kernels.h describes the layout).
 */
#include "kernels.h"

/* dst (P, K, G, V) <- src (G * units, K), gate-major rows; padded units are zero. */
void fr_pack_panels(float *dst, const float *src, int gates, int units, int K, int vlen)
{
    int panels = (units + vlen - 1) / vlen;
    for (int p = 0; p < panels; p++)
        for (int k = 0; k < K; k++)
            for (int g = 0; g < gates; g++)
                for (int u = 0; u < vlen; u++) {
                    int unit = p * vlen + u;
                    *dst++ = unit < units ? src[((ptrdiff_t)g * units + unit) * K + k] : 0.0f;
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
