/*
 * tile.h - the one micro-kernel every matrix product in fastrnn goes through.
 *
 * A tile is `mr` rows of an input matrix a (row stride lda) times `np`
 * adjacent packed panels (K, G, V) (see kernels.h; panel q starts
 * q * fr_panel_size(K, G) weights after w), accumulated into mr x np x G
 * vector registers:
 *
 *   acc[m * np + q][g] += sum_k a[m, k] * w_q[k, g, :]      for k = 0, 1, ..., K - 1
 *
 * float32, float16 and bfloat16 weights: in that order, one fused multiply-add
 * per k. int8 weights: the sum (in that order) starts from zero and is
 * multiplied by the panel's scales once, at the end. The dot-product builds
 * (simd.h) instead take the inputs in groups, a group's products summed by
 * one instruction:
 *
 *   FR_DOT_BF16  a rounded to bfloat16, pairs (k, k + 1) by vdpbf16ps into acc;
 *   FR_DOT_INT8  a quantized per row, q = rint(a * 127 / max_k |a[m, k]|), quads
 *                (k .. k + 3) by vpdpbusd into int32 sums (the weights stored
 *                as unsigned w + 128, the 128 * sum_k q taken back out), each
 *                block of FR_INT8_BLOCK inputs added to acc times the weight
 *                and row scales.
 *
 * Each row's result depends only on that row, never on mr, np or on which
 * rows share the tile, so a sequence gives the same bits whatever the batch it
 * is in, the thread count, or the chunking of a stream.
 *
 * Tiles are mr = FR_MR rows of one panel for batches, and one row of
 * np = FR_NP panels when there is a single row (a stream stepping one frame):
 * enough independent accumulators to hide the FMA latency either way (the
 * dot-product builds: one panel, and where a tile has few sums, their
 * reductions split over chains: see FR_NP and their tile_accumulate).
 *
 * mr, np and gates must be compile-time constants at the call site so that
 * the loops unroll and acc lives in registers: FR_TILE_RANGE instantiates a
 * tile for every row count from 1 to FR_MR.
 */
#ifndef FASTRNN_TILE_H
#define FASTRNN_TILE_H

#include "simd.h"
#if defined(FR_DOT_BF16) || defined(FR_DOT_INT8)
#include <immintrin.h>
#endif

#define FR_MAX_GATES 4
/* Panels in a one-row tile; (row, panel) pairs share acc's first index.
 * The dot products take one panel, whose weights then stream from one place
 * in memory rather than from four: measured in one step of models A and B
 * (batch 1), bfloat16 4-5% and int8 10% faster than tiles of 4 panels. The
 * int8 sums of such a tile go in 4 chains (below), the bfloat16 ones of
 * several gates in one each: 4 chains per gate would not fit the registers
 * of a batch tile, which must sum a row in the same order. */
#if defined(FR_DOT_BF16) || defined(FR_DOT_INT8)
#define FR_NP 1
#else
#define FR_NP (FR_MR < 4 ? FR_MR : 4)
#endif

typedef vfloat fr_acc[FR_MR][FR_MAX_GATES];

/* Weights of one packed panel of K inputs and `gates` gates (kernels.h),
 * the int8 scales (gates, V floats) included. */
FR_INLINE ptrdiff_t fr_panel_size(int K, int gates)
{
    ptrdiff_t groups = (K + FR_KGROUP - 1) / FR_KGROUP;
#if defined(FR_WEIGHTS_INT8)
    return (groups * FR_KGROUP + (ptrdiff_t)sizeof(float)) * gates * FR_VLEN;
#else
    return groups * FR_KGROUP * gates * FR_VLEN;
#endif
}

#if defined(FR_WEIGHTS_INT8)
/* The scales of a panel's units, (gates, V) after its weights. */
FR_INLINE vfloat panel_scale(const fr_weight *panel, int K, int gates, int g)
{
    const int groups = (K + FR_KGROUP - 1) / FR_KGROUP;
    return vload((const float *)(panel + (ptrdiff_t)groups * FR_KGROUP * gates * FR_VLEN)
                 + g * FR_VLEN);
}
#endif

#if !defined(FR_DOT_BF16) && !defined(FR_DOT_INT8)
/* acc += a[m, k] w_q[k, g, :] for input i of the group whose rows start at
 * `row` (k = that group's first input + i). */
