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
 * (one streaming frame) by panels.
 */
#include "simd.h"
#include "kernels.h"
#include "parallel.h"
#include "tile.h"

#define CHUNK_ROWS (FR_MR * 16)

FR_INLINE void gemm_tile(const int mr, const int gates, int K, const float *a, ptrdiff_t lda,
                         const float *w, const float *bias, float *c, ptrdiff_t ldc)
{
    vfloat acc[FR_MR][FR_MAX_GATES];
    for (int m = 0; m < mr; m++)
        for (int g = 0; g < gates; g++)
            acc[m][g] = vload(bias + g * FR_VLEN);
    tile_accumulate(mr, gates, K, a, lda, w, acc);
    for (int m = 0; m < mr; m++)
        for (int g = 0; g < gates; g++)
            vstore(c + m * ldc + g * FR_VLEN, acc[m][g]);
}

/* Rows [row_begin, row_end) times one panel, for a compile-time gate count. */
FR_INLINE void gemm_panel(const int gates, int row_begin, int row_end, int K, const float *a,
                          ptrdiff_t lda, const float *w, const float *bias, float *c,
                          ptrdiff_t ldc)
{
    int m = row_begin;
#define TILE(mr) gemm_tile(mr, gates, K, a + m * lda, lda, w, bias, c + m * ldc, ldc)
    FR_TILE_ROWS(m, row_end, TILE);
#undef TILE
}

void FR_SUFFIX(fr_gemm)(int rows, int K, int panels, int gates, const float *a, ptrdiff_t lda,
                        const float *w, const float *bias, float *c, int num_threads)
{
    const int width = gates * FR_VLEN;
    const ptrdiff_t ldc = (ptrdiff_t)panels * width;
    const int chunks = (rows + CHUNK_ROWS - 1) / CHUNK_ROWS;
    const int tasks = chunks * panels;
    const double macs = (double)rows * K * ldc;
    const int threads = macs >= FR_PARALLEL_MIN_WORK ? num_threads : 1;

#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int task = 0; task < tasks; task++) {
        int chunk = task / panels, p = task % panels;
        int row_begin = chunk * CHUNK_ROWS;
        int row_end = row_begin + CHUNK_ROWS < rows ? row_begin + CHUNK_ROWS : rows;
        const float *w_p = w + (ptrdiff_t)p * K * width;
        const float *bias_p = bias + p * width;
        float *c_p = c + p * width;
        switch (gates) {
        case 1: gemm_panel(1, row_begin, row_end, K, a, lda, w_p, bias_p, c_p, ldc); break;
        case 2: gemm_panel(2, row_begin, row_end, K, a, lda, w_p, bias_p, c_p, ldc); break;
        case 3: gemm_panel(3, row_begin, row_end, K, a, lda, w_p, bias_p, c_p, ldc); break;
        default: gemm_panel(4, row_begin, row_end, K, a, lda, w_p, bias_p, c_p, ldc); break;
        }
    }
}
