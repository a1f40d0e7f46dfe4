/*
 * kernels.h - the per-instruction-set kernel table (internal).
 *
 * gemm.c, lstm.c, gru.c, rnn.c and kernels.c (the kernels that read packed
 * weights) are compiled once per instruction set and weight variant (simd.h),
 * dense.c, pointwise.c and conv.c once per instruction set; each build
 * defines its functions under a suffixed name (fr_gemm_avx2, fr_gemm_avx2_f16,
 * fr_unary_rows_avx2, ...) and the weight builds one table each,
 * fr_kernels_<isa>[_<weights>], that dispatch.c hands to the models.
 *
 * Weight pointers are `const void *`: the packed weights of the table's
 * precision. Packed layouts (V = vlen, P = ceil(units / V) panels, padded =
 * P * V; k-groups of C = kgroup inputs, K' = K rounded up to a multiple of C):
 *   weights  (P, K' / C, G, V, C): panel p holds units [pV, pV + V) of each
 *            of the G gates, for each group of C inputs one row of G * V * C
 *            weights (a unit's C weights side by side); padded units and
 *            inputs are zero. float32, float16 (IEEE halves), bfloat16 (the
 *            upper halves of float32) or int8; int8 panels end with the
 *            scales (G, V) of their units (float), w = scale * int8, and a
 *            table with C = 4 (vpdpbusd) stores int8 + 128 as unsigned bytes.
 *            fr_panel_bytes() is the size of one panel.
 *   bias     (P, G, V) float32, the same order without K.
 *   rows of a projection (P, G, V): the layout gemm writes and the
 *            recurrences read.
 *   hidden state and layer outputs: rows of `padded` floats, padding zero.
 */
#ifndef FASTRNN_KERNELS_H
#define FASTRNN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "fastrnn.h"