FR_INLINE void tile_input(const int mr, const int np, const int gates, int i, int k,
                          const float *a, ptrdiff_t lda, const fr_weight *const *panel,
                          ptrdiff_t row, fr_acc acc)
{
    /* Keep whichever operand set is smaller live in registers across the
     * FMAs: the weight vectors (when mr > gates) or the broadcasts. */
    if (np == 1 && mr > gates) {
        vfloat w_kg[FR_MAX_GATES];
#pragma GCC unroll 4
        for (int g = 0; g < gates; g++)
            w_kg[g] = vload_weights(panel[0] + row + g * FR_VLEN * FR_KGROUP, i);
#pragma GCC unroll 8
        for (int m = 0; m < mr; m++) {
            vfloat a_mk = vset1(a[m * lda + k]);
#pragma GCC unroll 4
            for (int g = 0; g < gates; g++)
                acc[m][g] += a_mk * w_kg[g];
        }
    } else {
#pragma GCC unroll 4
        for (int q = 0; q < np; q++)
#pragma GCC unroll 4
            for (int g = 0; g < gates; g++) {
                vfloat w_kg = vload_weights(panel[q] + row + g * FR_VLEN * FR_KGROUP, i);
#pragma GCC unroll 8
                for (int m = 0; m < mr; m++)
                    acc[m * np + q][g] += vset1(a[m * lda + k]) * w_kg;
            }
    }
}

/* acc += sum_k a[m, k] w_q[k, g, :], one multiply-add per k in order. */
FR_INLINE void tile_products(const int mr, const int np, const int gates, int K,
                             const float *a, ptrdiff_t lda, const fr_weight *w, fr_acc acc)
{
    const fr_weight *panel[FR_NP];
    for (int q = 0; q < np; q++)
        panel[q] = w + q * fr_panel_size(K, gates);
#if FR_KGROUP == 1
    for (int k = 0; k < K; k++)
        tile_input(mr, np, gates, 0, k, a, lda, panel, (ptrdiff_t)k * gates * FR_VLEN, acc);
#else
    int k0 = 0;
    for (; k0 + FR_KGROUP <= K; k0 += FR_KGROUP)
#pragma GCC unroll 4
        for (int i = 0; i < FR_KGROUP; i++)
            tile_input(mr, np, gates, i, k0 + i, a, lda, panel,
                       (ptrdiff_t)k0 * gates * FR_VLEN, acc);
    for (int i = 0; k0 + i < K; i++)      /* the inputs of a last, partial group */
        tile_input(mr, np, gates, i, k0 + i, a, lda, panel, (ptrdiff_t)k0 * gates * FR_VLEN,
                   acc);
#endif
}

#if defined(FR_WEIGHTS_INT8)
/* int8 weights widened: the products of the integers, then the scales. */
FR_INLINE void tile_accumulate(const int mr, const int np, const int gates, int K,
                               const float *a, ptrdiff_t lda, const fr_weight *w, fr_acc acc)
{
    fr_acc sums;
    for (int i = 0; i < mr * np; i++)
        for (int g = 0; g < gates; g++)
            sums[i][g] = vset1(0.0f);
    tile_products(mr, np, gates, K, a, lda, w, sums);
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < np; q++)
            for (int g = 0; g < gates; g++)
                acc[m * np + q][g] += sums[m * np + q][g]
                                      * panel_scale(w + q * fr_panel_size(K, gates), K, gates, g);
}
#else
FR_INLINE void tile_accumulate(const int mr, const int np, const int gates, int K,
                               const float *a, ptrdiff_t lda, const fr_weight *w, fr_acc acc)
{
    tile_products(mr, np, gates, K, a, lda, w, acc);
}
#endif
#endif

#if defined(FR_DOT_BF16) || defined(FR_DOT_INT8)
/*
 * The dot-product builds convert their input rows once (fr_prepare_rows),
 * before the tiles that read them: every panel of a step then reads the same
 * converted row instead of converting it again, and a tile's registers all go
 * to accumulators and weights. A prepared row is fr_prepared_stride(K) floats
 * (64-byte groups), each float slot holding packed inputs, not a float:
 *   bfloat16: K / 2 pairs (k, k + 1) rounded to bfloat16 (nearest even), the
 *             low half k; pairs past K are zero.
 *   int8:     a header of FR_INT8_HEADER(K) slots, the row's scale
 *             s = max_k |a[k]| / 127 (float) and per block b of FR_INT8_BLOCK
 *             inputs its offset 128 sum_k q (int32), then K / 4 quads of
 *             q = rint(a * 127 / max_k |a[k]|) (signed bytes); past K zero.
 */
