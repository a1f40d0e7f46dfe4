/*
 * gemm.c - input projections and Dense layers: a matrix times packed panels.
 *
 *   c[m, p, g, :] = bias[p, g, :] + sum_k a[m, k] * w[p, k, g, :]
 *
 * a (rows, K) with row stride lda; w (P, K, G, V) and bias (P, G, V) packed
 * (kernels.h); c (rows, P * G * V) contiguous.
 *
 * Blocking: rows are taken in chunks small enough that a chunk of `a` stays
 * in L2 while every panel of w streams past it; each panel then meets the
 * chunk FR_MR rows at a time in the micro-kernel. Threads take (chunk, panel)
 * pairs in chunk-major order, so a long matrix splits by rows and a short one
 * (one streaming frame) by panels; a serial run takes a chunk with every
 * panel.
 */
#include "simd.h"
#include "kernels.h"
#include "parallel.h"
#include "tile.h"

#define CHUNK_ROWS (FR_MR * 16)

FR_INLINE void gemm_tile(const int mr, const int np, const int gates, int K, const float *a,
                         ptrdiff_t lda, const fr_weight *w, const float *bias, float *c,
                         ptrdiff_t ldc)
{
    fr_acc acc;
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++)
            for (int g = 0; g < gates; g++)
                acc[m * np + q][g] = vload(bias + (q * gates + g) * FR_VLEN);
    tile_accumulate(mr, np, gates, K, a, lda, w, acc);
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++)
            for (int g = 0; g < gates; g++)
                vstore(c + m * ldc + (q * gates + g) * FR_VLEN, acc[m * np + q][g]);
}

/* Rows [row_begin, row_end) times panels [panel_begin, panel_end), for a compile-time gate count. */
FR_INLINE void gemm_panels(const int gates, int row_begin, int row_end, int panel_begin,
                           int panel_end, int K, const float *a, ptrdiff_t lda,
                           const fr_weight *w, const float *bias, float *c, ptrdiff_t ldc)
{
    const int width = gates * FR_VLEN;
#define TILE_AT(m, p, mr, np)                                                                \
    gemm_tile(mr, np, gates, K, in_rows + ((m) - in_first) * in_ld, in_ld,                   \
              w + (p) * fr_panel_size(K, gates), bias + (p) * width,                         \
              c + (m) * ldc + (p) * width, ldc)
    FR_TILE_RANGE_OF(row_begin, row_end, panel_begin, panel_end, K, a, lda, TILE_AT);
#undef TILE_AT
}

/* Rows [row_begin, row_end) times panels [panel_begin, panel_end). */
static void gemm_block(int row_begin, int row_end, int panel_begin, int panel_end, int K,
                       int panels, int gates, const float *a, ptrdiff_t lda, const fr_weight *w,
                       const float *bias, float *c)
{
    const ptrdiff_t ldc = (ptrdiff_t)panels * gates * FR_VLEN;
    switch (gates) {
    case 1: gemm_panels(1, row_begin, row_end, panel_begin, panel_end, K, a, lda, w, bias, c, ldc);
        break;
    case 2: gemm_panels(2, row_begin, row_end, panel_begin, panel_end, K, a, lda, w, bias, c, ldc);
        break;
    case 3: gemm_panels(3, row_begin, row_end, panel_begin, panel_end, K, a, lda, w, bias, c, ldc);
        break;
    default:
        gemm_panels(4, row_begin, row_end, panel_begin, panel_end, K, a, lda, w, bias, c, ldc);
        break;
    }
}

/*
 * Threads take (chunk of rows, group of panels) pairs, chunk-major: a group
 * is one panel, or FR_NP panels for a single row. A serial run takes each
 * chunk with all the panels, so that the dot-product builds prepare a row
 * once (FR_TILE_RANGE_OF), not once per panel.
 */
void FR_SUFFIX(fr_gemm)(int rows, int K, int panels, int gates, const float *a, ptrdiff_t lda,
                        const void *w, const float *bias, float *c, int num_threads)
{
    const int group = rows == 1 ? FR_NP : 1, groups = (panels + group - 1) / group;
    const int chunks = (rows + CHUNK_ROWS - 1) / CHUNK_ROWS, tasks = chunks * groups;
    const double macs = (double)rows * K * panels * gates * FR_VLEN;
    if (num_threads > 1 && tasks > 1 && macs >= FR_PARALLEL_MIN_WORK) {
#pragma omp parallel for schedule(static) num_threads(num_threads)
        for (int task = 0; task < tasks; task++) {
            const int chunk = task / groups, p = task % groups * group;
            const int row_end = (chunk + 1) * CHUNK_ROWS < rows ? (chunk + 1) * CHUNK_ROWS : rows;
            gemm_block(chunk * CHUNK_ROWS, row_end, p, p + group < panels ? p + group : panels,
                       K, panels, gates, a, lda, w, bias, c);
        }
    } else {
        for (int chunk = 0; chunk < chunks; chunk++) {
            const int row_end = (chunk + 1) * CHUNK_ROWS < rows ? (chunk + 1) * CHUNK_ROWS : rows;
            gemm_block(chunk * CHUNK_ROWS, row_end, 0, panels, K, panels, gates, a, lda, w, bias,
                       c);
        }
    }
}