typedef struct fr_kernels {
    const char *name;
    fr_precision precision;   /* of the packed weights */
    int vlen;   /* units per gate in a panel */
    int rows;   /* batch rows per micro-kernel tile */
    int kgroup; /* inputs per packed group: 1, 2 (vdpbf16ps pairs) or 4 (vpdpbusd quads) */

    /* c (rows, P*G*V) = bias + a (rows, K; row stride lda) . w (P, K, G, V) */
    void (*gemm)(int rows, int K, int panels, int gates, const float *a, ptrdiff_t lda,
                 const void *w, const float *bias, float *c, int num_threads);

    /* Recurrences (lstm.c, gru.c, rnn.c): xproj has x_stride floats per step;
     * reverse runs the steps from last to first; mask (batch, mask_stride) or
     * NULL: steps whose mask is 0 are skipped, the state carried over them. */
    void (*lstm)(int batch, int steps, int hidden, int reverse, const float *xproj,
                 ptrdiff_t x_stride, const void *w_hh, const float *h0, float *c,
                 float *h_seq, const uint8_t *mask, ptrdiff_t mask_stride, int num_threads);
    /* scratch: 2 * batch * padded floats (reset_after = 0). */
    void (*gru)(int batch, int steps, int hidden, int reset_after, int reverse,
                const float *xproj, ptrdiff_t x_stride, const void *w_hh, const float *b_hn,
                const float *h0, float *h_seq, float *scratch, const uint8_t *mask,
                ptrdiff_t mask_stride, int num_threads);
    /* One sequence through a layer of one input feature (small.c), the input
     * projection in the step: lstm and gru for batch 1 with xproj_t = x_t w_ih
     * + b_ih, the same bits as the gemm then lstm or gru. x (steps, x_stride);
     * w_ih the layer's packed projection (K = 1) and b_ih its bias (P, G, V);
     * mask (steps) or NULL. FR_ERR_SHAPE, nothing run, for a layer wider than
     * the small path takes (small.h); NULL in builds without that path. */
    fr_status (*lstm_one_input)(int steps, int hidden, int reverse, const float *x,
                                ptrdiff_t x_stride, const void *w_ih, const float *b_ih,
                                const void *w_hh, const float *h0, float *c, float *h_seq,
                                const uint8_t *mask);
    fr_status (*gru_one_input)(int steps, int hidden, int reset_after, int reverse,
                               const float *x, ptrdiff_t x_stride, const void *w_ih,
                               const float *b_ih, const void *w_hh, const float *b_hn,
                               const float *h0, float *h_seq, const uint8_t *mask);
    /* One step of a batch, the input projection in the tiles (lstm.c,
     * gru.c): lstm and gru for steps 1 and no mask, with xproj = b_ih + x w_ih
     * computed tile by tile beside the recurrent products instead of by a
     * gemm first: the same arithmetic in the same order, so the same bits,
     * without a pass and a buffer per layer. x (batch, ldx) the frames, w_ih
     * (P, input_size, G, V) and b_ih (P, G, V) the packed projection (b_hh
     * folded in, as the gemm's); h0 (batch, Hpad) the state, c (batch, Hpad)
     * read and updated, h_out (batch, Hpad) the new h. FR_ERR_SHAPE, nothing
     * run, where this does not take the step (GRU reset_after = 0; a step
     * big enough for num_threads to split). Only the int8 dot-product builds
     * have it (FR_STEP_INPUT; NULL elsewhere). */
    fr_status (*lstm_step_input)(int batch, int input_size, int hidden, const float *x,
                                 ptrdiff_t ldx, const void *w_ih, const float *b_ih,
                                 const void *w_hh, const float *h0, float *c, float *h_out,
                                 int num_threads);
    fr_status (*gru_step_input)(int batch, int input_size, int hidden, int reset_after,
                                const float *x, ptrdiff_t ldx, const void *w_ih,
                                const float *b_ih, const void *w_hh, const float *b_hn,
                                const float *h0, float *h_out, int num_threads);
    /* tanh, or relu when relu != 0. */
    void (*rnn)(int batch, int steps, int hidden, int relu, int reverse, const float *xproj,
                ptrdiff_t x_stride, const void *w_hh, const float *h0, float *h_seq,
                const uint8_t *mask, ptrdiff_t mask_stride, int num_threads);

    /* A Dense layer of one unit (dense.c): y[m * ldy] = bias + a[m, :] . w, a
     * (rows, K) row stride lda, w (K) float32; the rest of a row's V floats zero. */
    void (*dense_unit)(int rows, int K, const float *a, ptrdiff_t lda, const float *w,
                       float bias, float *y, ptrdiff_t ldy);

    /* y (rows, padded) = act(y) over the first `units` of each row, in place. */
    void (*dense_activation)(int rows, int units, int padded, fr_activation act, float *y);

    /* y[i] = act(x[i]), elementwise activations only. */
    void (*activate)(fr_activation act, const float *x, float *y, size_t n);

    /* Layers of one frame at a time (pointwise.c): `rows` frames of `width`
     * features, strides ld_x and ld_y between frames; in place allowed. */
    void (*unary)(fr_unary op, float alpha, float beta, const float *params, int num_params,
                  int rows, int width, const float *x, ptrdiff_t ld_x, float *y,
                  ptrdiff_t ld_y);
    /* y = a op b (b op a with b_first); b has `width` features or b_width = 1;
     * ld_b = 0: one b for every row (a constant). */
    void (*binary)(fr_binary op, int rows, int width, const float *a, ptrdiff_t ld_a,
                   const float *b, ptrdiff_t ld_b, int b_width, int b_first, float *y,
                   ptrdiff_t ld_y);
    void (*affine)(int rows, int width, const float *x, ptrdiff_t ld_x, const float *scale,
                   const float *shift, float *y, ptrdiff_t ld_y);
    void (*layer_norm)(int rows, int width, const float *x, ptrdiff_t ld_x, const float *gamma,
                       const float *beta, float eps, float *y, ptrdiff_t ld_y);
    /* y[r * ld_y] = reduce(x[r, :width]). */
    void (*reduce)(fr_reduce op, int rows, int width, const float *x, ptrdiff_t ld_x, float *y,
                   ptrdiff_t ld_y);

    /* Window kernels (conv.c) over im2col rows col (rows, kernel, channels). */
    void (*depthwise)(int rows, int kernel, int in_channels, int multiplier, const float *col,
                      ptrdiff_t ld_col, const float *w, ptrdiff_t ld_w, const float *b, float *y,
                      ptrdiff_t ld_y);
    void (*pool)(int rows, int kernel, int channels, const float *col, ptrdiff_t ld_col,
                 const float *divisors, float *y, ptrdiff_t ld_y);
} fr_kernels;

extern const fr_kernels fr_kernels_generic, fr_kernels_generic_bf16, fr_kernels_generic_int8;
#if defined(FR_HAVE_AVX2)
extern const fr_kernels fr_kernels_avx2, fr_kernels_avx2_f16, fr_kernels_avx2_bf16,
    fr_kernels_avx2_int8;
#endif
#if defined(FR_HAVE_AVX512)
extern const fr_kernels fr_kernels_avx512, fr_kernels_avx512_f16, fr_kernels_avx512_bf16,
    fr_kernels_avx512_int8;
#endif
#if defined(FR_HAVE_AVX512_BF16)
extern const fr_kernels fr_kernels_avx512_bf16dot;
#endif
#if defined(FR_HAVE_AVX512_VNNI)
extern const fr_kernels fr_kernels_avx512_int8dot;
#endif

/* The kernel table of `isa` for weights of `precision`, or NULL if not built
 * in or not run by this CPU. */
const fr_kernels *fr_kernels_for(fr_isa isa, fr_precision precision);

