/*
 * small.h - the one-sequence path of the LSTM and GRU recurrences for small
 * layers (small.c), which fr_lstm and fr_gru take for float32 weights (and
 * bfloat16 ones with AVX512-BF16) when the batch is one sequence and every
 * gate of every panel fits in registers.
 */
#ifndef FASTRNN_SMALL_H
#define FASTRNN_SMALL_H

#include <stddef.h>
#include <stdint.h>

#include "fastrnn.h"
#include "simd.h"

/* Accumulator registers the small path may keep (of 32 zmm, 16 ymm, 16 xmm). */
#if FR_VLEN == 16
#define FR_SMALL_ACCS 16
#elif defined(FR_KERNELS_AVX2)
#define FR_SMALL_ACCS 12
#else
#define FR_SMALL_ACCS 8
#endif
#define FR_SMALL_MAX_PANELS 4

/* Whether a layer of `hidden` units and `gates` gates takes the small path:
 * at most FR_SMALL_MAX_PANELS panels of `gates` accumulators, FR_SMALL_ACCS
 * in all (AVX-512: LSTM and GRU up to 64 units; AVX2: LSTM 24, GRU 32). */
#define FR_SMALL_FITS(hidden, gates)                                               \
    ((hidden) <= FR_VLEN * (FR_SMALL_ACCS / (gates) < FR_SMALL_MAX_PANELS          \
                                ? FR_SMALL_ACCS / (gates) : FR_SMALL_MAX_PANELS))

/* The builds that have the path: float32, and bfloat16 with vdpbf16ps; the
 * builds of other weights keep the tile path. */
#if (!defined(FR_WEIGHTS_F16) && !defined(FR_WEIGHTS_BF16) && !defined(FR_WEIGHTS_INT8)) \
    || defined(FR_DOT_BF16)
#define FR_SMALL_PATH 1
#endif

/* fr_lstm and fr_gru (kernels.h) for batch 1, FR_SMALL_FITS; mask (steps) or NULL. */
void FR_SUFFIX(fr_lstm_small)(int steps, int hidden, int reverse, const float *xproj,
                                  ptrdiff_t x_stride, const fr_weight *w_hh, const float *h0,
                                  float *c, float *h_seq, const uint8_t *mask);
void FR_SUFFIX(fr_gru_small)(int steps, int hidden, int reset_after, int reverse,
                                 const float *xproj, ptrdiff_t x_stride, const fr_weight *w_hh,
                                 const float *b_hn, const float *h0, float *h_seq,
                                 const uint8_t *mask);
/* lstm_one_input and gru_one_input (kernels.h). */
fr_status FR_SUFFIX(fr_lstm_one_input)(int steps, int hidden, int reverse, const float *x,
                                       ptrdiff_t x_stride, const void *w_ih, const float *b_ih,
                                       const void *w_hh, const float *h0, float *c,
                                       float *h_seq, const uint8_t *mask);
fr_status FR_SUFFIX(fr_gru_one_input)(int steps, int hidden, int reset_after, int reverse,
                                      const float *x, ptrdiff_t x_stride, const void *w_ih,
                                      const float *b_ih, const void *w_hh, const float *b_hn,
                                      const float *h0, float *h_seq, const uint8_t *mask);

#endif
