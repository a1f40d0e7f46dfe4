/*
 * rnn.c - the simple (Elman) recurrence, as nn.RNN and Keras SimpleRNN:
 *
 *   h_t = act(xproj_t + W_hh h_{t-1}),   xproj_t = W_ih x_t + b_ih + b_hh (one gemm)
 *   act = tanh or relu
 *
 * xproj (batch, steps, x_stride) holding (P, 1, V) per step; w_hh (P, H, 1, V)
 * packed; h0 (batch, Hpad); h_seq (batch, steps, Hpad), h_t of every step.
 * Hpad = P * V. reverse: the steps run from the last to the first. mask
 * (batch, mask_stride) or NULL: a step whose mask is 0 is skipped (h_t = h_{t-1}).
 */
#include "simd.h"
#include "kernels.h"
#include "parallel.h"
#include "tile.h"

typedef struct {
    int steps, hidden, panels, relu, reverse;
    ptrdiff_t x_stride, mask_stride;
    const float *xproj;
    const fr_weight *w_hh;
    const float *h0;
    float *h_seq;
    const uint8_t *mask;
} rnn_problem;

FR_NOINLINE void rnn_cell(const vfloat pre[1], int relu, float *h)
{
    vstore(h, relu ? vrelu(pre[0]) : vtanh(pre[0]));
}

/*
 * Rows [row, row + mr) of `at` x panels [0, np): h_prev (whole rows), xproj
 * and h_out are at that row and, but for h_prev, at panel 0; panel q is q * V
 * units on; unit0 is the first unit of panel 0. in (row stride ld_in):
 * those rows of h_prev as the tiles read them (FR_TILE_RANGE_OF).
 */
FR_INLINE void rnn_tile(const int mr, const int np, int hidden, int relu, const fr_step_rows *at,
                        int row, const float *h_prev, const float *in, ptrdiff_t ld_in,
                        const fr_weight *w, const float *xproj, float *h_out, int unit0)
{
    fr_acc acc;
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++)
            acc[m * np + q][0] = vload(xproj + m * at->ld_x + q * FR_VLEN);
    tile_accumulate(mr, np, 1, hidden, in, ld_in, w, acc);
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++) {
            float *h = h_out + m * at->ld_out + q * FR_VLEN;
            if (fr_step_runs(at, row + m))
                rnn_cell(acc[m * np + q], relu, h);
            else
                vstore(h, vload(h_prev + m * at->ld_h + unit0 + q * FR_VLEN));
        }
}

static void rnn_step(const void *ctx, int phase, int t, int row_begin, int row_end,
                     int panel_begin, int panel_end)
{
    const rnn_problem *pr = ctx;
    const ptrdiff_t padded = (ptrdiff_t)pr->panels * FR_VLEN;
    const fr_step_rows at = fr_step_rows_at(t, pr->steps, pr->reverse, padded, pr->x_stride,
                                            pr->xproj, pr->h0, pr->h_seq, pr->mask,
                                            pr->mask_stride);
    (void)phase;

#define TILE_AT(m, p, mr, np)                                                               \
    rnn_tile(mr, np, pr->hidden, pr->relu, &at, m, at.h_prev + (m) * at.ld_h,               \
             in_rows + ((m) - in_first) * in_ld, in_ld,                                     \
             pr->w_hh + (p) * fr_panel_size(pr->hidden, 1),                                 \
             at.xproj + (m) * at.ld_x + (p) * FR_VLEN,                                      \
             at.h_out + (m) * at.ld_out + (p) * FR_VLEN, (p) * FR_VLEN)
    FR_TILE_RANGE_OF(row_begin, row_end, panel_begin, panel_end, pr->hidden, at.h_prev, at.ld_h,
                     TILE_AT);
#undef TILE_AT
}

void FR_SUFFIX(fr_rnn)(int batch, int steps, int hidden, int relu, int reverse,
                       const float *xproj, ptrdiff_t x_stride, const void *w_hh,
                       const float *h0, float *h_seq, const uint8_t *mask,
                       ptrdiff_t mask_stride, int num_threads)
{
    int panels = (hidden + FR_VLEN - 1) / FR_VLEN;
    rnn_problem pr = {.steps = steps, .hidden = hidden, .panels = panels, .relu = relu != 0,
                      .reverse = reverse, .x_stride = x_stride, .mask_stride = mask_stride,
                      .xproj = xproj, .w_hh = w_hh, .h0 = h0, .h_seq = h_seq, .mask = mask};
    double macs_per_row_step = (double)hidden * panels * FR_VLEN;
    fr_run_recurrence(batch, steps, panels, 1, macs_per_row_step, rnn_step, &pr, num_threads,
                      FR_MR);
}
