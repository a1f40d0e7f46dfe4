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

/* Task `task` of the (chunk, panel) pairs, chunk-major. */
static void gemm_task(int task, int rows, int K, int panels, int gates, const float *a,
                      ptrdiff_t lda, const float *w, const float *bias, float *c)
{
    const int width = gates * FR_VLEN;
    const ptrdiff_t ldc = (ptrdiff_t)panels * width;
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

void FR_SUFFIX(fr_gemm)(int rows, int K, int panels, int gates, const float *a, ptrdiff_t lda,
                        const float *w, const float *bias, float *c, int num_threads)
{
    const int tasks = (rows + CHUNK_ROWS - 1) / CHUNK_ROWS * panels;
    const double macs = (double)rows * K * panels * gates * FR_VLEN;
    if (num_threads > 1 && tasks > 1 && macs >= FR_PARALLEL_MIN_WORK) {
#pragma omp parallel for schedule(static) num_threads(num_threads)
        for (int task = 0; task < tasks; task++)
            gemm_task(task, rows, K, panels, gates, a, lda, w, bias, c);
    } else {
        for (int task = 0; task < tasks; task++)
            gemm_task(task, rows, K, panels, gates, a, lda, w, bias, c);
    }
}
