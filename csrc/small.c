/*
 * small.c - the LSTM and GRU recurrences of one sequence through a small
 * layer (float32 weights, and bfloat16 with AVX512-BF16; small.h says which
 * sizes).
 *
 * The equations are those of lstm.c and gru.c. With one sequence and a few
 * panels, a step is a latency chain: the recurrent product, then the gate
 * activations, then the next step's product from the new h. Here a step is
 * one straight run: every gate of every panel accumulates in registers at
 * once,
 *
 *   acc[q][g] = xproj_t[q, g, :] + sum_k h_{t-1}[k] w_q[k, g, :]   k = 0, 1, ..., H - 1
 *
 * (GRU reset_after's n gate starts from b_hn instead), and the cells of
 * cells.h end it; no step callbacks, thread dispatch or tiling. The sums are
 * the tile path's in float32 (one multiply-add per k in order: the same
 * bits); in bfloat16, h is rounded to pairs as there, but the pairs' sum is
 * split in two (small_products below). The
 * packed weights are the tile path's (kernels.h), read from L1 every step
 * (float32: 16 KiB for LSTM(32), 48 KiB for GRU(64); bfloat16 half that).
 *
 * xproj (steps, x_stride), w_hh, h0, c (Hpad), h_seq (steps, Hpad) and
 * mask (steps) or NULL as in lstm.c and gru.c for batch = 1. A layer of one
 * input feature (fr_lstm_one_input, fr_gru_one_input) takes x (steps,
 * x_stride) instead of xproj and projects it in the step (small_input).
 */
#include <string.h>

#include "cells.h"
#include "small.h"
#include "tile.h"

#if defined(FR_SMALL_PATH)

#if defined(FR_DOT_BF16)
/* acc[q][g] += vdpbf16ps of pair j (the bfloat16 pairs of h, `pair`) and
 * the weights w_q[j, g] of np panels. */
FR_INLINE void small_pair(const int np, const int gates, int j, __m512bh pair,
                          const fr_weight *w, ptrdiff_t panel, vfloat acc[][FR_MAX_GATES])
{
#pragma GCC unroll 4
    for (int q = 0; q < np; q++)
#pragma GCC unroll 4
        for (int g = 0; g < gates; g++)
            acc[q][g] = (vfloat)_mm512_dpbf16_ps(
                (__m512)acc[q][g], pair, (__m512bh)_mm512_loadu_si512(
                    w + q * panel + ((ptrdiff_t)j * gates + g) * FR_VLEN * 2));
}

/*
 * acc[q][g] += sum_k h[k] w_q[k, g, :] for k = 0, 1, ..., K - 1 over np panels:
 * h rounded to bfloat16 pairs (as fr_prepare_rows, for the tile path), one
 * vdpbf16ps per pair, the even pairs into acc and the odd ones into a second
 * set of sums added at the end: two chains of half the length (vdpbf16ps
 * takes 6 cycles; LSTM(32): 16 pairs deep -> 8, 72 -> 64 ns a step). Not the
 * tile path's order, so not its bits (tests/test_small_recurrence.py). h is
 * read from the registers the cells returned it in (h_regs, np vectors; h,
 * the same in memory, is for the float32 build), and each pair broadcast from
 * those registers (vpermps): no store and reload on the chain of the steps
 * (LSTM(32): 104 -> 95 ns a step, loaded Zen 5).
 */
FR_INLINE void small_products(const int np, const int gates, int K, const float *h,
                              const vfloat *h_regs, const fr_weight *w,
                              vfloat acc[][FR_MAX_GATES])
{
    const ptrdiff_t panel = fr_panel_size(K, gates);
    const int count = (K + 1) / 2;
    __m512 pairs[(FR_SMALL_MAX_PANELS + 1) / 2];
    vfloat odd[FR_SMALL_MAX_PANELS][FR_MAX_GATES];
    (void)h;
    for (int i = 0; i < (np + 1) / 2; i++)
        pairs[i] = fr_prepare_group(h_regs, np, i, K);
    for (int q = 0; q < np; q++)
        for (int g = 0; g < gates; g++)
            odd[q][g] = vset1(0.0f);
#define PAIR(j) (__m512bh)_mm512_permutexvar_ps(_mm512_set1_epi32((j) % 16), pairs[(j) / 16])
    int j = 0;
    for (; j + 2 <= count; j += 2) {
        small_pair(np, gates, j, PAIR(j), w, panel, acc);
        small_pair(np, gates, j + 1, PAIR(j + 1), w, panel, odd);
    }
    if (j < count)
        small_pair(np, gates, j, PAIR(j), w, panel, acc);
#undef PAIR
    for (int q = 0; q < np; q++)
        for (int g = 0; g < gates; g++)
            acc[q][g] += odd[q][g];
}

