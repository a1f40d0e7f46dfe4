/*
 * conv.c - the window kernels of convolutions and pooling over time
 * (compiled once per instruction set). graph.c lays each output frame's
 * window out as one row of `kernel` frames of `channels` floats (an im2col
 * row, taps in order, padding already in place); a full convolution is then
 * one gemm over those rows (gemm.c), and these kernels do the rest:
 *
 *   depthwise  y[r, o] = b[o] + sum_k w[k, o] col[r, k, o / multiplier]
 *   max pool   y[r, c] = max_k col[r, k, c]
 *   avg pool   y[r, c] = (sum_k col[r, k, c]) / divisor[r]
 *
 * Sums run over k in order: a frame's result depends on its window alone.
 */
#include "simd.h"
#include "kernels.h"

/* col (rows, kernel, in_channels) with row stride ld_col; w (kernel, ld_w)
 * with ld_w >= out_channels = in_channels * multiplier; b (out_channels). */
void FR_ISA_SUFFIX(fr_depthwise_rows)(int rows, int kernel, int in_channels, int multiplier,
                                      const float *col, ptrdiff_t ld_col, const float *w,
                                      ptrdiff_t ld_w, const float *b, float *y, ptrdiff_t ld_y)
{
    const int out_channels = in_channels * multiplier;
    for (int r = 0; r < rows; r++) {
        const float *window = col + r * ld_col;
        float *out = y + r * ld_y;
        if (multiplier == 1) {
            int c = 0;
            for (; c + FR_VLEN <= out_channels; c += FR_VLEN) {
                vfloat acc = vload(b + c);
                for (int k = 0; k < kernel; k++)
                    acc += vload(w + k * ld_w + c) * vload(window + (ptrdiff_t)k * in_channels + c);
                vstore(out + c, acc);
            }
            for (; c < out_channels; c++) {
                float acc = b[c];
                for (int k = 0; k < kernel; k++)
                    acc += w[k * ld_w + c] * window[(ptrdiff_t)k * in_channels + c];
                out[c] = acc;
            }
            continue;
        }
        for (int o = 0; o < out_channels; o++) {
            float acc = b[o];
            for (int k = 0; k < kernel; k++)
                acc += w[k * ld_w + o] * window[(ptrdiff_t)k * in_channels + o / multiplier];
            out[o] = acc;
        }
    }
}

/* col (rows, kernel, channels); divisors (rows) for an average, NULL for a
 * max (NaN wins a max, as in PyTorch). */
void FR_ISA_SUFFIX(fr_pool_rows)(int rows, int kernel, int channels, const float *col,
                                 ptrdiff_t ld_col, const float *divisors, float *y, ptrdiff_t ld_y)
{
    for (int r = 0; r < rows; r++) {
        const float *window = col + r * ld_col;
        float *out = y + r * ld_y;
        for (int c = 0; c < channels; c++) {
            float value = window[c];
            for (int k = 1; k < kernel; k++) {
                float v = window[(ptrdiff_t)k * channels + c];
                if (divisors != NULL) value += v;
                else value = v > value || v != v ? v : value;
            }
            out[c] = divisors != NULL ? value / divisors[r] : value;
        }
    }
}
