/*
 * simd.h - one vector type for the kernels, whatever the instruction set.
 *
 * Every kernel file is compiled once per instruction set, with
 * FR_KERNELS_AVX512, FR_KERNELS_AVX2 or neither defined and the matching -m
 * flags (and those that read weights once more per weight variant, below).
 * The kernels are written against `vfloat`, a GCC/Clang vector extension of
 * FR_VLEN floats, which the compiler lowers to zmm, ymm, or whatever the
 * baseline target has (SSE2, NEON, plain scalars).
 *
 * FR_VLEN is also the packing width: a panel holds FR_VLEN hidden units per
 * gate (see pack.c). FR_MR is the number of batch rows a micro-kernel keeps in
 * registers at once.
 *
 * The transcendental functions are the Cephes single-precision algorithms,
 * vectorized; every branch is computed and blended so that they are
 * branch-free, and NaN inputs propagate to NaN outputs.
 */
#ifndef FASTRNN_SIMD_H
#define FASTRNN_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(FR_KERNELS_AVX512)
#define FR_VLEN 16
#define FR_MR 6
#elif defined(FR_KERNELS_AVX2)
#define FR_VLEN 8
#define FR_MR 3
#else
#define FR_VLEN 8
#define FR_MR 2
#endif

/*
 * Names: FR_ISA_SUFFIX for the kernels that never read packed weights
 * (pointwise.c, conv.c, dense.c's activations: compiled once per instruction
 * set), FR_SUFFIX for those that do (gemm.c, lstm.c, gru.c, rnn.c, kernels.c:
 * compiled once per instruction set and weight variant, see below).
 */
#if defined(FR_KERNELS_AVX512)
#define FR_ISA_SUFFIX(name) name##_avx512
#elif defined(FR_KERNELS_AVX2)
#define FR_ISA_SUFFIX(name) name##_avx2
#else
#define FR_ISA_SUFFIX(name) name##_generic
#endif

#if defined(FR_WEIGHTS_F16) && !defined(FR_KERNELS_AVX512) && !defined(FR_KERNELS_AVX2)
#error "float16 weights need the F16C conversions of the AVX2 or AVX-512 kernels"
#endif
#if (defined(FR_DOT_BF16) || defined(FR_DOT_INT8)) && !defined(FR_KERNELS_AVX512)
#error "the dot-product kernels (AVX512-BF16, AVX512-VNNI) are AVX-512 kernels"
#endif
#if defined(FR_DOT_BF16) && !defined(FR_WEIGHTS_BF16)
#error "FR_DOT_BF16 goes with FR_WEIGHTS_BF16"
#endif
#if defined(FR_DOT_INT8) && !defined(FR_WEIGHTS_INT8)
#error "FR_DOT_INT8 goes with FR_WEIGHTS_INT8"
#endif

#if defined(FR_WEIGHTS_F16)
#define FR_WEIGHTS_TAG _f16
#elif defined(FR_DOT_BF16)
#define FR_WEIGHTS_TAG _bf16dot
#elif defined(FR_WEIGHTS_BF16)
#define FR_WEIGHTS_TAG _bf16
#elif defined(FR_DOT_INT8)
#define FR_WEIGHTS_TAG _int8dot
#elif defined(FR_WEIGHTS_INT8)
#define FR_WEIGHTS_TAG _int8
#else
#define FR_WEIGHTS_TAG
#endif
#define FR_PASTE_(a, b) a##b
#define FR_PASTE(a, b) FR_PASTE_(a, b)
#define FR_SUFFIX(name) FR_PASTE(FR_ISA_SUFFIX(name), FR_WEIGHTS_TAG)

#if defined(FR_KERNELS_AVX512) || defined(FR_KERNELS_AVX2)
#include <immintrin.h>
#endif

typedef float vfloat __attribute__((vector_size(FR_VLEN * sizeof(float))));
typedef int32_t vint __attribute__((vector_size(FR_VLEN * sizeof(int32_t))));

#define FR_INLINE static inline __attribute__((always_inline))
/* For a tile's epilogue: kept out of the k loop so that its constants do not
 * take the registers the accumulators need. */
#define FR_NOINLINE static __attribute__((noinline))

