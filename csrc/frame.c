/*
 * frame.c - the features of one frame (compiled once per instruction set,
 * like fft.c): window, rfft, |X|^power, mel filters, log or dB, DCT, in
 * float64 and rounded to float32 at the end, as FrontEnd's NumPy path.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "simd.h"
#include "audio.h"

#if defined(FR_KERNELS_AVX512)
#define FR_ISA_NAME "avx512"
#elif defined(FR_KERNELS_AVX2)
#define FR_ISA_NAME "avx2"
#else
#define FR_ISA_NAME "generic"
#endif

static const double ln2 = 0.69314718055994530942;
static const double ten_over_ln10 = 4.3429448190325182765;   /* 10 log10(x) = this * log(x) */
static const double smallest_normal = 2.2250738585072014e-308;
static const double largest_double = 1.7976931348623157e308;

/*
 * log(x) for normal x > 0: x = 2^k m with m in [sqrt(1/2), sqrt(2)), and
 *   log x = k ln 2 + 2 atanh(s),  s = (m - 1) / (m + 1),  |s| <= 0.1716,
 *   2 atanh(s) = 2 s (1 + s^2 / 3 + s^4 / 5 + ... + s^16 / 17)
 * (the next term, below 0.0295^9 / 19 < 1e-15, is left out). k and m come
 * from the bits: the exponent field of bits - bits(sqrt(1/2)) + bits(1) is
 * k + 1023, and m = x / 2^k.
 */
static inline vdouble vlog_normal(vdouble x)
{
    const uint64_t sqrt_half = 0x3fe6a09e667f3bcdull, one = 0x3ff0000000000000ull;
    vdouble_bits bits;
    memcpy(&bits, &x, sizeof bits);
    const vdouble_bits biased_k = (bits - sqrt_half + one) >> 52;
    const vdouble_bits m_bits = bits - ((biased_k - 1023) << 52);
    const vdouble_bits k_bits = biased_k | 0x4330000000000000ull;   /* 2^52 + k + 1023 */
    vdouble m, k;
    memcpy(&m, &m_bits, sizeof m);
    memcpy(&k, &k_bits, sizeof k);
    k -= 4503599627370496.0 + 1023.0;
    const vdouble s = (m - 1.0) / (m + 1.0), z = s * s;
    vdouble p = z * (1.0 / 17) + 1.0 / 15;
    p = p * z + 1.0 / 13;
    p = p * z + 1.0 / 11;
    p = p * z + 1.0 / 9;
    p = p * z + 1.0 / 7;
    p = p * z + 1.0 / 5;
    p = p * z + 1.0 / 3;
    p = p * z + 1.0;
    return k * ln2 + 2.0 * s * p;
}

/* y[i] = log(x[i]) for i < n, a multiple of FR_DLEN: vlog_normal where x[i]
 * is a normal positive number, libm's log elsewhere (0, subnormals,
 * infinity, NaN, negatives: seldom, and then checked value by value). */
static void log_of(const double *restrict x, double *restrict y, int n)
{
    const vdouble_bits zero = {0}, unit = zero + 0x3ff0000000000000ull;
    vdouble_bits all_normal = ~zero;
    for (int i = 0; i < n; i += FR_DLEN) {
        const vdouble v = vdouble_load(x + i);
        const vdouble_bits normal = (vdouble_bits)((v >= smallest_normal) & (v <= largest_double));
        vdouble_bits bits;
        memcpy(&bits, &v, sizeof bits);
        bits = (bits & normal) | (unit & ~normal);
        vdouble safe;
        memcpy(&safe, &bits, sizeof safe);
        vdouble_store(y + i, vlog_normal(safe));
        all_normal &= normal;
    }
    for (int lane = 0; lane < FR_DLEN; lane++)
        if (!all_normal[lane]) {
            for (int i = 0; i < n; i++)
                if (!(x[i] >= smallest_normal && x[i] <= largest_double)) y[i] = log(x[i]);
            return;
        }
}

/*
 * out[l] = sum_k w[k][l] x[k] for l < FR_MEL_GROUP, k < count; w (count,
 * FR_MEL_GROUP). Four partial sums (k mod 4, the last count % 4 terms in the
 * first) combined as (s0 + s1) + (s2 + s3): additions that do not wait on
 * each other.
 */