#define FR_PREPARED_BYTES 65536

#if defined(FR_DOT_INT8)
/* Inputs per int32 partial sum: 4096 quads x 4 x 255 x 127 < 2^31. */
#define FR_INT8_BLOCK 16384
#define FR_INT8_HEADER(K) ((1 + ((K) + FR_INT8_BLOCK - 1) / FR_INT8_BLOCK + 15) / 16 * 16)
FR_INLINE ptrdiff_t fr_prepared_stride(int K)
{
    return FR_INT8_HEADER(K) + (ptrdiff_t)(K + 63) / 64 * 16;
}
#else
FR_INLINE ptrdiff_t fr_prepared_stride(int K) { return (ptrdiff_t)(K + 31) / 32 * 16; }
#endif

/* Rows prepared per pass over a range of `rows` rows of stride `stride`:
 * as many as FR_PREPARED_BYTES hold (a multiple of FR_MR), at least one. */
FR_INLINE int fr_prepared_rows(ptrdiff_t stride, int rows)
{
    ptrdiff_t fit = FR_PREPARED_BYTES / (ptrdiff_t)sizeof(float) / stride;
    if (fit >= FR_MR) fit -= fit % FR_MR;
    if (fit < 1) fit = 1;
    return rows < fit ? (rows > 0 ? rows : 1) : (int)fit;
}
#endif

#if defined(FR_DOT_BF16)
/* Of a group of 32 inputs, those of [0, 16) and of [16, 32) before `left`. */
FR_INLINE __mmask16 fr_pairs_low(int left)
{
    return left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
}
FR_INLINE __mmask16 fr_pairs_high(int left)
{
    return left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
}

/* `rows` rows of a (K floats, row stride lda) to bfloat16 pairs in out
 * (row stride fr_prepared_stride(K)). */
FR_INLINE void fr_prepare_rows(int rows, int K, const float *a, ptrdiff_t lda, float *out)
{
    const ptrdiff_t stride = fr_prepared_stride(K);
    for (int m = 0; m < rows; m++)
        for (int k0 = 0; k0 < K; k0 += 32) {
            const float *row = a + m * lda + k0;
            __m512bh packed = _mm512_cvtne2ps_pbh(
                _mm512_maskz_loadu_ps(fr_pairs_high(K - k0), row + 16),
                _mm512_maskz_loadu_ps(fr_pairs_low(K - k0), row));
            _mm512_storeu_ps(out + m * stride + k0 / 2, (__m512)packed);
        }
}

/* The pairs fr_prepare_rows makes of the 32 inputs from k0 = 32 i, from
 * registers: v holds the row's inputs 16 a vector, n vectors. */
FR_INLINE __m512 fr_prepare_group(const vfloat *v, int n, int i, int K)
{
    const __m512 high = 2 * i + 1 < n ? (__m512)v[2 * i + 1] : _mm512_setzero_ps();
    return (__m512)_mm512_cvtne2ps_pbh(_mm512_maskz_mov_ps(fr_pairs_high(K - 32 * i), high),
                                       _mm512_maskz_mov_ps(fr_pairs_low(K - 32 * i),
                                                           (__m512)v[2 * i]));
}

/* The V sums of one pair j of every (row, panel, gate) of a tile, by
 * vdpbf16ps: acc[(m * np + q) * FR_MAX_GATES + g] += a[2j] w[2j] + a[2j + 1] w[2j + 1]
 * (acc: a tile's fr_acc, or a gate slot of it). */