/* Unaligned load and store: memcpy compiles to one vector move. */
FR_INLINE vfloat vload(const float *p) { vfloat v; memcpy(&v, p, sizeof v); return v; }
FR_INLINE void vstore(float *p, vfloat v) { memcpy(p, &v, sizeof v); }
/* Broadcast; a brace list (not {0} + x, which costs an add and loses -0.0f). */
#if FR_VLEN == 16
FR_INLINE vfloat vset1(float x) { return (vfloat){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
#else
FR_INLINE vfloat vset1(float x) { return (vfloat){x, x, x, x, x, x, x, x}; }
#endif

/*
 * Packed weights (kernels.h gives the layouts), one variant per build:
 *   float32            as they are;
 *   FR_WEIGHTS_F16     IEEE float16, widened as they load (F16C);
 *   FR_WEIGHTS_BF16    bfloat16 (float32's upper half) in pairs of inputs,
 *                      widened exactly as they load (a pair's two weights
 *                      are one 32-bit word: a shift and a mask); with
 *                      FR_DOT_BF16 multiplied by vdpbf16ps instead, the
 *                      activations rounded to bfloat16;
 *   FR_WEIGHTS_INT8    int8 with a float scale per output unit and gate,
 *                      widened as they load, the scale applied once per dot
 *                      product; with FR_DOT_INT8, quads of inputs multiplied
 *                      by vpdpbusd, the activations quantized to 8 bits.
 * Arithmetic is float32 but for those dot instructions' products.
 * FR_KGROUP: inputs per packed group (pairs, quads); vload_weights(p, i): the
 * V weights of input i of the group at p.
 */
#if defined(FR_DOT_INT8)
#define FR_KGROUP 4
#elif defined(FR_WEIGHTS_BF16)
#define FR_KGROUP 2
#else
#define FR_KGROUP 1
#endif

#if defined(FR_WEIGHTS_F16)
#include <immintrin.h>
typedef uint16_t fr_weight;
FR_INLINE vfloat vload_weights(const fr_weight *p, int i)
{
    (void)i;
#if FR_VLEN == 16
    return (vfloat)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
#else
    return (vfloat)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
#endif
}
#elif defined(FR_WEIGHTS_BF16)
typedef uint16_t fr_weight;
typedef uint32_t vuint __attribute__((vector_size(FR_VLEN * sizeof(uint32_t))));
/* bfloat16 -> float32 is exact: the 16 bits become the upper half. */
FR_INLINE vfloat vload_weights(const fr_weight *p, int i)
{
    vuint pair;
    memcpy(&pair, p, sizeof pair);
    return (vfloat)(i == 0 ? pair << 16 : pair & 0xffff0000u);
}
#elif defined(FR_WEIGHTS_INT8)
#if FR_VLEN == 16 || defined(FR_KERNELS_AVX2)
#include <immintrin.h>
#endif
typedef int8_t fr_weight;
FR_INLINE vfloat vload_weights(const fr_weight *p, int i)
{
    (void)i;
#if FR_VLEN == 16
    return (vfloat)_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
#elif defined(FR_KERNELS_AVX2)
    return (vfloat)_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
#else
    typedef int8_t vbytes __attribute__((vector_size(FR_VLEN)));
    vbytes b;
    memcpy(&b, p, sizeof b);
    return __builtin_convertvector(b, vfloat);
#endif
}
#else
typedef float fr_weight;
FR_INLINE vfloat vload_weights(const fr_weight *p, int i) { (void)i; return vload(p); }
#endif

/* Bitwise select: mask lanes are all ones (take a) or all zeros (take b). */
FR_INLINE vfloat vselect(vint mask, vfloat a, vfloat b)
{
    return (vfloat)((mask & (vint)a) | (~mask & (vint)b));
}

/* Clamp written so that a NaN in x stays NaN (the comparison is false). */
FR_INLINE vfloat vclamp(vfloat x, float lo, float hi)
{
    x = vselect(x > hi, vset1(hi), x);
    return vselect(x < lo, vset1(lo), x);
}

FR_INLINE vfloat vabs(vfloat x) { return (vfloat)((vint)x & 0x7fffffff); }

/*
 * exp(x), Cephes expf: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two for
 * exactness), exp(r) by a degree-7 polynomial, times 2^n built in the exponent
 * bits. Inputs are clamped to [-87.3, 88.3] so 2^n stays a normal number:
 * exp(88.3) = 2.2e38 < FLT_MAX, exp(-87.3) = 1.2e-38 (the true value below
 * that is closer to 0 than 1.2e-38, an absolute error no caller can see).
 */
/* exp(x - n ln2) for n = round(x / ln2): the range reduction and polynomial of vexp. */
FR_INLINE vfloat vexp_reduced(vfloat x, vfloat n)
{
    vfloat r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    vfloat p = vset1(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    return p * (r * r) + r + 1.0f;
}

FR_INLINE vfloat vexp(vfloat x)
{
    const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    x = vclamp(x, -87.3f, 88.3f);
    vfloat shifted = x * 1.44269504088896341f + round_magic;
    vint n_int = (vint)shifted - (vint)vset1(round_magic);
    vfloat n = shifted - round_magic;
    vfloat scale = (vfloat)((n_int + 127) << 23);
    return vexp_reduced(x, n) * scale;
}

#if defined(FR_DOT_BF16) || defined(FR_DOT_INT8)
#include <immintrin.h>
/*
 * sigmoid and tanh in the dot-product builds (whose products already
 * round their inputs to 8 or 16 bits, errors of 1e-3 and more), in about a
 * third of the instructions of the float32 ones below; SimpleRNN's tanh
 * takes them (the LSTM/GRU cells take vsigmoid_cell / vtanh_cell, further
 * down):
 *   e = exp(-x) for x clamped to [-40, 40]: the Cephes polynomial of vexp,
 *       2^n applied by vscalefps;
 *   sigmoid(x) = 1 / (1 + e), the reciprocal by vrcp14ps (2^-14) and one
 *       Newton step r + r (1 - d r) (a few ulps);
 *   tanh(x) = 2 sigmoid(2x) - 1, absolute error about 1e-7.
 * Clamping keeps NaN and moves sigmoid at most 4.3e-18 from its
 * value; sigmoid(40) rounds to 1 and tanh(20) to 1 exactly, as in float32.
 */
FR_INLINE vfloat vsigmoid(vfloat x)
{
    /* vminps / vmaxps return their second operand, x, when it is NaN. */
    const vfloat y = -(vfloat)_mm512_max_ps(_mm512_set1_ps(-40.0f),
                                            _mm512_min_ps(_mm512_set1_ps(40.0f), (__m512)x));
    const vfloat n = (vfloat)_mm512_roundscale_ps((__m512)(y * 1.44269504088896341f),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const vfloat p = vexp_reduced(y, n);
    const vfloat d = 1.0f + (vfloat)_mm512_scalef_ps((__m512)p, (__m512)n);
    const vfloat inverse = (vfloat)_mm512_rcp14_ps((__m512)d);
    return inverse + inverse * (1.0f - d * inverse);
}

FR_INLINE vfloat vtanh(vfloat x)
{
    return 2.0f * vsigmoid(x + x) - 1.0f;
}
#else
/* sigmoid(x) = 1 / (1 + exp(-x)); saturates to exactly 1 and to ~0. */
FR_INLINE vfloat vsigmoid(vfloat x)
{
    return 1.0f / (1.0f + vexp(-x));
}

/*
 * tanh(x), Cephes tanhf: for |x| <= 0.625 the odd polynomial
 * x + x^3 P(x^2); above, sign(x) (1 - 2 / (exp(2|x|) + 1)), which tends to
 * exactly +-1.
 */
FR_INLINE vfloat vtanh(vfloat x)
{
    vfloat ax = vabs(x);
    vfloat z = x * x;
    vfloat p = vset1(-5.70498872745e-3f);
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    vfloat small = p * z * x + x;
    vfloat large = 1.0f - 2.0f / (vexp(ax + ax) + 1.0f);
    large = (vfloat)((vint)large | ((vint)x & INT32_MIN)); /* sign of x */
    return vselect(ax > 0.625f, large, small);
}

#endif

/*
 * The gate activations of the recurrent cells (cells.h), on the critical
 * path of every step (the next step's products wait for them), and ten of
 * them a step in a small layer: few operations and no exp.
 * float32 builds: one division (AVX-512: a reciprocal and a Newton step,
 * vodd_rational), about 10 dependent operations instead of 25:
 *   tanh(x) = x P(x^2) / Q(x^2) for x clamped to [-9, 9], P of degree 6 and
 *     Q of degree 3 (Q(0) = P(0) = 1): a rational fit of tanh made for
 *     fastrnn (Loeb's iteration on the relative error over [0, 9], 7e-9 in
 *     float64); P and Q by Estrin's scheme (products of x^2, x^4, x^8).
 *   sigmoid(x) = 1/2 + tanh(x/2) / 2, the same fit with its coefficients
 *     scaled (by 4^-k, and 1/4 for P), x clamped to [-18, 18].
 *   Measured absolute errors against float64: tanh 3.2e-7, sigmoid 1.8e-7
 *   (a few ulps of 1; the float32 sums of P and Q dominate).
 * Dot-product builds (FR_DOT_*, whose products round h to 8 or 16 bits, a
 * relative error of 2^-9 or more, every step): a fit of degrees 5/4 (x
 * clamped to [-5, 5]: minimax of the absolute error with the clamp's,
 * 4.8e-5) and the reciprocal by vrcp14ps alone (2^-14); sigmoid's 1/2 added
 * by the same multiply-add. Measured: tanh 8.7e-5, sigmoid 4.0e-5.
 * Both checked by tests/test_cell_activations.py. The results may overshoot
 * [-1, 1] and [0, 1] by those errors; NaN stays NaN (the clamps keep it).
 */
FR_INLINE vfloat vclamp_symmetric(vfloat x, float limit)
{
    /* vminps / vmaxps return their second operand, x, when it is NaN. */
#if FR_VLEN == 16
    return (vfloat)_mm512_max_ps(_mm512_set1_ps(-limit), _mm512_min_ps(_mm512_set1_ps(limit), (__m512)x));
#elif defined(FR_KERNELS_AVX2)
    return (vfloat)_mm256_max_ps(_mm256_set1_ps(-limit), _mm256_min_ps(_mm256_set1_ps(limit), (__m256)x));
#else
    return vclamp(x, -limit, limit);
#endif
}

#if defined(FR_DOT_BF16) || defined(FR_DOT_INT8)
/* x P(x^2) / Q(x^2) + offset for x clamped to [-limit, limit]; p[3], q[3]. */
FR_INLINE vfloat vodd_rational(vfloat x, float limit, const float p[3], const float q[3],
                               float offset)
{
    x = vclamp_symmetric(x, limit);
    const vfloat t = x * x, t2 = t * t;
    const vfloat num = (t * p[1] + p[0]) + t2 * p[2];
    const vfloat den = (t * q[1] + q[0]) + t2 * q[2];
    return (x * num) * (vfloat)_mm512_rcp14_ps((__m512)den) + offset;
}

FR_INLINE vfloat vtanh_cell(vfloat x)
{
    static const float p[3] = {9.998134375e-01f, 1.017745361e-01f, 6.564195501e-04f};
    static const float q[3] = {1.0f, 4.345636666e-01f, 1.265432872e-02f};
    return vodd_rational(x, 5.0f, p, q, 0.0f);
}

FR_INLINE vfloat vsigmoid_cell(vfloat x)
{
    static const float p[3] = {2.499533594e-01f, 6.360908505e-03f, 1.025655547e-05f};
    static const float q[3] = {1.0f, 1.086409166e-01f, 7.908955449e-04f};
    return vodd_rational(x, 10.0f, p, q, 0.5f);
}
#else
/* x P(x^2) / Q(x^2) for x clamped to [-limit, limit]; p[7], q[4]. */
FR_INLINE vfloat vodd_rational(vfloat x, float limit, const float p[7], const float q[4])
{
    x = vclamp_symmetric(x, limit);
    const vfloat t = x * x, t2 = t * t, t4 = t2 * t2;
    const vfloat num = (t * p[1] + p[0]) + t2 * (t * p[3] + p[2])
                       + t4 * ((t * p[5] + p[4]) + t2 * p[6]);
    const vfloat den = (t * q[1] + q[0]) + t2 * (t * q[3] + q[2]);
#if FR_VLEN == 16
    /* 1 / den by vrcp14ps and one Newton step, r0 + r0 (1 - den r0) (relative
     * error about 2^-28 before rounding), instead of vdivps: a zmm division
     * takes ~17 cycles and one issues every ~10 (measured on this Xeon),
     * and a small LSTM step has ten of them (LSTM(32): 92 -> 86 ns a step). */
    const vfloat r0 = (vfloat)_mm512_rcp14_ps((__m512)den);
    return (x * num) * (r0 + r0 * (1.0f - den * r0));
#else
    return x * num / den;
#endif
}

FR_INLINE vfloat vtanh_cell(vfloat x)
{
    static const float p[7] = {1.0f, 1.308401972e-01f, 3.103967058e-03f, 1.115442046e-05f,
                               -2.022566825e-08f, 5.278153262e-11f, -8.489212886e-14f};
    static const float q[4] = {1.0f, 4.641734660e-01f, 2.449522167e-02f, 2.546161122e-04f};
    return vodd_rational(x, 9.0f, p, q);
}

FR_INLINE vfloat vsigmoid_cell(vfloat x)
{
    static const float p[7] = {2.5e-01f, 8.177512325e-03f, 4.849948527e-05f, 4.357195493e-08f,
                               -1.975162915e-11f, 1.288611636e-14f, -5.181404350e-18f};
    static const float q[4] = {1.0f, 1.160433665e-01f, 1.530951355e-03f, 3.978376753e-06f};
    return vodd_rational(x, 18.0f, p, q) + 0.5f;
}
#endif

FR_INLINE vfloat vrelu(vfloat x)
{
    return vselect(x > 0.0f, x, vselect(x != x, x, vset1(0.0f)));
}

/* elu(x) = x for x > 0, exp(x) - 1 otherwise (alpha = 1, as Keras and PyTorch). */
FR_INLINE vfloat velu(vfloat x)
{
    return vselect(x > 0.0f, x, vexp(x) - 1.0f);
}

/*
 * log(x), Cephes logf: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log(m) by
 * m - m^2/2 + m^3 P(m) for m - 1, plus e ln2 (split in two). Subnormal x is
 * scaled by 2^23 first. log(0) = -inf, log(x < 0) = NaN, log(inf) = inf,
 * NaN stays NaN.
 */
FR_INLINE vfloat vlog(vfloat x)
{
    const vint tiny = x < 1.17549435e-38f;                   /* below FLT_MIN: subnormal */
    vfloat scaled = vselect(tiny, x * 8388608.0f, x);        /* * 2^23 */
    vint bits = (vint)scaled;
    vint exponent = ((bits >> 23) & 0xff) - 126;
    vfloat e = __builtin_convertvector(exponent, vfloat);
    e = vselect(tiny, e - 23.0f, e);
    vfloat m = (vfloat)((bits & 0x007fffff) | 0x3f000000);   /* mantissa in [0.5, 1) */
    const vint low = m < 0.707106781186547524f;
    e = vselect(low, e - 1.0f, e);
    m = vselect(low, m + m - 1.0f, m - 1.0f);
    vfloat z = m * m;
    vfloat p = vset1(7.0376836292e-2f);
    p = p * m - 1.1514610310e-1f;
    p = p * m + 1.1676998740e-1f;
    p = p * m - 1.2420140846e-1f;
    p = p * m + 1.4249322787e-1f;
    p = p * m - 1.6668057665e-1f;
    p = p * m + 2.0000714765e-1f;
    p = p * m - 2.4999993993e-1f;
    p = p * m + 3.3333331174e-1f;
    vfloat y = p * m * z + e * -2.12194440e-4f - 0.5f * z;
    vfloat result = m + y + e * 0.693359375f;
    result = vselect(x == 0.0f, vset1(-__builtin_inff()), result);
    result = vselect(x < 0.0f, vset1(__builtin_nanf("")), result);
    result = vselect(x == __builtin_inff(), x, result);
    return vselect(x != x, x, result);
}

/*
 * 1 + erf(x), without cancellation on either side: q = (a1 t + ... + a5 t^5)
 * exp(-x^2), t = 1 / (1 + p |x|) (Abramowitz and Stegun 7.1.26, |error| of
 * erf <= 1.5e-7), then 2 - q for x >= 0 and q for x < 0.
 */
FR_INLINE vfloat vone_plus_erf(vfloat x)
{
    vfloat ax = vabs(x);
    vfloat t = 1.0f / (1.0f + 0.3275911f * ax);
    vfloat poly = vset1(1.061405429f);
    poly = poly * t - 1.453152027f;
    poly = poly * t + 1.421413741f;
    poly = poly * t - 0.284496736f;
    poly = poly * t + 0.254829592f;
    vfloat q = poly * t * vexp(-ax * ax);
    return vselect(x >= 0.0f, 2.0f - q, vselect(x != x, x, q));
}

#endif