/* The products of a step (the weights, at most 24 KiB, stay in L1). */
FR_INLINE void small_step_products(const int np, const int gates, int K, const float *h,
                                   const vfloat *h_regs, const fr_weight *w, int t,
                                   vfloat acc[][FR_MAX_GATES])
{
    (void)t;
    small_products(np, gates, K, h, h_regs, w, acc);
}
#else
/* acc[q][g] += sum_k h[k] w_q[k, g, :] for k = 0, 1, ..., K - 1 over np panels,
 * h[k] broadcast from memory (h_regs, the same in registers, is for the
 * bfloat16 build: here the loads are free beside the weights'). */
FR_INLINE void small_products(const int np, const int gates, int K, const float *h,
                              const vfloat *h_regs, const fr_weight *w,
                              vfloat acc[][FR_MAX_GATES])
{
    const ptrdiff_t panel = fr_panel_size(K, gates);
    (void)h_regs;
#pragma GCC unroll 2
    for (int k = 0; k < K; k++) {
        const vfloat h_k = vset1(h[k]);
        const fr_weight *w_k = w + (ptrdiff_t)k * gates * FR_VLEN;
#pragma GCC unroll 4
        for (int q = 0; q < np; q++)
#pragma GCC unroll 4
            for (int g = 0; g < gates; g++)
                acc[q][g] += h_k * vload(w_k + q * panel + g * FR_VLEN);
    }
}

/*
 * The products of a step, its panels in passes of at most two (0-1, then
 * 2-3), the passes in reverse order on odd steps (t): weights over L1's
 * 48 KiB (GRU(64), LSTM(64)) are read every step, and a fixed order evicts
 * each line before it comes round again; reversed, the pass read last is
 * read first, still in L1 (GRU(64): 340 -> 310 ns a step, loaded Zen 5).
 * Each output still sums over k in order: the same bits. (GRU reset_after
 * = 0 keeps one pass per phase: its phases read 32 + 16 KiB, and passes
 * measured 3% slower there.)
 */
FR_INLINE void small_step_products(const int np, const int gates, int K, const float *h,
                                   const vfloat *h_regs, const fr_weight *w, int t,
                                   vfloat acc[][FR_MAX_GATES])
{
    const ptrdiff_t panel = fr_panel_size(K, gates);
    if (np <= 2) {
        small_products(np, gates, K, h, h_regs, w, acc);
    } else if (t % 2 == 0) {
        small_products(2, gates, K, h, h_regs, w, acc);
        small_products(np - 2, gates, K, h, h_regs, w + 2 * panel, acc + 2);
    } else {
        small_products(np - 2, gates, K, h, h_regs, w + 2 * panel, acc + 2);
        small_products(2, gates, K, h, h_regs, w, acc);
    }
}
#endif

/* The time of step t, and whether it runs (a masked step keeps h and c). */
FR_INLINE int small_time(int t, int steps, int reverse) { return reverse ? steps - 1 - t : t; }
FR_INLINE int small_runs(const uint8_t *mask, int time) { return mask == NULL || mask[time]; }

/*
 * Where a step's input projection comes from: the rows of the gemm (x =
 * xproj, (steps, x_stride) holding (P, G, V) a step; w_ih NULL), or, for a
 * layer of one input, the step itself (one_input):
 *
 *   xproj_t[q, g, :] = b_ih[q, g, :] + x_t w_ih[q, 0, g, :]
 *
 * x (steps, x_stride) the input, w_ih its packed projection (K = 1) and b_ih
 * (P, G, V) its bias (b_hh folded in, as the gemm's). The arithmetic is the
 * gemm's for K = 1 (tile.h): float32, one multiply-add onto the bias;
 * bfloat16, x rounded to bfloat16 and paired with 0 (fr_prepare_rows), one
 * vdpbf16ps onto the bias: the same bits, without the pass over an xproj
 * buffer. It depends on x only, off the chain of the steps.
 */
typedef struct {
    const float *x;
    ptrdiff_t x_stride;
    const fr_weight *w_ih;
    const float *b_ih;
} small_input;

FR_INLINE vfloat small_projection(const int one_input, const int gates, const small_input *in,
                                  int time, int q, int g)
{
    const ptrdiff_t at = (ptrdiff_t)(gates * q + g) * FR_VLEN;
    if (!one_input) return vload(in->x + time * in->x_stride + at);
    const float x = in->x[time * in->x_stride];
    const fr_weight *w = in->w_ih + q * fr_panel_size(1, gates) + g * FR_VLEN * FR_KGROUP;
#if defined(FR_DOT_BF16)
    const __m512bh pair = (__m512bh)_mm512_cvtepu16_epi32(
        (__m256i)_mm512_cvtneps_pbh((__m512)vset1(x)));
    return (vfloat)_mm512_dpbf16_ps((__m512)vload(in->b_ih + at), pair,
                                    (__m512bh)_mm512_loadu_si512(w));
#else
    return vload(in->b_ih + at) + vset1(x) * vload_weights(w, 0);
#endif
}

