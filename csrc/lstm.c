/*
 * lstm.c - the LSTM recurrence, gates fused.
 *
 * For each step t, with the input projection precomputed for all steps
 * (xproj_t = W_ih x_t + b_ih + b_hh, one gemm):
 *
 *   a_t = xproj_t + W_hh h_{t-1}
 *   i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
 *   c_t = f * c_{t-1} + i * g
 *   h_t = o * tanh(c_t)
 *
 * A panel carries the four gates of V units, so one micro-kernel tile ends
 * with everything needed to update those units' c and h from registers: no
 * gate pre-activations are written back to memory.
 *
 * xproj (batch, steps, x_stride) holding (P, 4, V) per step; w_hh (P, H, 4, V)
 * packed; h0 (batch, Hpad); c (batch, Hpad), the cell state, read and
 * updated; h_seq (batch, steps, Hpad), h_t of every step. Hpad = P * V.
 * reverse: the steps run from the last to the first (a backward direction),
 * each written at its own time index. mask (batch, mask_stride) or NULL: a
 * step whose mask is 0 is skipped (h_t = h_{t-1}, c unchanged).
 */
#include "simd.h"
#include "cells.h"
#include "kernels.h"
#include "parallel.h"
#include "small.h"
#include "tile.h"

typedef struct {
    int steps, hidden, panels, reverse;
    ptrdiff_t x_stride, mask_stride;
    const float *xproj;
    const fr_weight *w_hh;
    const float *h0;
    float *c, *h_seq;
    const uint8_t *mask;
} lstm_problem;

/*
 * Rows [row, row + mr) x panels [0, np): h_prev (whole rows), xproj, c and
 * h_out are at row `row` (of `at`) and, but for h_prev, at panel 0; panel q is
 * q * V units on; unit0 is the first unit of panel 0. in (row stride ld_in):
 * those rows of h_prev as the tiles read them (FR_TILE_RANGE_OF).
 */
FR_INLINE void lstm_tile(const int mr, const int np, int hidden, const fr_step_rows *at,
                         int row, const float *h_prev, const float *in, ptrdiff_t ld_in,
                         const fr_weight *w, const float *xproj, float *c, ptrdiff_t ld_c,
                         float *h_out, int unit0)
{
    fr_acc acc;
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++)
            for (int g = 0; g < 4; g++)
                acc[m * np + q][g] = vload(xproj + m * at->ld_x + (4 * q + g) * FR_VLEN);
    tile_accumulate(mr, np, 4, hidden, in, ld_in, w, acc);
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++) {
            float *h = h_out + m * at->ld_out + q * FR_VLEN;
            if (fr_step_runs(at, row + m))
                lstm_cell(acc[m * np + q], c + m * ld_c + q * FR_VLEN, h);
            else
                vstore(h, vload(h_prev + m * at->ld_h + unit0 + q * FR_VLEN));
        }
}

static void lstm_step(const void *ctx, int phase, int t, int row_begin, int row_end,
                      int panel_begin, int panel_end)
{
    const lstm_problem *pr = ctx;
    const ptrdiff_t padded = (ptrdiff_t)pr->panels * FR_VLEN;
    const fr_step_rows at = fr_step_rows_at(t, pr->steps, pr->reverse, padded, pr->x_stride,
                                            pr->xproj, pr->h0, pr->h_seq, pr->mask,
                                            pr->mask_stride);
    (void)phase;

#define TILE_AT(m, p, mr, np)                                                               \
    lstm_tile(mr, np, pr->hidden, &at, m, at.h_prev + (m) * at.ld_h,                        \
              in_rows + ((m) - in_first) * in_ld, in_ld,                                    \
              pr->w_hh + (p) * fr_panel_size(pr->hidden, 4),                                \
              at.xproj + (m) * at.ld_x + (p) * 4 * FR_VLEN,                                 \
              pr->c + (m) * padded + (p) * FR_VLEN, padded,                                 \
              at.h_out + (m) * at.ld_out + (p) * FR_VLEN, (p) * FR_VLEN)
    FR_TILE_RANGE_OF(row_begin, row_end, panel_begin, panel_end, pr->hidden, at.h_prev, at.ld_h,
                     TILE_AT);
#undef TILE_AT
}