FR_INLINE void tile_pair(const int mr, const int np, const int gates, int j, const float *in,
                         ptrdiff_t ld_in, const fr_weight *const *panel, vfloat *acc)
{
    const ptrdiff_t at = ((ptrdiff_t)j * gates) * FR_VLEN * 2;
    if (np == 1 && mr > gates) {
        __m512bh w_jg[FR_MAX_GATES];
#pragma GCC unroll 4
        for (int g = 0; g < gates; g++)
            w_jg[g] = (__m512bh)_mm512_loadu_si512(panel[0] + at + g * FR_VLEN * 2);
#pragma GCC unroll 8
        for (int m = 0; m < mr; m++) {
            __m512bh a_mj = (__m512bh)_mm512_set1_ps(in[m * ld_in + j]);
#pragma GCC unroll 4
            for (int g = 0; g < gates; g++) {
                vfloat *sum = acc + m * FR_MAX_GATES + g;
                *sum = (vfloat)_mm512_dpbf16_ps((__m512)*sum, a_mj, w_jg[g]);
            }
        }
    } else {
#pragma GCC unroll 4
        for (int q = 0; q < np; q++)
#pragma GCC unroll 4
            for (int g = 0; g < gates; g++) {
                __m512bh w_jg = (__m512bh)_mm512_loadu_si512(panel[q] + at + g * FR_VLEN * 2);
#pragma GCC unroll 8
                for (int m = 0; m < mr; m++) {
                    vfloat *sum = acc + (m * np + q) * FR_MAX_GATES + g;
                    *sum = (vfloat)_mm512_dpbf16_ps(
                        (__m512)*sum, (__m512bh)_mm512_set1_ps(in[m * ld_in + j]), w_jg);
                }
            }
    }
}

/*
 * vdpbf16ps: acc += a[k] w[k] + a[k + 1] w[k + 1] per pair, the rows `in`
 * prepared (row stride ld_in); the weights are (K / 2, G, V, 2) per panel, a
 * pair's two weights side by side. Several gates: the pairs in order into
 * acc. One gate (Dense, a GRU's candidate, SimpleRNN): too few sums to cover
 * the instruction's latency, so the pairs go round 4 chains, the unused gate
 * slots of acc, pair j into slot j mod 4 (slot 0 starts from acc), and
 *   acc = (slot 0 + slot 1) + (slot 2 + slot 3)
 * at the end: an order fixed by the gate count, a layer's, never by mr or np.
 */
FR_INLINE void tile_accumulate(const int mr, const int np, const int gates, int K,
                               const float *in, ptrdiff_t ld_in, const fr_weight *w, fr_acc acc)
{
    const fr_weight *panel[FR_NP];
    for (int q = 0; q < np; q++)
        panel[q] = w + q * fr_panel_size(K, gates);
    const int count = (K + 1) / 2;
    vfloat *const sums = &acc[0][0];
    if (gates > 1) {
        for (int j = 0; j < count; j++)
            tile_pair(mr, np, gates, j, in, ld_in, panel, sums);
        return;
    }
    for (int i = 0; i < mr * np; i++)
        acc[i][1] = acc[i][2] = acc[i][3] = vset1(0.0f);
    int j = 0;
    for (; j + FR_MAX_GATES <= count; j += FR_MAX_GATES)
#pragma GCC unroll 4
        for (int c = 0; c < FR_MAX_GATES; c++)
            tile_pair(mr, np, 1, j + c, in, ld_in, panel, sums + c);
    for (int c = 0; j + c < count; c++)
        tile_pair(mr, np, 1, j + c, in, ld_in, panel, sums + c);
    for (int i = 0; i < mr * np; i++)
        acc[i][0] = (acc[i][0] + acc[i][1]) + (acc[i][2] + acc[i][3]);
}
#endif

#if defined(FR_DOT_INT8)
/* max_k |row[k]| over K floats; NaN if one is NaN. */
FR_INLINE float row_absmax(int K, const float *row)
{
    __m512 most = _mm512_setzero_ps();
    __mmask16 nan = 0;
    for (int k = 0; k < K; k += 16) {
        const __mmask16 take = K - k >= 16 ? 0xffff : (__mmask16)((1u << (K - k)) - 1);
        __m512 x = _mm512_abs_ps(_mm512_maskz_loadu_ps(take, row + k));
        nan |= _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
        most = _mm512_max_ps(most, x);
    }
    return nan ? __builtin_nanf("") : _mm512_reduce_max_ps(most);
}

/* `rows` rows of a (K floats, row stride lda) quantized into out (row
 * stride fr_prepared_stride(K)): scale, block offsets, quads. */