FR_INLINE void lstm_small_steps(const int np, const int one_input, int steps, int hidden,
                                int reverse, const small_input *in, const fr_weight *w_hh,
                                const float *h0, float *c, float *h_seq, const uint8_t *mask)
{
    const ptrdiff_t padded = np * FR_VLEN;
    const float *h_prev = h0;
    vfloat h_regs[FR_SMALL_MAX_PANELS];     /* h_prev, as the cells return it */
    for (int q = 0; q < np; q++)
        h_regs[q] = vload(h0 + q * FR_VLEN);
    for (int t = 0; t < steps; t++) {
        const int time = small_time(t, steps, reverse);
        float *h = h_seq + time * padded;
        if (small_runs(mask, time)) {
            vfloat acc[FR_SMALL_MAX_PANELS][FR_MAX_GATES];
            for (int q = 0; q < np; q++)
                for (int g = 0; g < 4; g++)
                    acc[q][g] = small_projection(one_input, 4, in, time, q, g);
            small_step_products(np, 4, hidden, h_prev, h_regs, w_hh, t, acc);
            for (int q = 0; q < np; q++)
                h_regs[q] = lstm_cell(acc[q], c + q * FR_VLEN, h + q * FR_VLEN);
        } else {
            memcpy(h, h_prev, padded * sizeof(float));
        }
        h_prev = h;
    }
}

static void lstm_small(const int one_input, int steps, int hidden, int reverse,
                       const small_input *in, const fr_weight *w_hh, const float *h0, float *c,
                       float *h_seq, const uint8_t *mask)
{
#define LSTM_SMALL(np) \
    lstm_small_steps(np, one_input, steps, hidden, reverse, in, w_hh, h0, c, h_seq, mask)
    switch ((hidden + FR_VLEN - 1) / FR_VLEN) {
    case 1: LSTM_SMALL(1); break;
    case 2: LSTM_SMALL(2); break;
    case 3: LSTM_SMALL(3); break;
    default: LSTM_SMALL(4); break;
    }
#undef LSTM_SMALL
}

void FR_SUFFIX(fr_lstm_small)(int steps, int hidden, int reverse, const float *xproj,
                              ptrdiff_t x_stride, const fr_weight *w_hh, const float *h0,
                              float *c, float *h_seq, const uint8_t *mask)
{
    const small_input in = {xproj, x_stride, NULL, NULL};
    lstm_small(0, steps, hidden, reverse, &in, w_hh, h0, c, h_seq, mask);
}

/* reset_after = 1: one pass, acc = (x_r, x_z, b_hn) + W_h h. */
FR_INLINE void gru_small_after(const int np, const int one_input, int hidden,
                               const small_input *in, int time, const fr_weight *w_hh,
                               const float *b_hn, const float *h_prev, vfloat *h_regs,
                               float *h, int t)
{
    vfloat acc[FR_SMALL_MAX_PANELS][FR_MAX_GATES];
    for (int q = 0; q < np; q++) {
        acc[q][0] = small_projection(one_input, 3, in, time, q, 0);
        acc[q][1] = small_projection(one_input, 3, in, time, q, 1);
        acc[q][2] = vload(b_hn + q * FR_VLEN);
    }
    small_step_products(np, 3, hidden, h_prev, h_regs, w_hh, t, acc);
    for (int q = 0; q < np; q++)
        h_regs[q] = gru_cell_reset_after(acc[q], small_projection(one_input, 3, in, time, q, 2),
                                         h_prev + q * FR_VLEN, h + q * FR_VLEN);
}

/* reset_after = 0: r and z from h, then n from r * h (gru.c's two phases). */
FR_INLINE void gru_small_before(const int np, const int one_input, int hidden,
                                const small_input *in, int time, const fr_weight *w_hh,
                                const float *h_prev, vfloat *h_regs, float *h)
{
    float reset_hidden[FR_SMALL_MAX_PANELS * FR_VLEN], update[FR_SMALL_MAX_PANELS * FR_VLEN];
    vfloat reset_regs[FR_SMALL_MAX_PANELS];
    vfloat acc[FR_SMALL_MAX_PANELS][FR_MAX_GATES];
    for (int q = 0; q < np; q++) {
        acc[q][0] = small_projection(one_input, 3, in, time, q, 0);
        acc[q][1] = small_projection(one_input, 3, in, time, q, 1);
    }
    small_products(np, 2, hidden, h_prev, h_regs, w_hh, acc);
    for (int q = 0; q < np; q++)
        reset_regs[q] = gru_cell_gates(acc[q], h_prev + q * FR_VLEN, reset_hidden + q * FR_VLEN,
                                       update + q * FR_VLEN);
    for (int q = 0; q < np; q++)
        acc[q][0] = small_projection(one_input, 3, in, time, q, 2);
    small_products(np, 1, hidden, reset_hidden, reset_regs,
                   w_hh + np * fr_panel_size(hidden, 2), acc);
    for (int q = 0; q < np; q++)
        h_regs[q] = gru_cell_candidate(acc[q], update + q * FR_VLEN, h_prev + q * FR_VLEN,
                                       h + q * FR_VLEN);
}

