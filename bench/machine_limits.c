/*
 * machine_limits.c - the two ceilings of one core that bound fastrnn's kernels:
 *
 *   read bandwidth  from a buffer the size of a model's weights, which a
 *                   single stream's step must read once per frame;
 *   FMA peak        float32 multiply-adds per second with every operand in
 *                   registers, which bounds batched steps and predict.
 *
 *   cc -O3 -march=native -o /tmp/machine_limits bench/machine_limits.c
 *   /tmp/machine_limits 861 647     # KiB: Models A and B's float32 weights
 *
 * Each measurement repeats for 2 s. Vectors are 64 bytes (GCC/Clang vector
 * extension; with -march=native, one zmm on AVX-512 machines).
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

/* Sum the buffer with 8 independent accumulators, pass after pass. */
static void read_bandwidth(size_t kib)
{
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
    printf("read %zu KiB: %.1f GB/s, %.2f us per pass (checksum %g)\n", kib,
           passes * n * sizeof(v16) / elapsed / 1e9, elapsed / passes * 1e6, sink);
    free(buffer);
}

/* 16 independent FMA chains: enough to cover the latency on any current core. */
static void fma_peak(void)
{
    v16 acc[16], x = (v16){0} + 0.999999f, y = (v16){0} + 1e-7f;
    for (int j = 0; j < 16; j++) acc[j] = (v16){0} + (float)j;
    long rounds = 0;
    double start = now(), elapsed;
    do {
        for (int r = 0; r < 1000; r++)
            for (int j = 0; j < 16; j++) acc[j] = acc[j] * x + y;
        rounds++;
    } while ((elapsed = now() - start) < 2.0);
    float sink = 0;
    for (int j = 0; j < 16; j++) sink += acc[j][0];
    double flops = rounds * 1000.0 * 16 * 16 * 2;
    printf("float32 FMA peak: %.1f GFLOP/s (checksum %g)\n", flops / elapsed / 1e9, sink);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) read_bandwidth((size_t)atol(argv[i]));
    if (argc < 2) read_bandwidth(861);
    fma_peak();
    return 0;
}
