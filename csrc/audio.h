/*
 * audio.h - inside the audio front end (internal).
 *
 * fft.c and frame.c are compiled once per instruction set, like the model
 * kernels (see kernels.h), each build defining its functions under a
 * suffixed name and one table, fr_audio_kernels_<isa>; fft_plan.c and
 * frontend.c are compiled once and reach the kernels through the table.
 */
#ifndef FASTRNN_AUDIO_INTERNAL_H
#define FASTRNN_AUDIO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fastrnn_audio.h"

/* The iterations of the next loop are independent: its stores go to rows
 * of one buffer at run-time offsets, which the compiler cannot prove apart,
 * so without this it vectorises behind run-time alias checks, or not. */
#if defined(__clang__)
#define FR_INDEPENDENT _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define FR_INDEPENDENT _Pragma("GCC ivdep")
#else
#define FR_INDEPENDENT
#endif

#define FR_FFT_MAX_STAGES 8

/* A DFT down the columns of a (points, cols) matrix: its Stockham stages. */
typedef struct {
    int points, cols;
    int num_stages;
    int radix[FR_FFT_MAX_STAGES];                /* 4 or 2 */
    const double *twiddles[FR_FFT_MAX_STAGES];   /* into fr_rfft.tables */
} fr_column_fft;

typedef struct fr_audio_kernels fr_audio_kernels;

struct fr_rfft {
    const fr_audio_kernels *kernels;
    int n;                     /* real points */
    int rows, cols;            /* n / 2 = rows * cols complex points */
    fr_column_fft down_rows;   /* step 1: rows points, cols columns */
    fr_column_fft down_cols;   /* step 3: cols points, rows columns */
    double *middle;            /* step 2's w_h^(c k2): (2, cols, rows) split */
    double *post;              /* w_n^k / 2 for k = 0 .. n / 2: (2, n / 2 + 1) split */
    double *tables;            /* the one allocation holding all the factors */
};

/* Mel filters are applied FR_MEL_GROUP at a time, over the bins where any
 * of the group is non-zero: one vector of accumulators per group. */
#define FR_MEL_GROUP 8

/* What the per-frame kernel reads: sizes and tables of a front end. */
typedef struct {
    const fr_rfft *fft;
    int n_fft, n_mels, num_base;
    fr_feature feature;
    double power, log_floor, amin;
    const double *window;      /* (2, n_fft / 2): at the even samples, then at the odd */
    int mel_groups;            /* ceil(n_mels / FR_MEL_GROUP) */
    const int *group_first;    /* (mel_groups): first bin where a filter of the group is non-zero */
    const int *group_bins;     /* (mel_groups): bins from there to the last such */
    /* Group after group, (group_bins, FR_MEL_GROUP): the weight of each filter
     * of the group at each of those bins (zeros for filters past n_mels). */
    const double *mel_weights;
    /* FR_FEATURE_MFCC: the DCT FR_MEL_GROUP coefficients at a time, block after
     * block (n_mels, FR_MEL_GROUP): dct[i][f] at [i / G][f][i % G] (zeros for
     * i >= num_base), as mel filters over all n_mels "bins". */
    const double *dct;
    int dct_blocks;            /* ceil(num_base / FR_MEL_GROUP) */
} fr_frame_plan;

struct fr_audio_kernels {
    const char *name;
    /* spectrum (n / 2 + 1, 2) = rfft(x), x (n); work fr_rfft_work_size doubles. */
    void (*rfft)(const fr_rfft *plan, const double *x, double *spectrum, double *work);
    /* base (num_base) float32 = the features of samples (n_fft) float32
     * before deltas and normalisation; work fr_frame_work_size doubles. */
    void (*frame)(const fr_frame_plan *plan, const float *samples, float *base, double *work);
};

/* Doubles of scratch the frame kernel needs. */
size_t fr_frame_work_size(const fr_frame_plan *plan);

/* The table of `isa`, or NULL if not built in or not run by this CPU. */
const fr_audio_kernels *fr_audio_kernels_for(fr_isa isa);

/* FR_ALIGN-aligned double arrays (model.h's allocator). */
double *fr_alloc_doubles(size_t count);
void fr_free_doubles(double *block);

#ifdef FR_SUFFIX
/* In the per-instruction-set builds: FR_DLEN doubles, one vector register
 * (SSE2 or NEON for the generic build), and as many 64-bit integers. */
#if defined(FR_KERNELS_AVX512)
#define FR_DLEN 8
#elif defined(FR_KERNELS_AVX2)
#define FR_DLEN 4
#else
#define FR_DLEN 2
#endif
typedef double vdouble __attribute__((vector_size(FR_DLEN * sizeof(double))));
typedef uint64_t vdouble_bits __attribute__((vector_size(FR_DLEN * sizeof(uint64_t))));

static inline vdouble vdouble_load(const double *p)
{
    vdouble v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vdouble_store(double *p, vdouble v)
{
    memcpy(p, &v, sizeof v);
}

/* Lanes of two vectors: lane i of the result is lane idx[i] of (a, b)
 * concatenated; the indices are constants. */
#if defined(__clang__)
#define FR_SHUFFLE(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define FR_SHUFFLE(a, b, ...) __builtin_shuffle(a, b, (vdouble_bits){__VA_ARGS__})
#endif

/* Z (2, h) split complex = DFT of z, h = n / 2 points: z (2, h) split
 * complex in work[0, 2h), work 2n doubles. Returns where Z is, in work. */
const double *FR_SUFFIX(fr_rfft_complex)(const fr_rfft *plan, double *work);
/* power (n / 2 + 1) = |X|^2, X = rfft(x), from Z = fr_rfft_complex of the
 * points z[j] = x[2j] + i x[2j+1]. */
void FR_SUFFIX(fr_rfft_power)(const fr_rfft *plan, const double *z, double *power);
void FR_SUFFIX(fr_rfft)(const fr_rfft *plan, const double *x, double *spectrum, double *work);
void FR_SUFFIX(fr_frame)(const fr_frame_plan *plan, const float *samples, float *base,
                         double *work);
#endif

extern const fr_audio_kernels fr_audio_kernels_generic;
#if defined(FR_HAVE_AVX2)
extern const fr_audio_kernels fr_audio_kernels_avx2;
#endif
#if defined(FR_HAVE_AVX512)
extern const fr_audio_kernels fr_audio_kernels_avx512;
#endif

#endif