static inline void group_dot(int count, const double *restrict w, const double *restrict x,
                             double *restrict out)
{
    enum { vectors = FR_MEL_GROUP / FR_DLEN };
    vdouble sum[4][vectors] = {{{0.0}}};
    int k = 0;
    for (; k + 4 <= count; k += 4, w += 4 * FR_MEL_GROUP)
        for (int c = 0; c < 4; c++)
            for (int v = 0; v < vectors; v++)
                sum[c][v] += vdouble_load(w + c * FR_MEL_GROUP + v * FR_DLEN) * x[k + c];
    for (; k < count; k++, w += FR_MEL_GROUP)
        for (int v = 0; v < vectors; v++) sum[0][v] += vdouble_load(w + v * FR_DLEN) * x[k];
    for (int v = 0; v < vectors; v++)
        vdouble_store(out + v * FR_DLEN, (sum[0][v] + sum[1][v]) + (sum[2][v] + sum[3][v]));
}

/*
 * base (num_base) = features of samples (n_fft) float32:
 *   z[j] = window[2j] samples[2j] + i window[2j+1] samples[2j+1]   (rfft's complex points)
 *   S = |rfft|^power (bins = n_fft / 2 + 1),  M[f] = sum_k mel[f][k] S[k] over the
 *   bins of f's group, L = log(M + log_floor) or 10 log10(max(M, amin)),
 *   base = L, or dct L (mfcc), rounded to float32. Sums in group_dot's order.
 * work (fr_frame_work_size doubles): the FFT's 2 n_fft, then S (bins), M and the
 * floored M, then the cepstrum (mel_groups * FR_MEL_GROUP each: every filter of
 * every group).
 */
void FR_SUFFIX(fr_frame)(const fr_frame_plan *plan, const float *samples, float *base,
                         double *work)
{
    const int h = plan->n_fft / 2, bins = h + 1, n_mels = plan->n_mels;
    const double *even = plan->window, *odd = plan->window + h;
    for (int j = 0; j < h; j++) {
        work[j] = (double)samples[2 * j] * even[j];
        work[h + j] = (double)samples[2 * j + 1] * odd[j];
    }
    const double *z = FR_SUFFIX(fr_rfft_complex)(plan->fft, work);
    double *spectrum = work + 2 * (size_t)plan->n_fft, *mel = spectrum + bins;
    double *floored = mel + plan->mel_groups * FR_MEL_GROUP;
    FR_SUFFIX(fr_rfft_power)(plan->fft, z, spectrum);
    if (plan->power != 2.0) {
        for (int k = 0; k < bins; k++) spectrum[k] = sqrt(spectrum[k]);
        if (plan->power != 1.0)
            for (int k = 0; k < bins; k++) spectrum[k] = pow(spectrum[k], plan->power);
    }

    const double *weights = plan->mel_weights;
    const int groups = plan->mel_groups, padded = groups * FR_MEL_GROUP;
    for (int g = 0; g < groups; g++) {
        group_dot(plan->group_bins[g], weights, spectrum + plan->group_first[g],
                  mel + g * FR_MEL_GROUP);
        weights += (size_t)plan->group_bins[g] * FR_MEL_GROUP;
    }

    if (plan->feature == FR_FEATURE_LOG_MEL) {
        for (int f = 0; f < padded; f++) floored[f] = mel[f] + plan->log_floor;
        log_of(floored, mel, padded);
    } else {                                   /* power_to_db(M, ref=1, top_db=None) */
        for (int f = 0; f < padded; f++) floored[f] = mel[f] < plan->amin ? plan->amin : mel[f];
        log_of(floored, mel, padded);
        for (int f = 0; f < n_mels; f++) mel[f] *= ten_over_ln10;
    }

    if (plan->feature == FR_FEATURE_MFCC) {
        double *cepstrum = floored;            /* (dct_blocks * FR_MEL_GROUP) */
        for (int block = 0; block < plan->dct_blocks; block++)
            group_dot(n_mels, plan->dct + (size_t)block * n_mels * FR_MEL_GROUP, mel,
                      cepstrum + block * FR_MEL_GROUP);
        for (int i = 0; i < plan->num_base; i++) base[i] = (float)cepstrum[i];
    } else {
        for (int f = 0; f < n_mels; f++) base[f] = (float)mel[f];
    }
}

const fr_audio_kernels FR_SUFFIX(fr_audio_kernels) = {
    .name = FR_ISA_NAME,
    .rfft = FR_SUFFIX(fr_rfft),
    .frame = FR_SUFFIX(fr_frame),
};
