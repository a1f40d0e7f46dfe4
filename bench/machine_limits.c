/*
 * machine_limits.c - the two ceilings of one core that bound fastrnn's kernels:
 *
 *   read bandwidth  from a buffer the size of a model's weights, which a
 *                   single stream's step must read once per frame;
 *   FMA peak        float32 multiply-adds per second with every operand in
 *                   registers, which bounds batched steps and predict;
 *
 * and, where the compiler targets them (-march=native on a CPU that has
 * them), the same peak for the 16- and 8-bit dot products the bfloat16 and
 * int8 kernels issue (vdpbf16ps, vpdpbusd): their rate against the FMA's
 * differs between cores (on Intel's a vdpbf16ps issues at a quarter of the
 * FMA's rate, half its multiply-adds, so bfloat16 there saves bytes, not
 * time per product).
 *
 *   cc -O3 -march=native -o /tmp/machine_limits bench/machine_limits.c
 *   /tmp/machine_limits 861 647     # KiB: Models A and B's float32 weights
 *
 * Each measurement repeats for 2 s. Vectors are 64 bytes (GCC/Clang vector
 * extension; with -march=native, one zmm on AVX-512 machines).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__AVX512BF16__) || defined(__AVX512VNNI__)
#include <immintrin.h>
#endif

#include "pass_timing.h"

typedef float v16 __attribute__((vector_size(64)));

/* Sum the buffer with 8 independent accumulators, pass after pass, each
 * pass timed: the median and the fastest pass, not the mean, so that time
 * the process spends descheduled (a shared machine) does not count. */
static void read_bandwidth(size_t kib)
{
    enum { MAX_PASSES = 1 << 16 };
    size_t n = kib * 1024 / sizeof(v16);
    n -= n % 8;
    v16 *buffer = aligned_alloc(64, n * sizeof(v16));
    double *times = malloc(MAX_PASSES * sizeof(double));
    for (size_t i = 0; i < n; i++) buffer[i] = (v16){0} + (float)i;
    v16 acc[8] = {{0}};
    int passes = 0;
    double start = now();
    do {
        double begin = now();
        for (size_t i = 0; i < n; i += 8)
            for (int j = 0; j < 8; j++) acc[j] += buffer[i + j];
        times[passes++] = now() - begin;
    } while (now() - start < 2.0 && passes < MAX_PASSES);
    float sink = 0;
    for (int j = 0; j < 8; j++) sink += acc[j][0];
    qsort(times, passes, sizeof(double), by_value);
    double median = times[passes / 2], fastest = times[0], bytes = (double)n * sizeof(v16);
    printf("read %zu KiB: median pass %.2f us = %.1f GB/s, fastest %.2f us = %.1f GB/s "
           "(%d passes, checksum %g)\n", kib, median * 1e6, bytes / median / 1e9,
           fastest * 1e6, bytes / fastest / 1e9, passes, sink);
    free(times);
    free(buffer);
}

/* 16 independent FMA chains: enough to cover the latency on any current core.
 * Returns the multiply-adds per second. */
static double fma_peak(void)
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
    return flops / 2 / elapsed;
}

/* Multiply-adds per second of a 512-bit dot-product instruction over 16
 * independent chains (`step` one instruction on chain j, each instruction
 * `macs` multiply-adds), printed beside the float32 FMA's (fma_macs). */
#define DOT_PEAK(name, type, zero, step, macs, fma_macs)                                  \
    do {                                                                                 \
        type acc[16];                                                                    \
        for (int j = 0; j < 16; j++) acc[j] = zero;                                      \
        long rounds = 0;                                                                 \
        double start = now(), elapsed;                                                   \
        do {                                                                             \
            for (int r = 0; r < 1000; r++)                                               \
                for (int j = 0; j < 16; j++) acc[j] = step;                              \
            rounds++;                                                                    \
        } while ((elapsed = now() - start) < 2.0);                                       \
        double rate = rounds * 1000.0 * 16 * (macs) / elapsed;                           \
        int sink;                                                                        \
        memcpy(&sink, &acc[rounds % 16], sizeof sink);                                   \
        printf("%s peak: %.1f G multiply-adds/s = %.2f x the float32 FMA's (checksum %d)\n", \
               name, rate / 1e9, rate / (fma_macs), sink);                               \
    } while (0)

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) read_bandwidth((size_t)atol(argv[i]));
    if (argc < 2) read_bandwidth(861);
    double fma_macs = fma_peak();
    (void)fma_macs;                 /* read only where a dot product is measured */
#ifdef __AVX512BF16__
    const __m512bh ones = (__m512bh)_mm512_set1_epi16(0x3f80);      /* bfloat16 1.0 */
    DOT_PEAK("bfloat16 vdpbf16ps", __m512, _mm512_setzero_ps(),
             _mm512_dpbf16_ps(acc[j], ones, ones), 32, fma_macs);
#endif
#ifdef __AVX512VNNI__
    const __m512i bytes = _mm512_set1_epi8(1);
    DOT_PEAK("int8 vpdpbusd", __m512i, _mm512_setzero_si512(),
             _mm512_dpbusd_epi32(acc[j], bytes, bytes), 64, fma_macs);
#endif
    return 0;
}