FR_INLINE void gru_small_steps(const int np, const int one_input, int steps, int hidden,
                               int reset_after, int reverse, const small_input *in,
                               const fr_weight *w_hh, const float *b_hn, const float *h0,
                               float *h_seq, const uint8_t *mask)
{
    const ptrdiff_t padded = np * FR_VLEN;
    const float *h_prev = h0;
    vfloat h_regs[FR_SMALL_MAX_PANELS];     /* h_prev, as the cells return it */
    for (int q = 0; q < np; q++)
        h_regs[q] = vload(h0 + q * FR_VLEN);
    for (int t = 0; t < steps; t++) {
        const int time = small_time(t, steps, reverse);
        float *h = h_seq + time * padded;
        if (!small_runs(mask, time))
            memcpy(h, h_prev, padded * sizeof(float));
        else if (reset_after)
            gru_small_after(np, one_input, hidden, in, time, w_hh, b_hn, h_prev, h_regs, h, t);
        else
            gru_small_before(np, one_input, hidden, in, time, w_hh, h_prev, h_regs, h);
        h_prev = h;
    }
}

static void gru_small(const int one_input, int steps, int hidden, int reset_after, int reverse,
                      const small_input *in, const fr_weight *w_hh, const float *b_hn,
                      const float *h0, float *h_seq, const uint8_t *mask)
{
#define GRU_SMALL(np)                                                                     \
    gru_small_steps(np, one_input, steps, hidden, reset_after, reverse, in, w_hh, b_hn, h0, \
                    h_seq, mask)
    switch ((hidden + FR_VLEN - 1) / FR_VLEN) {
    case 1: GRU_SMALL(1); break;
    case 2: GRU_SMALL(2); break;
    case 3: GRU_SMALL(3); break;
    default: GRU_SMALL(4); break;
    }
#undef GRU_SMALL
}

void FR_SUFFIX(fr_gru_small)(int steps, int hidden, int reset_after, int reverse,
                             const float *xproj, ptrdiff_t x_stride, const fr_weight *w_hh,
                             const float *b_hn, const float *h0, float *h_seq,
                             const uint8_t *mask)
{
    const small_input in = {xproj, x_stride, NULL, NULL};
    gru_small(0, steps, hidden, reset_after, reverse, &in, w_hh, b_hn, h0, h_seq, mask);
}

fr_status FR_SUFFIX(fr_lstm_one_input)(int steps, int hidden, int reverse, const float *x,
                                       ptrdiff_t x_stride, const void *w_ih, const float *b_ih,
                                       const void *w_hh, const float *h0, float *c,
                                       float *h_seq, const uint8_t *mask)
{
    if (steps < 0 || hidden < 1 || (steps > 0 && (x == NULL || h_seq == NULL)) || w_ih == NULL
        || b_ih == NULL || w_hh == NULL || h0 == NULL || c == NULL)
        return FR_ERR_ARG;
    if (!FR_SMALL_FITS(hidden, 4)) return FR_ERR_SHAPE;
    const small_input in = {x, x_stride, w_ih, b_ih};
    lstm_small(1, steps, hidden, reverse, &in, w_hh, h0, c, h_seq, mask);
    return FR_OK;
}

fr_status FR_SUFFIX(fr_gru_one_input)(int steps, int hidden, int reset_after, int reverse,
                                      const float *x, ptrdiff_t x_stride, const void *w_ih,
                                      const float *b_ih, const void *w_hh, const float *b_hn,
                                      const float *h0, float *h_seq, const uint8_t *mask)
{
    if (steps < 0 || hidden < 1 || (steps > 0 && (x == NULL || h_seq == NULL)) || w_ih == NULL
        || b_ih == NULL || w_hh == NULL || (reset_after && b_hn == NULL) || h0 == NULL)
        return FR_ERR_ARG;
    if (!FR_SMALL_FITS(hidden, 3)) return FR_ERR_SHAPE;
    const small_input in = {x, x_stride, w_ih, b_ih};
    gru_small(1, steps, hidden, reset_after, reverse, &in, w_hh, b_hn, h0, h_seq, mask);
    return FR_OK;
}

#endif
