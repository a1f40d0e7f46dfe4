/*
 * fft_plan.c - plans of the real FFT (fft.c): the factorisation of each size
 * and every twiddle factor, computed once; and which kernel table runs.
 */
#include <math.h>
#include <stdlib.h>

#include "audio.h"
#include "model.h"

static const double two_pi = 6.283185307179586476925286766559;

double *fr_alloc_doubles(size_t count)
{
    return (double *)fr_alloc_floats(2 * count);
}

void fr_free_doubles(double *block)
{
    fr_free_floats((float *)block);
}

const fr_audio_kernels *fr_audio_kernels_for(fr_isa isa)
{
    if (!fr_isa_supported(isa)) return NULL;
    switch (isa) {
    case FR_ISA_GENERIC: return &fr_audio_kernels_generic;
#if defined(FR_HAVE_AVX2)
    case FR_ISA_AVX2: return &fr_audio_kernels_avx2;
#endif
#if defined(FR_HAVE_AVX512)
    case FR_ISA_AVX512:
    case FR_ISA_AVX512_VNNI:                  /* float32: the AVX-512 kernels */
    case FR_ISA_AVX512_BF16: return &fr_audio_kernels_avx512;
#endif
    default: return NULL;
    }
}

/* exp(-2 pi i k / m) */
static void unit_root(long k, long m, double *re, double *im)
{
    const double angle = two_pi * (double)k / (double)m;
    *re = cos(angle);
    *im = -sin(angle);
}

/* Radix of the stage that has `length` points left: 4, then 2 for the last
 * stage when the number of points is not a power of 4. */
static int stage_radix(int length)
{
    return length % 4 == 0 ? 4 : 2;
}

/* Doubles of twiddle factors the stages of a column FFT of `points` points
 * need: 2 (radix - 1) per butterfly group. */
static size_t column_twiddles_size(int points)
{
    size_t size = 0;
    for (int length = points; length > 1; length /= stage_radix(length))
        size += 2 * (size_t)(stage_radix(length) - 1) * (length / stage_radix(length));
    return size;
}

/*
 * The stages of a column FFT of `points` rows of `cols` values; its twiddle
 * factors go to `twiddles` (column_twiddles_size(points) doubles). A stage
 * of `length` points and radix R stores, for each p < length / R, the
 * factors w_length^(r p) for r = 1 .. R - 1 as (re, im) pairs.
 */
static void column_fft_init(fr_column_fft *fft, int points, int cols, double *twiddles)
{
    fft->points = points;
    fft->cols = cols;
    fft->num_stages = 0;
    for (int length = points; length > 1; length /= stage_radix(length)) {
        const int radix = stage_radix(length);
        fft->radix[fft->num_stages] = radix;
        fft->twiddles[fft->num_stages] = twiddles;
        fft->num_stages++;
        for (int p = 0; p < length / radix; p++)
            for (int r = 1; r < radix; r++, twiddles += 2)
                unit_root((long)r * p, length, &twiddles[0], &twiddles[1]);
    }
}

fr_status fr_rfft_create(fr_isa isa, int n, fr_rfft **plan)
{
    if (plan == NULL) return FR_ERR_ARG;
    *plan = NULL;
    if (n < FR_FFT_MIN_SIZE || n > FR_FFT_MAX_SIZE || (n & (n - 1)) != 0) return FR_ERR_ARG;
    const fr_audio_kernels *kernels = fr_audio_kernels_for(isa);
    if (kernels == NULL) return FR_ERR_ISA;
    fr_rfft *p = calloc(1, sizeof *p);
    if (p == NULL) return FR_ERR_NOMEM;
    const int h = n / 2;
    int cols = 1;
    while (cols * cols < h) cols *= 2;          /* cols >= rows: sqrt(h) rounded up */
    p->kernels = kernels;
    p->n = n;
    p->rows = h / cols;
    p->cols = cols;
    const size_t down_rows = column_twiddles_size(p->rows);
    const size_t down_cols = column_twiddles_size(cols);
    p->tables = fr_alloc_doubles(down_rows + down_cols + 2 * (size_t)h + 2 * (size_t)(h + 1));
    if (p->tables == NULL) {
        free(p);
        return FR_ERR_NOMEM;
    }
    column_fft_init(&p->down_rows, p->rows, cols, p->tables);
    column_fft_init(&p->down_cols, cols, p->rows, p->tables + down_rows);
    p->middle = p->tables + down_rows + down_cols;
    for (int c = 0; c < cols; c++)
        for (int k2 = 0; k2 < p->rows; k2++) {
            const size_t at = (size_t)c * p->rows + k2;
            unit_root((long)c * k2, h, &p->middle[at], &p->middle[h + at]);
        }
    p->post = p->middle + 2 * (size_t)h;
    for (int k = 0; k <= h; k++) {
        double re, im;
        unit_root(k, n, &re, &im);
        p->post[k] = 0.5 * re;
        p->post[h + 1 + k] = 0.5 * im;
    }
    *plan = p;
    return FR_OK;
}

void fr_rfft_destroy(fr_rfft *plan)
{
    if (plan == NULL) return;
    fr_free_doubles(plan->tables);
    free(plan);
}

size_t fr_rfft_work_size(const fr_rfft *plan)
{
    return plan == NULL ? 0 : 2 * (size_t)plan->n;
}

fr_status fr_rfft_forward(const fr_rfft *plan, const double *x, double *spectrum,
                          double *work)
{
    if (plan == NULL || x == NULL || spectrum == NULL || work == NULL) return FR_ERR_ARG;
    plan->kernels->rfft(plan, x, spectrum, work);
    return FR_OK;
}
