/*
 * fastrnn_train.h - the C interface of fastrnn.train: the pointwise part of
 * one LSTM or GRU (reset_after) step of backpropagation through time,
 * forward and backward (csrc/train.c). The trainer does the matrix products
 * around it with NumPy.
 *
 * Separate from the inference engine (fastrnn.h): its own float32 kernel
 * table per instruction set, resolved once (fr_train_kernels_for) and passed
 * to every step. Rows are plain row-major: gates (batch, 4H) in the order i,
 * f, g, o (LSTM) or (batch, 3H) in the order r, z, n (GRU); states (batch, H);
 * mask (batch) or NULL, mask[b] == 0 marking a padded step of row b. Every
 * entry point returns FR_ERR_ARG for a size < 1 or a NULL array (mask and
 * d_out may be NULL).
 */
#ifndef FASTRNN_TRAIN_H
#define FASTRNN_TRAIN_H

#include <stdint.h>

#include "fastrnn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_train_kernels fr_train_kernels;

/* *kernels = the training kernels of `isa` (FR_ERR_ISA if not built in or not
 * run by this CPU). The table is static: nothing to free. */
fr_status fr_train_kernels_for(const fr_train_kernels **kernels, fr_isa isa);

/* LSTM forward: gates pre-activations in, gate values out; c, tanh_c, h and
 * out (the step's output, zero where masked) written. */
fr_status fr_lstm_train_forward(const fr_train_kernels *kernels, int batch, int hidden,
                                float *gates, const float *c_prev, const float *h_prev,
                                float *c, float *tanh_c, float *h, float *out,
                                const uint8_t *mask);
/* LSTM backward: da (batch, 4H) written, dc (batch, H) updated in place;
 * d_out may be NULL (no gradient from the step's output). */
fr_status fr_lstm_train_backward(const fr_train_kernels *kernels, int batch, int hidden,
                                 const float *gates, const float *c_prev, const float *tanh_c,
                                 const float *dh, const float *d_out, float *dc, float *da,
                                 const uint8_t *mask);
/* GRU (reset_after) forward: gates (batch, 3H) input projections in, r, z, n
 * out; hidden_proj (batch, 3H) = W_hh h_prev + b_hh; h, out written. */
fr_status fr_gru_train_forward(const fr_train_kernels *kernels, int batch, int hidden,
                               float *gates, const float *hidden_proj, const float *h_prev,
                               float *h, float *out, const uint8_t *mask);
/* GRU (reset_after) backward: da, d_hidden (batch, 3H) and dh_direct
 * (batch, H) written. */
fr_status fr_gru_train_backward(const fr_train_kernels *kernels, int batch, int hidden,
                                const float *gates, const float *hidden_proj,
                                const float *h_prev, const float *dh, const float *d_out,
                                float *da, float *d_hidden, float *dh_direct,
                                const uint8_t *mask);

#ifdef __cplusplus
}
#endif

#endif
