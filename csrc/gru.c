/*
 * gru.c - the GRU recurrence, both variants, gates fused.
 *
 * With the input projection precomputed for all steps (one gemm):
 *
 *   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
 *   z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   reset_after = 1 (PyTorch, Keras default, ONNX linear_before_reset = 1):
 *     n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *   reset_after = 0 (Keras reset_after=False, ONNX default):
 *     n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)
 *   h' = (1 - z) * n + z * h,  computed as  n + z * (h - n)
 *
 * reset_after = 1: one pass per step. xproj (batch, steps, P, 3, V) holds
 *   W_i x + b_i with b_hr, b_hz folded in; w_hh (P, H, 3, V); b_hn (P, V).
 * reset_after = 0: r * h needs every unit's r before any n, so a step has two
 *   phases. Phase 0 computes r and z (w_hh panels (P, H, 2, V)) and stores
 *   r * h and z in scratch; phase 1 computes n from r * h (panels (P, H, 1, V),
 *   stored after the first set) and updates h. xproj holds all biases, b_hn
 *   folded into n's; b_hn is unused.
 *
 * xproj has x_stride floats per step; h0 (batch, Hpad); h_seq (batch, steps,
 * Hpad); scratch 2 * batch * Hpad. reverse: the steps run from the last to
 * the first, each written at its own time index. mask (batch, mask_stride) or
 * NULL: a step whose mask is 0 is skipped (h_t = h_{t-1}).
 */
#include "simd.h"
#include "cells.h"
#include "kernels.h"
#include "parallel.h"
#include "small.h"
#include "tile.h"

typedef struct {
    int steps, hidden, panels, reset_after, reverse;
    ptrdiff_t x_stride, mask_stride;
    const float *xproj;
    const fr_weight *w_hh;
    const float *b_hn, *h0;
    float *h_seq, *reset_hidden, *update;
    const uint8_t *mask;
} gru_problem;

/*
 * Tiles: rows [row, row + mr) of `at` x panels [0, np), pointers at that row
 * and panel 0 (panel q is q * V units on; h_prev points at whole rows). unit0
 * is the first unit of panel 0, to find h and z of a row. A row whose step is
 * skipped keeps h (the last phase copies h_prev). in (row stride ld_in): the
 * rows the products read (h_prev, or r * h in phase 1) as the tiles read
 * them (FR_TILE_RANGE_OF).
 */
FR_INLINE void gru_tile_reset_after(const int mr, const int np, int hidden,
                                    const fr_step_rows *at, int row, const float *h_prev,
                                    ptrdiff_t ld_h, const float *in, ptrdiff_t ld_in,
                                    const fr_weight *w, const float *b_hn,
                                    const float *xproj, ptrdiff_t ld_x, float *h_out,
                                    ptrdiff_t ld_out, int unit0)
{
    fr_acc acc;
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++) {
            acc[m * np + q][0] = vload(xproj + m * ld_x + (3 * q) * FR_VLEN);
            acc[m * np + q][1] = vload(xproj + m * ld_x + (3 * q + 1) * FR_VLEN);
            acc[m * np + q][2] = vload(b_hn + q * FR_VLEN);
        }
    tile_accumulate(mr, np, 3, hidden, in, ld_in, w, acc);
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++) {
            const float *h = h_prev + m * ld_h + unit0 + q * FR_VLEN;
            float *out = h_out + m * ld_out + q * FR_VLEN;
            if (fr_step_runs(at, row + m))
                gru_cell_reset_after(acc[m * np + q],
                                     vload(xproj + m * ld_x + (3 * q + 2) * FR_VLEN), h, out);
            else
                vstore(out, vload(h));
        }
}

/* Phase 0 of reset_after = 0: r and z; stores r * h and z (row stride ld_s). */
FR_INLINE void gru_tile_gates(const int mr, const int np, int hidden, const float *h_prev,
                              ptrdiff_t ld_h, const float *in, ptrdiff_t ld_in,
                              const fr_weight *w, const float *xproj,
                              ptrdiff_t ld_x, float *reset_hidden, float *update,
                              ptrdiff_t ld_s, int unit0)
{
    fr_acc acc;
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++) {
            acc[m * np + q][0] = vload(xproj + m * ld_x + (3 * q) * FR_VLEN);
            acc[m * np + q][1] = vload(xproj + m * ld_x + (3 * q + 1) * FR_VLEN);
        }
    tile_accumulate(mr, np, 2, hidden, in, ld_in, w, acc);
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++)
            gru_cell_gates(acc[m * np + q], h_prev + m * ld_h + unit0 + q * FR_VLEN,
                           reset_hidden + m * ld_s + q * FR_VLEN,
                           update + m * ld_s + q * FR_VLEN);
}

