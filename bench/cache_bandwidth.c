/*
 * cache_bandwidth.c - the read bandwidth one core gets from a buffer that fits
 * in its caches: the ceiling for a streaming step, which must read every
 * weight once per frame.
 *
 *   cc -O3 -march=native -o /tmp/cache_bandwidth bench/cache_bandwidth.c
 *   /tmp/cache_bandwidth 861        # KiB: Model A's float32 weights
 *
 * Sums the buffer with 8 independent vector accumulators (GCC vector
 * extension, 64 bytes), repeated until 2 s have passed; prints GB/s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef float v16 __attribute__((vector_size(64)));

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv)
{
    size_t kib = argc > 1 ? (size_t)atol(argv[1]) : 861;
    size_t n = kib * 1024 / sizeof(v16);
    n -= n % 8;
    v16 *buffer = aligned_alloc(64, n * sizeof(v16));
    for (size_t i = 0; i < n; i++) buffer[i] = (v16){0} + (float)i;
    v16 acc[8] = {{0}};
    long passes = 0;
    double start = now(), elapsed;
    do {
        for (size_t i = 0; i < n; i += 8)
            for (int j = 0; j < 8; j++) acc[j] += buffer[i + j];
        passes++;
    } while ((elapsed = now() - start) < 2.0);
    float sink = 0;
    for (int j = 0; j < 8; j++) sink += acc[j][0];
    printf("%zu KiB: %.1f GB/s, %.2f us per pass (checksum %g)\n", kib,
           passes * n * sizeof(v16) / elapsed / 1e9, elapsed / passes * 1e6, sink);
    return 0;
}
