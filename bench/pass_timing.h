/*
 * pass_timing.h - what bench/machine_limits.c and bench/step_cost.c share:
 * a monotonic clock, and the comparison that sorts pass times for their
 * median and fastest.
 */
#ifndef FASTRNN_BENCH_PASS_TIMING_H
#define FASTRNN_BENCH_PASS_TIMING_H

#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* qsort's comparison of doubles, ascending. */
static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
