/*
 * tile.h - the one micro-kernel every matrix product in fastrnn goes through.
 *
 * A tile is `mr` rows of an input matrix a (row stride lda) times one packed
 * panel w (K, G, V) (see kernels.h), accumulated into mr x G vector registers:
 *
 *   acc[m][g] += sum_k a[m, k] * w[k, g, :]        for k = 0, 1, ..., K - 1
 *
 * in that order, one fused multiply-add per k. Each row's result depends only
 * on that row, never on mr or on which rows share the tile, so a sequence
 * gives the same bits whatever the batch it is in, the thread count, or the
 * chunking of a stream.
 *
 * mr and gates must be compile-time constants at the call site so that the
 * loops unroll and acc lives in registers; callers instantiate FR_MR and 1.
 */
#ifndef FASTRNN_TILE_H
#define FASTRNN_TILE_H

#include "simd.h"

#define FR_MAX_GATES 4

FR_INLINE void tile_accumulate(const int mr, const int gates, int K, const float *a,
                               ptrdiff_t lda, const float *w,
                               vfloat acc[FR_MR][FR_MAX_GATES])
{
    for (int k = 0; k < K; k++) {
        const float *w_k = w + (ptrdiff_t)k * gates * FR_VLEN;
#pragma GCC unroll 4
        for (int g = 0; g < gates; g++) {
            vfloat w_kg = vload(w_k + g * FR_VLEN);
#pragma GCC unroll 8
            for (int m = 0; m < mr; m++)
                acc[m][g] += vset1(a[m * lda + k]) * w_kg;
        }
    }
}

#endif
