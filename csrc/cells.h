/*
 * cells.h - the gate equations that end a recurrent step, from the gate
 * pre-activations of V units (the recurrences' tile path, lstm.c and gru.c,
 * and their one-sequence path for small layers, small.c: both through these
 * functions, so that they give the same bits).
 *
 * LSTM:  c' = f * c + i * g,  h' = o * tanh(c')
 * GRU:   h' = (1 - z) * n + z * h,  computed as  n + z * (h - n)
 *
 * Kept out of line (FR_NOINLINE) so that their constants do not take the
 * registers the accumulators of a tile need; a file may use some of them.
 */
#ifndef FASTRNN_CELLS_H
#define FASTRNN_CELLS_H

#include "simd.h"

#define FR_CELL FR_NOINLINE __attribute__((unused))

/* c' = f * c + i * g and h' = o * tanh(c') for V units, from their gate
 * pre-activations; h' also returned (the cells below return what they store
 * of the next step's input, for the products of small.c). */
FR_CELL vfloat lstm_cell(const vfloat pre[4], float *c, float *h)
{
    vfloat input_gate = vsigmoid_cell(pre[0]);
    vfloat forget_gate = vsigmoid_cell(pre[1]);
    vfloat candidate = vtanh_cell(pre[2]);
    vfloat output_gate = vsigmoid_cell(pre[3]);
    vfloat cell = forget_gate * vload(c) + input_gate * candidate;
    vstore(c, cell);
    const vfloat out = output_gate * vtanh_cell(cell);
    vstore(h, out);
    return out;
}

/* h' = n + z * (h - n) */
FR_INLINE vfloat gru_blend(vfloat candidate, vfloat update, vfloat h_prev)
{
    return candidate + update * (h_prev - candidate);
}

/* reset_after: n = tanh(x_n + r * (W_hn h + b_hn)), h' = n + z * (h - n) for V units. */
FR_CELL vfloat gru_cell_reset_after(const vfloat pre[3], vfloat x_n, const float *h,
                                        float *h_out)
{
    vfloat reset = vsigmoid_cell(pre[0]);
    vfloat update = vsigmoid_cell(pre[1]);
    vfloat candidate = vtanh_cell(x_n + reset * pre[2]);
    const vfloat out = gru_blend(candidate, update, vload(h));
    vstore(h_out, out);
    return out;
}

/* Phase 0 of reset_after = 0: stores r * h (and returns it) and z for V units. */
FR_CELL vfloat gru_cell_gates(const vfloat pre[2], const float *h, float *reset_hidden,
                                  float *update)
{
    const vfloat out = vsigmoid_cell(pre[0]) * vload(h);
    vstore(reset_hidden, out);
    vstore(update, vsigmoid_cell(pre[1]));
    return out;
}

/* Phase 1 of reset_after = 0: n = tanh(pre), h' = n + z * (h - n) for V units. */
FR_CELL vfloat gru_cell_candidate(const vfloat pre[1], const float *update, const float *h,
                                      float *h_out)
{
    vfloat candidate = vtanh_cell(pre[0]);
    const vfloat out = gru_blend(candidate, vload(update), vload(h));
    vstore(h_out, out);
    return out;
}

#endif