FR_INLINE void fr_prepare_rows(int rows, int K, const float *a, ptrdiff_t lda, float *out)
{
    const ptrdiff_t stride = fr_prepared_stride(K), header = FR_INT8_HEADER(K);
    for (int m = 0; m < rows; m++) {
        const float *row = a + m * lda;
        float *prepared = out + m * stride;
        const float most = row_absmax(K, row);
        const float row_scale = most / 127.0f;
        const __m512 inverse = _mm512_set1_ps(most > 0.0f ? 127.0f / most : 0.0f);
        memcpy(prepared, &row_scale, sizeof row_scale);
        for (int b0 = 0; b0 < K; b0 += FR_INT8_BLOCK) {
            const int b1 = K - b0 < FR_INT8_BLOCK ? K : b0 + FR_INT8_BLOCK;
            __m512i quantized_sum = _mm512_setzero_si512();
            for (int k0 = b0; k0 < b1; k0 += 64)
                for (int c = 0; c < 4; c++) {
                    const int n = b1 - k0 - 16 * c;
                    const __mmask16 take = n >= 16 ? 0xffff
                                                   : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
                    __m512i q = _mm512_cvtps_epi32(
                        _mm512_mul_ps(_mm512_maskz_loadu_ps(take, row + k0 + 16 * c), inverse));
                    quantized_sum = _mm512_add_epi32(quantized_sum, q);
                    _mm_storeu_si128((__m128i *)(prepared + header + k0 / 4 + 4 * c),
                                     _mm512_cvtsepi32_epi8(q));
                }
            const int32_t offset = 128 * _mm512_reduce_add_epi32(quantized_sum);
            memcpy(prepared + 1 + b0 / FR_INT8_BLOCK, &offset, sizeof offset);
        }
    }
}

/* The int32 sums of one quad j of every (row, panel, gate) of a tile, by
 * vpdpbusd: sums += sum over the quad of (w + 128) q. */
FR_INLINE void tile_quad(const int mr, const int np, const int gates, int j, const float *in,
                         ptrdiff_t ld_in, const fr_weight *const *panel,
                         __m512i sums[FR_MR][FR_MAX_GATES])
{
    const ptrdiff_t at = ((ptrdiff_t)j * gates) * FR_VLEN * 4;
    if (np == 1 && mr > gates) {
        __m512i w_jg[FR_MAX_GATES];
#pragma GCC unroll 4
        for (int g = 0; g < gates; g++)
            w_jg[g] = _mm512_loadu_si512(panel[0] + at + g * FR_VLEN * 4);
#pragma GCC unroll 8
        for (int m = 0; m < mr; m++) {
            __m512i a_mj = (__m512i)_mm512_set1_ps(in[m * ld_in + j]);
#pragma GCC unroll 4
            for (int g = 0; g < gates; g++)
                sums[m][g] = _mm512_dpbusd_epi32(sums[m][g], w_jg[g], a_mj);
        }
    } else {
#pragma GCC unroll 4
        for (int q = 0; q < np; q++)
#pragma GCC unroll 4
            for (int g = 0; g < gates; g++) {
                __m512i w_jg = _mm512_loadu_si512(panel[q] + at + g * FR_VLEN * 4);
#pragma GCC unroll 8
                for (int m = 0; m < mr; m++)
                    sums[m * np + q][g] = _mm512_dpbusd_epi32(
                        sums[m * np + q][g], w_jg, (__m512i)_mm512_set1_ps(in[m * ld_in + j]));
            }
    }
}

/* int32 chains per sum in a tile of few sums (at most 16 registers of
 * them): enough independent vpdpbusd for its latency. The sums are exact, so
 * how they are split changes no result. */
#define FR_INT8_CHAINS(sums) ((sums) <= 4 ? 4 : (sums) <= 8 ? 2 : 1)

/* acc += (sums - offset) times the panel's and the row's scales, for the
 * block of inputs from b0. */
FR_INLINE void tile_scale(const int mr, const int np, const int gates, int K, int b0,
                          const float *in, ptrdiff_t ld_in, const fr_weight *const *panel,
                          __m512i sums[FR_MR][FR_MAX_GATES], fr_acc acc)
{
    for (int m = 0; m < mr; m++) {
        float row_scale;
        int32_t offset;
        memcpy(&row_scale, in + m * ld_in, sizeof row_scale);
        memcpy(&offset, in + m * ld_in + 1 + b0 / FR_INT8_BLOCK, sizeof offset);
        for (int q = 0; q < np; q++)
            for (int g = 0; g < gates; g++) {
                vfloat products = (vfloat)_mm512_cvtepi32_ps(
                    _mm512_sub_epi32(sums[m * np + q][g], _mm512_set1_epi32(offset)));
                acc[m * np + q][g] += products * (panel_scale(panel[q], K, gates, g) * row_scale);
            }
    }
}