/* Phase 1 of reset_after = 0: n = tanh(xproj_n + W_hn (r * h)), then h'. */
FR_INLINE void gru_tile_candidate(const int mr, const int np, int hidden,
                                  const fr_step_rows *at, int row, const float *in,
                                  ptrdiff_t ld_in, const float *update, ptrdiff_t ld_s,
                                  const fr_weight *w,
                                  const float *xproj, ptrdiff_t ld_x, const float *h_prev,
                                  ptrdiff_t ld_h, float *h_out, ptrdiff_t ld_out, int unit0)
{
    fr_acc acc;
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++)
            acc[m * np + q][0] = vload(xproj + m * ld_x + (3 * q + 2) * FR_VLEN);
    tile_accumulate(mr, np, 1, hidden, in, ld_in, w, acc);
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++) {
            int unit = unit0 + q * FR_VLEN;
            const float *h = h_prev + m * ld_h + unit;
            float *out = h_out + m * ld_out + q * FR_VLEN;
            if (fr_step_runs(at, row + m))
                gru_cell_candidate(acc[m * np + q], update + m * ld_s + unit, h, out);
            else
                vstore(out, vload(h));
        }
}

static void gru_step(const void *ctx, int phase, int t, int row_begin, int row_end,
                     int panel_begin, int panel_end)
{
    const gru_problem *pr = ctx;
    const int H = pr->hidden;
    const ptrdiff_t padded = (ptrdiff_t)pr->panels * FR_VLEN;
    const fr_step_rows at = fr_step_rows_at(t, pr->steps, pr->reverse, padded, pr->x_stride,
                                            pr->xproj, pr->h0, pr->h_seq, pr->mask,
                                            pr->mask_stride);
    const float *h_prev = at.h_prev, *xproj = at.xproj;
    const ptrdiff_t ld_h = at.ld_h, ld_x = at.ld_x, ld_seq = at.ld_out;
    const fr_weight *w_candidate = pr->w_hh + pr->panels * fr_panel_size(H, 2);
    float *h_out = at.h_out;
    const int candidate_phase = !pr->reset_after && phase == 1;
    const float *input = candidate_phase ? pr->reset_hidden : h_prev;
    const ptrdiff_t ld_input = candidate_phase ? padded : ld_h;

    /* One tile: rows m.., mr rows, panels p.., np panels. */
#define TILE_AT(m, p, mr, np)                                                                  \
    do {                                                                                       \
        const int unit0 = (p) * FR_VLEN;                                                       \
        const float *x_mp = xproj + (m) * ld_x + (p) * 3 * FR_VLEN;                            \
        const float *in_m = in_rows + ((m) - in_first) * in_ld;                                \
        if (pr->reset_after)                                                                   \
            gru_tile_reset_after(mr, np, H, &at, m, h_prev + (m) * ld_h, ld_h, in_m, in_ld,    \
                                 pr->w_hh + (p) * fr_panel_size(H, 3), pr->b_hn + unit0,       \
                                 x_mp, ld_x, h_out + (m) * ld_seq + unit0, ld_seq, unit0);     \
        else if (phase == 0)                                                                   \
            gru_tile_gates(mr, np, H, h_prev + (m) * ld_h, ld_h, in_m, in_ld,                  \
                           pr->w_hh + (p) * fr_panel_size(H, 2), x_mp, ld_x,                   \
                           pr->reset_hidden + (m) * padded + unit0,                            \
                           pr->update + (m) * padded + unit0, padded, unit0);                  \
        else                                                                                   \
            gru_tile_candidate(mr, np, H, &at, m, in_m, in_ld, pr->update + (m) * padded,      \
                               padded,                                                         \
                               w_candidate + (p) * fr_panel_size(H, 1), x_mp, ld_x,             \
                               h_prev + (m) * ld_h, ld_h, h_out + (m) * ld_seq + unit0, ld_seq, \
                               unit0);                                                         \
    } while (0)
    FR_TILE_RANGE_OF(row_begin, row_end, panel_begin, panel_end, H, input, ld_input, TILE_AT);
#undef TILE_AT
}

