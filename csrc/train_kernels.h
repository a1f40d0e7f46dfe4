/*
 * train_kernels.h - the per-instruction-set table of the training kernels
 * (internal). train.c is compiled once per instruction set, float32 only;
 * each build defines its functions under a suffixed name and one table,
 * fr_train_kernels_<isa>, which train_dispatch.c hands out.
 */
#ifndef FASTRNN_TRAIN_KERNELS_H
#define FASTRNN_TRAIN_KERNELS_H

#include <stdint.h>

#include "fastrnn_train.h"

struct fr_train_kernels {
    const char *name;
    void (*lstm_forward)(int batch, int hidden, float *gates, const float *c_prev,
                         const float *h_prev, float *c, float *tanh_c, float *h, float *out,
                         const uint8_t *mask);
    void (*lstm_backward)(int batch, int hidden, const float *gates, const float *c_prev,
                          const float *tanh_c, const float *dh, const float *d_out, float *dc,
                          float *da, const uint8_t *mask);
    void (*gru_forward)(int batch, int hidden, float *gates, const float *hidden_proj,
                        const float *h_prev, float *h, float *out, const uint8_t *mask);
    void (*gru_backward)(int batch, int hidden, const float *gates, const float *hidden_proj,
                         const float *h_prev, const float *dh, const float *d_out, float *da,
                         float *d_hidden, float *dh_direct, const uint8_t *mask);
};

extern const fr_train_kernels fr_train_kernels_generic;
#if defined(FR_HAVE_AVX2)
extern const fr_train_kernels fr_train_kernels_avx2;
#endif
#if defined(FR_HAVE_AVX512)
extern const fr_train_kernels fr_train_kernels_avx512;
#endif

#endif