void FR_SUFFIX(fr_lstm)(int batch, int steps, int hidden, int reverse, const float *xproj,
                        ptrdiff_t x_stride, const void *w_hh, const float *h0, float *c,
                        float *h_seq, const uint8_t *mask, ptrdiff_t mask_stride,
                        int num_threads)
{
#if defined(FR_SMALL_PATH)
    if (batch == 1 && FR_SMALL_FITS(hidden, 4)) {
        FR_SUFFIX(fr_lstm_small)(steps, hidden, reverse, xproj, x_stride, w_hh, h0, c, h_seq,
                                     mask);
        return;
    }
#endif
    int panels = (hidden + FR_VLEN - 1) / FR_VLEN;
    lstm_problem pr = {.steps = steps, .hidden = hidden, .panels = panels, .reverse = reverse,
                       .x_stride = x_stride, .mask_stride = mask_stride, .xproj = xproj,
                       .w_hh = w_hh, .h0 = h0, .c = c, .h_seq = h_seq, .mask = mask};
    double macs_per_row_step = (double)hidden * panels * 4 * FR_VLEN;
    fr_run_recurrence(batch, steps, panels, 1, macs_per_row_step, lstm_step, &pr, num_threads,
                      FR_MR);
}

#if defined(FR_STEP_INPUT)
/* Rows [0, mr) x panels [0, np) of one step with its input projection:
 * acc = b_ih + x w_ih (the gemm's tile), acc += h0 w_hh, the cells
 * (lstm_tile's). x_in, h_in: the rows prepared; b_ih, c and h_out at panel
 * 0 (c and h_out rows of stride ld). */
FR_INLINE void lstm_tile_input(const int mr, const int np, int input_size, int hidden,
                               const float *x_in, const float *h_in, ptrdiff_t x_ld,
                               ptrdiff_t h_ld, const fr_weight *w_x, const fr_weight *w_h,
                               const float *b_ih, float *c, float *h_out, ptrdiff_t ld)
{
    fr_acc acc;
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++)
            for (int g = 0; g < 4; g++)
                acc[m * np + q][g] = vload(b_ih + (4 * q + g) * FR_VLEN);
    tile_accumulate(mr, np, 4, input_size, x_in, x_ld, w_x, acc);
    tile_accumulate(mr, np, 4, hidden, h_in, h_ld, w_h, acc);
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++)
            lstm_cell(acc[m * np + q], c + m * ld + q * FR_VLEN, h_out + m * ld + q * FR_VLEN);
}

/*
 * One step of `batch` sequences with the input projection in the tiles:
 *
 *   a = b_ih + x W_ih + h0 W_hh,  then the cell (c updated, h_out = h'),
 *
 * each tile's a summed as fr_gemm's tile (b_ih + x W_ih) and then lstm_tile's
 * (+ h0 W_hh), x and h0 prepared once a pass of rows for every panel: the
 * same operations in the same order as fr_gemm then fr_lstm for that step,
 * so the same bits. x (batch, ldx); h0, c, h_out (batch, Hpad).
 */
fr_status FR_SUFFIX(fr_lstm_step_input)(int batch, int input_size, int hidden, const float *x,
                                        ptrdiff_t ldx, const void *w_ih, const float *b_ih,
                                        const void *w_hh, const float *h0, float *c,
                                        float *h_out, int num_threads)
{
    if (batch < 1 || input_size < 1 || hidden < 1 || ldx < input_size || x == NULL
        || w_ih == NULL || b_ih == NULL || w_hh == NULL || h0 == NULL || c == NULL
        || h_out == NULL)
        return FR_ERR_ARG;
    const int panels = (hidden + FR_VLEN - 1) / FR_VLEN;
    const ptrdiff_t padded = (ptrdiff_t)panels * FR_VLEN;
    const int widest = input_size > hidden ? input_size : hidden;
    if (num_threads > 1 && (double)batch * widest * padded * 4 >= FR_PARALLEL_MIN_WORK)
        return FR_ERR_SHAPE;
    const ptrdiff_t x_ld = fr_prepared_stride(input_size), h_ld = fr_prepared_stride(hidden);
    const int pass = fr_prepared_rows(x_ld + h_ld, batch);
    float x_in[pass * x_ld], h_in[pass * h_ld];
    const fr_weight *w_x = w_ih, *w_h = w_hh;
    for (int first = 0; first < batch; first += pass) {
        const int last = batch - first < pass ? batch : first + pass;
        fr_prepare_rows(last - first, input_size, x + first * ldx, ldx, x_in);
        fr_prepare_rows(last - first, hidden, h0 + first * padded, padded, h_in);
#define TILE_AT(m, p, mr, np)                                                                \
        lstm_tile_input(mr, np, input_size, hidden, x_in + ((m) - first) * x_ld,             \
                        h_in + ((m) - first) * h_ld, x_ld, h_ld,                             \
                        w_x + (p) * fr_panel_size(input_size, 4),                            \
                        w_h + (p) * fr_panel_size(hidden, 4), b_ih + (p) * 4 * FR_VLEN,      \
                        c + (m) * padded + (p) * FR_VLEN, h_out + (m) * padded + (p) * FR_VLEN, \
                        padded)
        FR_TILE_RANGE(first, last, 0, panels, TILE_AT);
#undef TILE_AT
    }
    return FR_OK;
}
#endif