/*
 * vpdpbusd: per block, sums = sum over its quads of (w + 128) q, exact in
 * int32; acc += (sums - offset) times the panel's and the row's scales.
 * Weights (K / 4, G, V, 4) per panel, unsigned; the rows `in` prepared (row
 * stride ld_in). A tile of few sums splits them over FR_INT8_CHAINS chains
 * (quad j into chain j mod chains, added at the end), acc's starting values
 * waiting in memory meanwhile (`start`), so that the registers go to the sums.
 */
FR_INLINE void tile_accumulate(const int mr, const int np, const int gates, int K,
                               const float *in, ptrdiff_t ld_in, const fr_weight *w, fr_acc acc)
{
    const fr_weight *panel[FR_NP];
    const ptrdiff_t header = FR_INT8_HEADER(K);
    const int chains = FR_INT8_CHAINS(mr * np * gates);
    for (int q = 0; q < np; q++)
        panel[q] = w + q * fr_panel_size(K, gates);
    if (chains == 1) {      /* batch tiles: a 2-D array of sums stays in registers */
        __m512i sums[FR_MR][FR_MAX_GATES];
        for (int b0 = 0; b0 < K; b0 += FR_INT8_BLOCK) {
            const int b1 = K - b0 < FR_INT8_BLOCK ? K : b0 + FR_INT8_BLOCK;
            for (int i = 0; i < mr * np; i++)
                for (int g = 0; g < gates; g++)
                    sums[i][g] = _mm512_setzero_si512();
            for (int j = b0 / 4; j < (b1 + 3) / 4; j++)
                tile_quad(mr, np, gates, j, in + header, ld_in, panel, sums);
            tile_scale(mr, np, gates, K, b0, in, ld_in, panel, sums, acc);
        }
        return;
    }
    __m512i sums[4][FR_MR][FR_MAX_GATES];
    fr_acc start;
    for (int i = 0; i < mr * np; i++)
        for (int g = 0; g < gates; g++)
            start[i][g] = acc[i][g];
    __asm__("" : "+m"(start));
    for (int b0 = 0; b0 < K; b0 += FR_INT8_BLOCK) {
        const int b1 = K - b0 < FR_INT8_BLOCK ? K : b0 + FR_INT8_BLOCK;
        const int j1 = (b1 + 3) / 4;
        for (int c = 0; c < chains; c++)
            for (int i = 0; i < mr * np; i++)
                for (int g = 0; g < gates; g++)
                    sums[c][i][g] = _mm512_setzero_si512();
        int j = b0 / 4;
        for (; j + chains <= j1; j += chains)
#pragma GCC unroll 4
            for (int c = 0; c < chains; c++)
                tile_quad(mr, np, gates, j + c, in + header, ld_in, panel, sums[c]);
        for (int c = 0; j + c < j1; c++)
            tile_quad(mr, np, gates, j + c, in + header, ld_in, panel, sums[c]);
        for (int c = 1; c < chains; c++)
            for (int i = 0; i < mr * np; i++)
                for (int g = 0; g < gates; g++)
                    sums[0][i][g] = _mm512_add_epi32(sums[0][i][g], sums[c][i][g]);
        tile_scale(mr, np, gates, K, b0, in, ld_in, panel, sums[0], start);
    }
    for (int i = 0; i < mr * np; i++)
        for (int g = 0; g < gates; g++)
            acc[i][g] = start[i][g];
}
#endif

/*
 * Every tile of rows [row_begin, row_end) x panels [panel_begin, panel_end):
 * a single row goes FR_NP panels per tile, then one tile of the panels left;
 * several rows go FR_MR rows of one panel per tile, then one tile of the rows
 * left. TILE_AT(m, p, mr, np) is the caller's macro for the tile whose first
 * row is m and first panel p.
 */
#define FR_TILE_RANGE(row_begin, row_end, panel_begin, panel_end, TILE_AT)    \
    do {                                                                      \
        int p = (panel_begin);                                                \
        if ((row_end) - (row_begin) == 1) {                                   \
            const int m = (row_begin);                                        \
            for (; p + FR_NP <= (panel_end); p += FR_NP)                      \
                TILE_AT(m, p, 1, FR_NP);                                      \
            switch ((panel_end) - p) {                                        \
                FR_PANEL_TAIL_CASES(TILE_AT)                                  \
            default: break;                                                   \
            }                                                                 \
            break;                                                            \
        }                                                                     \
        for (; p < (panel_end); p++) {                                        \
            int m = (row_begin);                                              \
            for (; m + FR_MR <= (row_end); m += FR_MR)                        \
                TILE_AT(m, p, FR_MR, 1);                                      \
            switch ((row_end) - m) {                                          \
                FR_TAIL_CASES(TILE_AT)                                        \
            default: break;                                                   \
            }                                                                 \
        }                                                                     \
    } while (0)