/* Bytes of one stored weight of `precision`. */
size_t fr_precision_bytes(fr_precision precision);
/* Bytes of one packed panel of K inputs and `gates` gates for `kernels`. */
size_t fr_panel_bytes(const fr_kernels *kernels, int K, int gates);

/* Packing (pack.c), for any vlen and kgroup. */
void fr_pack_panels(float *dst, const float *src, int gates, int units, int K, int vlen,
                    int kgroup);
void fr_pack_bias(float *dst, const float *src, int gates, int units, int vlen);
/* IEEE float16 of x, rounded to nearest even (overflow gives infinity). */
uint16_t fr_float_to_half(float x);
/* bfloat16 of x (its upper 16 bits), rounded to nearest even (overflow gives
 * infinity, NaN stays NaN). */
uint16_t fr_float_to_bfloat16(float x);

#ifdef FR_SUFFIX
void FR_SUFFIX(fr_gemm)(int rows, int K, int panels, int gates, const float *a, ptrdiff_t lda,
                        const void *w, const float *bias, float *c, int num_threads);
void FR_SUFFIX(fr_lstm)(int batch, int steps, int hidden, int reverse, const float *xproj,
                        ptrdiff_t x_stride, const void *w_hh, const float *h0, float *c,
                        float *h_seq, const uint8_t *mask, ptrdiff_t mask_stride,
                        int num_threads);
void FR_SUFFIX(fr_gru)(int batch, int steps, int hidden, int reset_after, int reverse,
                       const float *xproj, ptrdiff_t x_stride, const void *w_hh,
                       const float *b_hn, const float *h0, float *h_seq, float *scratch,
                       const uint8_t *mask, ptrdiff_t mask_stride, int num_threads);
#if defined(FR_DOT_INT8)
/* The builds that have lstm_step_input and gru_step_input. */
#define FR_STEP_INPUT 1
fr_status FR_SUFFIX(fr_lstm_step_input)(int batch, int input_size, int hidden, const float *x,
                                        ptrdiff_t ldx, const void *w_ih, const float *b_ih,
                                        const void *w_hh, const float *h0, float *c,
                                        float *h_out, int num_threads);
fr_status FR_SUFFIX(fr_gru_step_input)(int batch, int input_size, int hidden, int reset_after,
                                       const float *x, ptrdiff_t ldx, const void *w_ih,
                                       const float *b_ih, const void *w_hh, const float *b_hn,
                                       const float *h0, float *h_out, int num_threads);
#endif
void FR_SUFFIX(fr_rnn)(int batch, int steps, int hidden, int relu, int reverse,
                       const float *xproj, ptrdiff_t x_stride, const void *w_hh,
                       const float *h0, float *h_seq, const uint8_t *mask,
                       ptrdiff_t mask_stride, int num_threads);
void FR_ISA_SUFFIX(fr_dense_unit)(int rows, int K, const float *a, ptrdiff_t lda,
                                  const float *w, float bias, float *y, ptrdiff_t ldy);
void FR_ISA_SUFFIX(fr_dense_activation)(int rows, int units, int padded, fr_activation act,
                                        float *y);
void FR_ISA_SUFFIX(fr_activate)(fr_activation act, const float *x, float *y, size_t n);
void FR_ISA_SUFFIX(fr_unary_rows)(fr_unary op, float alpha, float beta, const float *params,
                                  int num_params, int rows, int width, const float *x,
                                  ptrdiff_t ld_x, float *y, ptrdiff_t ld_y);
void FR_ISA_SUFFIX(fr_binary_rows)(fr_binary op, int rows, int width, const float *a,
                                   ptrdiff_t ld_a, const float *b, ptrdiff_t ld_b, int b_width,
                                   int b_first, float *y, ptrdiff_t ld_y);
void FR_ISA_SUFFIX(fr_affine_rows)(int rows, int width, const float *x, ptrdiff_t ld_x,
                                   const float *scale, const float *shift, float *y,
                                   ptrdiff_t ld_y);
void FR_ISA_SUFFIX(fr_layer_norm_rows)(int rows, int width, const float *x, ptrdiff_t ld_x,
                                       const float *gamma, const float *beta, float eps, float *y,
                                       ptrdiff_t ld_y);
void FR_ISA_SUFFIX(fr_reduce_rows)(fr_reduce op, int rows, int width, const float *x,
                                   ptrdiff_t ld_x, float *y, ptrdiff_t ld_y);
void FR_ISA_SUFFIX(fr_depthwise_rows)(int rows, int kernel, int in_channels, int multiplier,
                                      const float *col, ptrdiff_t ld_col, const float *w,
                                      ptrdiff_t ld_w, const float *b, float *y, ptrdiff_t ld_y);
void FR_ISA_SUFFIX(fr_pool_rows)(int rows, int kernel, int channels, const float *col,
                                 ptrdiff_t ld_col, const float *divisors, float *y, ptrdiff_t ld_y);
#endif

#endif
