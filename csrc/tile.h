/*
 * tile.h - the one micro-kernel every matrix product in fastrnn goes through.
 *
 * A tile is `mr` rows of an input matrix a (row stride lda) times `np`
 * adjacent packed panels (K, G, V) (see kernels.h; panel q starts q * K * G * V
 * floats after w), accumulated into mr x np x G vector registers:
 *
 *   acc[m * np + q][g] += sum_k a[m, k] * w_q[k, g, :]      for k = 0, 1, ..., K - 1
 *
 * in that order, one fused multiply-add per k. Each row's result depends only
 * on that row, never on mr, np or on which rows share the tile, so a sequence
 * gives the same bits whatever the batch it is in, the thread count, or the
 * chunking of a stream.
 *
 * Tiles are mr = FR_MR rows of one panel for batches, and one row of
 * np = FR_NP panels when there is a single row (a stream stepping one frame):
 * enough independent accumulators to hide the FMA latency either way.
 *
 * mr, np and gates must be compile-time constants at the call site so that
 * the loops unroll and acc lives in registers: FR_TILE_RANGE instantiates a
 * tile for every row count from 1 to FR_MR.
 */
#ifndef FASTRNN_TILE_H
#define FASTRNN_TILE_H

#include "simd.h"

#define FR_MAX_GATES 4
/* Panels in a one-row tile; (row, panel) pairs share acc's first index. */
#define FR_NP (FR_MR < 4 ? FR_MR : 4)

typedef vfloat fr_acc[FR_MR][FR_MAX_GATES];

FR_INLINE void tile_accumulate(const int mr, const int np, const int gates, int K,
                               const float *a, ptrdiff_t lda, const fr_weight *w, fr_acc acc)
{
    const fr_weight *panel[FR_NP];
    for (int q = 0; q < np; q++)
        panel[q] = w + (ptrdiff_t)q * K * gates * FR_VLEN;
    for (int k = 0; k < K; k++) {
        const ptrdiff_t row = (ptrdiff_t)k * gates * FR_VLEN;
        /* Keep whichever operand set is smaller live in registers across the
         * FMAs: the weight vectors (when mr > gates) or the broadcasts. */
        if (np == 1 && mr > gates) {
            vfloat w_kg[FR_MAX_GATES];
#pragma GCC unroll 4
            for (int g = 0; g < gates; g++)
                w_kg[g] = vload_weights(w + row + g * FR_VLEN);
#pragma GCC unroll 8
            for (int m = 0; m < mr; m++) {
                vfloat a_mk = vset1(a[m * lda + k]);
#pragma GCC unroll 4
                for (int g = 0; g < gates; g++)
                    acc[m][g] += a_mk * w_kg[g];
            }
        } else {
#pragma GCC unroll 4
            for (int q = 0; q < np; q++)
#pragma GCC unroll 4
                for (int g = 0; g < gates; g++) {
                    vfloat w_kg = vload_weights(panel[q] + row + g * FR_VLEN);
#pragma GCC unroll 8
                    for (int m = 0; m < mr; m++)
                        acc[m * np + q][g] += vset1(a[m * lda + k]) * w_kg;
                }
        }
    }
}

/*
 * Every tile of rows [row_begin, row_end) x panels [panel_begin, panel_end):
 * a single row goes FR_NP panels per tile, then one tile of the panels left;
 * several rows go FR_MR rows of one panel per tile, then one tile of the rows
 * left. TILE_AT(m, p, mr, np) is the caller's macro for the tile whose first
 * row is m and first panel p.
 */
#define FR_TILE_RANGE(row_begin, row_end, panel_begin, panel_end, TILE_AT)    \
    do {                                                                      \
        int p = (panel_begin);                                                \
        if ((row_end) - (row_begin) == 1) {                                   \
            const int m = (row_begin);                                        \
            for (; p + FR_NP <= (panel_end); p += FR_NP)                      \
                TILE_AT(m, p, 1, FR_NP);                                      \
            switch ((panel_end) - p) {                                        \
                FR_PANEL_TAIL_CASES(TILE_AT)                                  \
            default: break;                                                   \
            }                                                                 \
            break;                                                            \
        }                                                                     \
        for (; p < (panel_end); p++) {                                        \
            int m = (row_begin);                                              \
            for (; m + FR_MR <= (row_end); m += FR_MR)                        \
                TILE_AT(m, p, FR_MR, 1);                                      \
            switch ((row_end) - m) {                                          \
                FR_TAIL_CASES(TILE_AT)                                        \
            default: break;                                                   \
            }                                                                 \
        }                                                                     \
    } while (0)

#define FR_TAIL_CASE(TILE_AT, r) case r: TILE_AT(m, p, r, 1); break;
/* The panels left after the FR_NP-panel tiles of a single row, in one tile:
 * as many independent accumulators as the row has. */
#define FR_PANEL_TAIL_CASE(TILE_AT, n) case n: TILE_AT(m, p, 1, n); break;
#if FR_NP == 2
#define FR_PANEL_TAIL_CASES(TILE_AT) FR_PANEL_TAIL_CASE(TILE_AT, 1)
#elif FR_NP == 3
#define FR_PANEL_TAIL_CASES(TILE_AT) FR_PANEL_TAIL_CASE(TILE_AT, 1) FR_PANEL_TAIL_CASE(TILE_AT, 2)
#elif FR_NP == 4
#define FR_PANEL_TAIL_CASES(TILE_AT) FR_PANEL_TAIL_CASE(TILE_AT, 1) \
    FR_PANEL_TAIL_CASE(TILE_AT, 2) FR_PANEL_TAIL_CASE(TILE_AT, 3)
#else
#error "FR_PANEL_TAIL_CASES: add the cases for this FR_NP"
#endif
#if FR_MR == 2
#define FR_TAIL_CASES(TILE_AT) FR_TAIL_CASE(TILE_AT, 1)
#elif FR_MR == 3
#define FR_TAIL_CASES(TILE_AT) FR_TAIL_CASE(TILE_AT, 1) FR_TAIL_CASE(TILE_AT, 2)
#elif FR_MR == 6
#define FR_TAIL_CASES(TILE_AT) FR_TAIL_CASE(TILE_AT, 1) FR_TAIL_CASE(TILE_AT, 2) \
    FR_TAIL_CASE(TILE_AT, 3) FR_TAIL_CASE(TILE_AT, 4) FR_TAIL_CASE(TILE_AT, 5)
#else
#error "FR_TAIL_CASES: add the cases for this FR_MR"
#endif

#endif
