/*
 * parallel.h - OpenMP helpers shared by the kernel files (internal).
 *
 * Built without OpenMP, the pragmas are ignored and the omp_* stubs below make
 * every loop serial. Work is split so that each output element is computed by
 * exactly one thread with the same arithmetic as in a serial run: results are
 * bit-for-bit independent of the thread count.
 */
#ifndef FASTRNN_PARALLEL_H
#define FASTRNN_PARALLEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
#endif

/* Below this many multiply-adds, a parallel region costs more than it saves. */
#define FR_PARALLEL_MIN_WORK (1 << 17)

/* [begin, end) of `count` items for thread `tid` of `nthreads`, in multiples of `grain`. */
static inline void fr_thread_range(int count, int grain, int tid, int nthreads, int *begin,
                                   int *end)
{
    int blocks = (count + grain - 1) / grain;
    int b0 = (int)((long long)blocks * tid / nthreads);
    int b1 = (int)((long long)blocks * (tid + 1) / nthreads);
    *begin = b0 * grain < count ? b0 * grain : count;
    *end = b1 * grain < count ? b1 * grain : count;
}

/*
 * Where step t of a recurrence over `steps` steps reads and writes: xproj has
 * x_stride floats per step, h_seq `padded` per step (and h0 per sequence),
 * mask (batch, mask_stride) or NULL says which (sequence, time) steps run.
 * reverse: the steps run from the last to the first, each at its own time
 * index, so step t is time steps - 1 - t and follows time t + 1.
 */
typedef struct {
    const float *h_prev, *xproj;
    float *h_out;
    const uint8_t *mask;            /* at this time, sequence 0; NULL: every step runs */
    ptrdiff_t ld_h, ld_x, ld_out, ld_mask;   /* strides between sequences */
} fr_step_rows;

static inline fr_step_rows fr_step_rows_at(int t, int steps, int reverse, ptrdiff_t padded,
                                           ptrdiff_t x_stride, const float *xproj,
                                           const float *h0, float *h_seq,
                                           const uint8_t *mask, ptrdiff_t mask_stride)
{
    const int time = reverse ? steps - 1 - t : t;
    const int previous = reverse ? time + 1 : time - 1;
    fr_step_rows rows;
    rows.ld_out = steps * padded;
    rows.ld_x = steps * x_stride;
    rows.h_prev = t == 0 ? h0 : h_seq + previous * padded;
    rows.ld_h = t == 0 ? padded : rows.ld_out;
    rows.xproj = xproj + time * x_stride;
    rows.h_out = h_seq + time * padded;
    rows.mask = mask != NULL ? mask + time : NULL;
    rows.ld_mask = mask_stride;
    return rows;
}

/* Whether sequence m of a step runs (rows.mask NULL: all do). A sequence
 * whose step is skipped keeps its state: h_out = h_prev, c untouched. */
static inline int fr_step_runs(const fr_step_rows *rows, int m)
{
    return rows->mask == NULL || rows->mask[m * rows->ld_mask];
}

/*
 * One step of a recurrence, for rows [row_begin, row_end) of the batch and
 * panels [panel_begin, panel_end) of the hidden units. A recurrence may have
 * several phases per step (GRU with reset_after = 0); all panels of one phase
 * finish before the next phase starts.
 */
typedef void (*fr_step_fn)(const void *ctx, int phase, int t, int row_begin, int row_end,
                           int panel_begin, int panel_end);

/*
 * Run `steps` steps. Threads split the batch when there are enough row tiles
 * (no synchronisation at all: each sequence is independent), unless that
 * leaves them unbalanced (3 tiles on 2 threads: one does two) and splitting
 * the panels of each step instead gives the busiest thread at least a
 * quarter less work; the panel split puts a barrier after every phase, so a
 * step must be large enough to pay for it. Otherwise the run is serial.
 */
static inline void fr_run_recurrence(int batch, int steps, int panels, int phases,
                                     double macs_per_row_step, fr_step_fn step,
                                     const void *ctx, int num_threads, int tile_rows)
{
    double macs_per_step = macs_per_row_step * batch;
    int row_tiles = (batch + tile_rows - 1) / tile_rows;
    /* Tile x panel units of the busiest thread under each split. */
    long long row_split_work = (long long)((row_tiles + num_threads - 1) / num_threads) * panels;
    long long panel_split_work = (long long)((panels + num_threads - 1) / num_threads) * row_tiles;
    int panels_pay = num_threads > 1 && panels >= 2 && macs_per_step >= FR_PARALLEL_MIN_WORK;
    int split_rows = num_threads > 1 && row_tiles >= num_threads
                     && macs_per_step * steps >= FR_PARALLEL_MIN_WORK
                     && !(panels_pay && 4 * panel_split_work <= 3 * row_split_work);
    int split_panels = !split_rows && panels_pay;

    if (split_rows) {
#pragma omp parallel num_threads(num_threads)
        {
            int row_begin, row_end;
            fr_thread_range(batch, tile_rows, omp_get_thread_num(), omp_get_num_threads(),
                            &row_begin, &row_end);
            if (row_begin < row_end)
                for (int t = 0; t < steps; t++)
                    for (int phase = 0; phase < phases; phase++)
                        step(ctx, phase, t, row_begin, row_end, 0, panels);
        }
    } else if (split_panels) {
#pragma omp parallel num_threads(num_threads)
        for (int t = 0; t < steps; t++)
            for (int phase = 0; phase < phases; phase++) {
#pragma omp for schedule(static)
                for (int p = 0; p < panels; p++)
                    step(ctx, phase, t, 0, batch, p, p + 1);
            }
    } else {
        for (int t = 0; t < steps; t++)
            for (int phase = 0; phase < phases; phase++)
                step(ctx, phase, t, 0, batch, 0, panels);
    }
}

#endif
