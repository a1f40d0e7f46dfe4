/*
 * train_dispatch.c - the entry points of fastrnn_train.h: which training
 * kernel table runs, and the size checks in front of every kernel.
 */
#include "train_kernels.h"

fr_status fr_train_kernels_for(const fr_train_kernels **kernels, fr_isa isa)
{
    if (kernels == NULL) return FR_ERR_ARG;
    *kernels = NULL;
    if (!fr_isa_supported(isa)) return FR_ERR_ISA;
    switch (isa) {
    case FR_ISA_GENERIC: *kernels = &fr_train_kernels_generic; break;
#if defined(FR_HAVE_AVX2)
    case FR_ISA_AVX2: *kernels = &fr_train_kernels_avx2; break;
#endif
#if defined(FR_HAVE_AVX512)
    case FR_ISA_AVX512:
    case FR_ISA_AVX512_VNNI:                  /* float32: the AVX-512 kernels */
    case FR_ISA_AVX512_BF16: *kernels = &fr_train_kernels_avx512; break;
#endif
    default: return FR_ERR_ISA;
    }
    return FR_OK;
}

fr_status fr_lstm_train_forward(const fr_train_kernels *kernels, int batch, int hidden,
                                float *gates, const float *c_prev, const float *h_prev,
                                float *c, float *tanh_c, float *h, float *out,
                                const uint8_t *mask)
{
    if (!kernels || batch < 1 || hidden < 1 || !gates || !c_prev || !h_prev || !c || !tanh_c
        || !h || !out)
        return FR_ERR_ARG;
    kernels->lstm_forward(batch, hidden, gates, c_prev, h_prev, c, tanh_c, h, out, mask);
    return FR_OK;
}

fr_status fr_lstm_train_backward(const fr_train_kernels *kernels, int batch, int hidden,
                                 const float *gates, const float *c_prev, const float *tanh_c,
                                 const float *dh, const float *d_out, float *dc, float *da,
                                 const uint8_t *mask)
{
    if (!kernels || batch < 1 || hidden < 1 || !gates || !c_prev || !tanh_c || !dh || !dc
        || !da)
        return FR_ERR_ARG;
    kernels->lstm_backward(batch, hidden, gates, c_prev, tanh_c, dh, d_out, dc, da, mask);
    return FR_OK;
}

fr_status fr_gru_train_forward(const fr_train_kernels *kernels, int batch, int hidden,
                               float *gates, const float *hidden_proj, const float *h_prev,
                               float *h, float *out, const uint8_t *mask)
{
    if (!kernels || batch < 1 || hidden < 1 || !gates || !hidden_proj || !h_prev || !h || !out)
        return FR_ERR_ARG;
    kernels->gru_forward(batch, hidden, gates, hidden_proj, h_prev, h, out, mask);
    return FR_OK;
}

fr_status fr_gru_train_backward(const fr_train_kernels *kernels, int batch, int hidden,
                                const float *gates, const float *hidden_proj,
                                const float *h_prev, const float *dh, const float *d_out,
                                float *da, float *d_hidden, float *dh_direct,
                                const uint8_t *mask)
{
    if (!kernels || batch < 1 || hidden < 1 || !gates || !hidden_proj || !h_prev || !dh || !da
        || !d_hidden || !dh_direct)
        return FR_ERR_ARG;
    kernels->gru_backward(batch, hidden, gates, hidden_proj, h_prev, dh, d_out, da, d_hidden,
                          dh_direct, mask);
    return FR_OK;
}
