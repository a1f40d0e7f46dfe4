/*
 * rfft_speed.c - the front end's real FFT (csrc/fft.c) without Python: the
 * best time of one fr_rfft_forward, plan made once, for n = 256 and 1024 on
 * every instruction set this build and CPU have. Links the objects of an
 * in-place build (python setup.py build_ext --inplace):
 *
 *   cc -O2 -std=c99 -Icsrc -o /tmp/rfft_speed bench/rfft_speed.c \
 *      $(find build -name '*.o' ! -name _engine.o) -fopenmp -lm
 *   /tmp/rfft_speed
 *
 * Its peer is NumPy's pocketfft over many rows, which spreads the Python
 * call over them: np.fft.rfft(X, axis=1, out=Y), X (1000, n) float64.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#include "fastrnn_audio.h"

#define RUNS 200
#define TRANSFORMS 2000

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(void)
{
    static double x[FR_FFT_MAX_SIZE], spectrum[FR_FFT_MAX_SIZE + 2], work[2 * FR_FFT_MAX_SIZE];
    const char *names[] = {"generic", "avx2", "avx512"};
    for (int i = 0; i < FR_FFT_MAX_SIZE; i++) x[i] = (i * 7919 % 1000) / 1000.0 - 0.5;
    for (int n = 256; n <= 1024; n *= 4)
        for (int isa = FR_ISA_GENERIC; isa <= FR_ISA_AVX512; isa++) {
            fr_rfft *plan;
            if (fr_rfft_create((fr_isa)isa, n, &plan) != FR_OK) continue;
            double best = 1e9;
            for (int run = 0; run < RUNS; run++) {
                const double began = now();
                for (int r = 0; r < TRANSFORMS; r++) fr_rfft_forward(plan, x, spectrum, work);
                const double took = (now() - began) / TRANSFORMS;
                best = took < best ? took : best;
            }
            printf("n = %4d  %-8s %.3f us per transform (best of %d runs)\n", n, names[isa],
                   best * 1e6, RUNS);
            fr_rfft_destroy(plan);
        }
    return 0;
}