/*
 * FR_TILE_RANGE over rows whose input is a (K floats per row, row stride
 * lda): TILE_AT reads row m's input at in_rows + (m - in_first) * in_ld. The
 * float builds read a itself; the dot-product builds prepare the rows
 * (fr_prepare_rows) once per pass into a stack buffer, as many rows per pass
 * as FR_PREPARED_BYTES hold (at least one), then run that pass's tiles.
 */
#if defined(FR_DOT_BF16) || defined(FR_DOT_INT8)
#define FR_TILE_RANGE_OF(row_begin, row_end, panel_begin, panel_end, K, a, lda, TILE_AT)   \
    do {                                                                                 \
        const ptrdiff_t in_ld = fr_prepared_stride(K);                                   \
        const int in_pass = fr_prepared_rows(in_ld, (row_end) - (row_begin));            \
        float in_rows[in_pass * in_ld];                                                  \
        for (int in_first = (row_begin); in_first < (row_end); in_first += in_pass) {    \
            const int in_last = (row_end) - in_first < in_pass ? (row_end)               \
                                                               : in_first + in_pass;     \
            fr_prepare_rows(in_last - in_first, K, (a) + in_first * (lda), lda, in_rows); \
            FR_TILE_RANGE(in_first, in_last, panel_begin, panel_end, TILE_AT);           \
        }                                                                                \
    } while (0)
#else
#define FR_TILE_RANGE_OF(row_begin, row_end, panel_begin, panel_end, K, a, lda, TILE_AT)   \
    do {                                                                                 \
        const float *const in_rows = (a);                                                \
        const ptrdiff_t in_ld = (lda);                                                   \
        const int in_first = 0;                                                          \
        FR_TILE_RANGE(row_begin, row_end, panel_begin, panel_end, TILE_AT);              \
    } while (0)
#endif

#define FR_TAIL_CASE(TILE_AT, r) case r: TILE_AT(m, p, r, 1); break;
/* The panels left after the FR_NP-panel tiles of a single row, in one tile:
 * as many independent accumulators as the row has. */
#define FR_PANEL_TAIL_CASE(TILE_AT, n) case n: TILE_AT(m, p, 1, n); break;
#if FR_NP == 1
#define FR_PANEL_TAIL_CASES(TILE_AT)
#elif FR_NP == 2
#define FR_PANEL_TAIL_CASES(TILE_AT) FR_PANEL_TAIL_CASE(TILE_AT, 1)
#elif FR_NP == 3
#define FR_PANEL_TAIL_CASES(TILE_AT) FR_PANEL_TAIL_CASE(TILE_AT, 1) FR_PANEL_TAIL_CASE(TILE_AT, 2)
#elif FR_NP == 4
#define FR_PANEL_TAIL_CASES(TILE_AT) FR_PANEL_TAIL_CASE(TILE_AT, 1) \
    FR_PANEL_TAIL_CASE(TILE_AT, 2) FR_PANEL_TAIL_CASE(TILE_AT, 3)
#else
#error "FR_PANEL_TAIL_CASES: add the cases for this FR_NP"
#endif
#if FR_MR == 2
#define FR_TAIL_CASES(TILE_AT) FR_TAIL_CASE(TILE_AT, 1)
#elif FR_MR == 3
#define FR_TAIL_CASES(TILE_AT) FR_TAIL_CASE(TILE_AT, 1) FR_TAIL_CASE(TILE_AT, 2)
#elif FR_MR == 6
#define FR_TAIL_CASES(TILE_AT) FR_TAIL_CASE(TILE_AT, 1) FR_TAIL_CASE(TILE_AT, 2) \
    FR_TAIL_CASE(TILE_AT, 3) FR_TAIL_CASE(TILE_AT, 4) FR_TAIL_CASE(TILE_AT, 5)
#else
#error "FR_TAIL_CASES: add the cases for this FR_MR"
#endif

#endif