void FR_SUFFIX(fr_gru)(int batch, int steps, int hidden, int reset_after, int reverse,
                       const float *xproj, ptrdiff_t x_stride, const void *w_hh,
                       const float *b_hn, const float *h0, float *h_seq, float *scratch,
                       const uint8_t *mask, ptrdiff_t mask_stride, int num_threads)
{
#if defined(FR_SMALL_PATH)
    if (batch == 1 && FR_SMALL_FITS(hidden, 3)) {
        FR_SUFFIX(fr_gru_small)(steps, hidden, reset_after, reverse, xproj, x_stride, w_hh,
                                    b_hn, h0, h_seq, mask);
        return;
    }
#endif
    int panels = (hidden + FR_VLEN - 1) / FR_VLEN;
    ptrdiff_t padded = (ptrdiff_t)panels * FR_VLEN;
    gru_problem pr = {.steps = steps, .hidden = hidden, .panels = panels,
                      .reset_after = reset_after, .reverse = reverse, .x_stride = x_stride,
                      .mask_stride = mask_stride, .xproj = xproj, .w_hh = w_hh, .b_hn = b_hn,
                      .h0 = h0, .h_seq = h_seq, .reset_hidden = scratch,
                      .update = scratch + batch * padded, .mask = mask};
    double macs_per_row_step = (double)hidden * padded * 3;
    fr_run_recurrence(batch, steps, panels, reset_after ? 1 : 2, macs_per_row_step, gru_step,
                      &pr, num_threads, FR_MR);
}

#if defined(FR_STEP_INPUT)
/* Rows [0, mr) x panels [0, np) of one step (reset_after = 1) with its input
 * projection: acc = b_ih + x w_ih (the gemm's tile, three gates), then acc =
 * (x_r, x_z, b_hn) + h0 w_hh and the cells with x_n (gru_tile_reset_after's).
 * x_in, h_in: the rows prepared; h0 and h_out rows of stride ld; b_ih,
 * b_hn, h0 and h_out at panel 0. */
FR_INLINE void gru_tile_input(const int mr, const int np, int input_size, int hidden,
                              const float *x_in, const float *h_in, ptrdiff_t x_ld,
                              ptrdiff_t h_ld, const fr_weight *w_x, const fr_weight *w_h,
                              const float *b_ih, const float *b_hn, const float *h0,
                              float *h_out, ptrdiff_t ld)
{
    fr_acc acc;
    vfloat x_n[FR_MR * FR_NP];
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++)
            for (int g = 0; g < 3; g++)
                acc[m * np + q][g] = vload(b_ih + (3 * q + g) * FR_VLEN);
    tile_accumulate(mr, np, 3, input_size, x_in, x_ld, w_x, acc);
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++) {
            x_n[m * np + q] = acc[m * np + q][2];
            acc[m * np + q][2] = vload(b_hn + q * FR_VLEN);
        }
    tile_accumulate(mr, np, 3, hidden, h_in, h_ld, w_h, acc);
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++)
            gru_cell_reset_after(acc[m * np + q], x_n[m * np + q], h0 + m * ld + q * FR_VLEN,
                                 h_out + m * ld + q * FR_VLEN);
}

/*
 * One step of `batch` sequences (reset_after = 1) with the input projection
 * in the tiles:
 *
 *   (x_r, x_z, x_n) = b_ih + x W_ih,  (a_r, a_z, a_n) = (x_r, x_z, b_hn) + h0 W_hh,
 *   then the cell (h_out = h'),
 *
 * each tile summed as fr_gemm's tile and then gru_tile_reset_after's, x and
 * h0 prepared once a pass of rows for every panel: the same operations in
 * the same order as fr_gemm then fr_gru for that step, so the same bits.
 * x (batch, ldx); h0, h_out (batch, Hpad).
 */
fr_status FR_SUFFIX(fr_gru_step_input)(int batch, int input_size, int hidden, int reset_after,
                                       const float *x, ptrdiff_t ldx, const void *w_ih,
                                       const float *b_ih, const void *w_hh, const float *b_hn,
                                       const float *h0, float *h_out, int num_threads)
{
    if (batch < 1 || input_size < 1 || hidden < 1 || ldx < input_size || x == NULL
        || w_ih == NULL || b_ih == NULL || w_hh == NULL || (reset_after && b_hn == NULL)
        || h0 == NULL || h_out == NULL)
        return FR_ERR_ARG;
    const int panels = (hidden + FR_VLEN - 1) / FR_VLEN;
    const ptrdiff_t padded = (ptrdiff_t)panels * FR_VLEN;
    const int widest = input_size > hidden ? input_size : hidden;
    if (!reset_after
        || (num_threads > 1 && (double)batch * widest * padded * 3 >= FR_PARALLEL_MIN_WORK))
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
        gru_tile_input(mr, np, input_size, hidden, x_in + ((m) - first) * x_ld,              \
                       h_in + ((m) - first) * h_ld, x_ld, h_ld,                              \
                       w_x + (p) * fr_panel_size(input_size, 3),                             \
                       w_h + (p) * fr_panel_size(hidden, 3), b_ih + (p) * 3 * FR_VLEN,       \
                       b_hn + (p) * FR_VLEN, h0 + (m) * padded + (p) * FR_VLEN,              \
                       h_out + (m) * padded + (p) * FR_VLEN, padded)
        FR_TILE_RANGE(first, last, 0, panels, TILE_AT);
#undef TILE_AT
    }
    return FR_OK;
}
#endif
