/*
 * fft.c - the real FFT of the audio front end: n = 2^k real points,
 * FR_FFT_MIN_SIZE <= n <= FR_FFT_MAX_SIZE, in float64 (compiled once per
 * instruction set; fft_plan.c makes the plans).
 *
 * The n real points are taken as h = n / 2 complex points
 * z[j] = x[2j] + i x[2j+1]; X, the DFT of x, follows from Z, the DFT of z
 * (real_bin). Z is computed with z as a (rows, cols) row-major matrix,
 * h = rows * cols, in three steps (the "four-step" FFT, w_m = exp(-2 pi i / m)):
 *
 *   1. a rows-point DFT down every column:  Y[k2][c] = sum_r z[r cols + c] w_rows^(r k2)
 *   2. twiddle and transpose:               T[c][k2] = Y[k2][c] w_h^(c k2)
 *   3. a cols-point DFT down every column:  Z[k1 rows + k2] = sum_c T[c][k2] w_cols^(c k1)
 *
 * Steps 1 and 3 are column FFTs: every butterfly combines whole rows, so the
 * innermost loop of every stage runs over at least one row of contiguous
 * values and vectorises, whatever the stage; step 3 leaves Z in natural
 * order. A column FFT is a Stockham autosort FFT (radix 4, then one radix 2
 * when the number of points is not a power of 4) ping-ponging between two
 * buffers. A complex buffer of h points is split: h real parts, then h
 * imaginary parts. A transform allocates nothing.
 */
#include "simd.h"
#include "audio.h"

/*
 * One radix-4 Stockham stage; x, y (2, points * cols) split complex.
 * `length` points remain to transform at `stride` rows apart
 * (length * stride = points), m = length / 4, row i = row of i:
 *   y[(4p + r) stride + q] = w_length^(r p) sum_l x[(p + l m) stride + q] (-i)^(l r)
 * for p < m, q < stride, r < 4. Rows p stride + q for q < stride are
 * contiguous: the inner loop runs over span = stride * cols values. The
 * naive twin of radix4_stage_blocks, for spans that are not a multiple of
 * FR_DLEN.
 */
static void radix4_stage(int length, int stride, int cols, size_t half, const double *w,
                         const double *restrict x, double *restrict y)
{
    const int m = length / 4, span = stride * cols;
    const size_t quarter = (size_t)m * span;
    for (int p = 0; p < m; p++, w += 6) {
        const double w1r = w[0], w1i = w[1], w2r = w[2], w2i = w[3], w3r = w[4], w3i = w[5];
        const double *a_r = x + (size_t)p * span, *a_i = a_r + half;
        const double *b_r = a_r + quarter, *b_i = a_i + quarter;
        const double *c_r = b_r + quarter, *c_i = b_i + quarter;
        const double *d_r = c_r + quarter, *d_i = c_i + quarter;
        double *y0r = y + (size_t)4 * p * span, *y0i = y0r + half;
        double *y1r = y0r + span, *y1i = y0i + span;
        double *y2r = y1r + span, *y2i = y1i + span;
        double *y3r = y2r + span, *y3i = y2i + span;
        FR_INDEPENDENT
        for (int i = 0; i < span; i++) {
            const double s0r = a_r[i] + c_r[i], s0i = a_i[i] + c_i[i];
            const double d0r = a_r[i] - c_r[i], d0i = a_i[i] - c_i[i];
            const double s1r = b_r[i] + d_r[i], s1i = b_i[i] + d_i[i];
            const double d1r = b_r[i] - d_r[i], d1i = b_i[i] - d_i[i];
            const double t1r = d0r + d1i, t1i = d0i - d1r;     /* d0 - i d1 */
            const double t2r = s0r - s1r, t2i = s0i - s1i;
            const double t3r = d0r - d1i, t3i = d0i + d1r;     /* d0 + i d1 */
            y0r[i] = s0r + s1r;
            y0i[i] = s0i + s1i;
            y1r[i] = t1r * w1r - t1i * w1i;
            y1i[i] = t1r * w1i + t1i * w1r;
            y2r[i] = t2r * w2r - t2i * w2i;
            y2i[i] = t2r * w2i + t2i * w2r;
            y3r[i] = t3r * w3r - t3i * w3i;
            y3i[i] = t3r * w3i + t3i * w3r;
        }
    }
}

/*
 * One radix-2 Stockham stage, as radix4_stage with m = length / 2:
 *   y[(2p + r) stride + q] = w_length^(r p) (x[p stride + q] + (-1)^r x[(p + m) stride + q])
 */
static void radix2_stage(int length, int stride, int cols, size_t half, const double *w,
                         const double *restrict x, double *restrict y)
{
    const int m = length / 2, span = stride * cols;
    const size_t offset = (size_t)m * span;
    for (int p = 0; p < m; p++, w += 2) {
        const double wr = w[0], wi = w[1];
        const double *a_r = x + (size_t)p * span, *a_i = a_r + half;
        const double *b_r = a_r + offset, *b_i = a_i + offset;
        double *y0r = y + (size_t)2 * p * span, *y0i = y0r + half;
        double *y1r = y0r + span, *y1i = y0i + span;
        FR_INDEPENDENT
        for (int i = 0; i < span; i++) {
            const double dr = a_r[i] - b_r[i], di = a_i[i] - b_i[i];
            y0r[i] = a_r[i] + b_r[i];
            y0i[i] = a_i[i] + b_i[i];
            y1r[i] = dr * wr - di * wi;
            y1i[i] = dr * wi + di * wr;
        }
    }
}

/* radix4_stage with span a multiple of FR_DLEN, FR_DLEN values at a time. */
static void radix4_stage_blocks(int length, int stride, int cols, size_t half, const double *w,
                                const double *restrict x, double *restrict y)
{
    const int m = length / 4, span = stride * cols;
    const size_t quarter = (size_t)m * span;
    for (int p = 0; p < m; p++, w += 6) {
        const double w1r = w[0], w1i = w[1], w2r = w[2], w2i = w[3], w3r = w[4], w3i = w[5];
        const double *a = x + (size_t)p * span;
        double *out = y + (size_t)4 * p * span;
        for (int i = 0; i < span; i += FR_DLEN) {
            const double *in = a + i;
            const vdouble ar = vdouble_load(in), ai = vdouble_load(in + half);
            const vdouble br = vdouble_load(in + quarter), bi = vdouble_load(in + half + quarter);
            const vdouble cr = vdouble_load(in + 2 * quarter);
            const vdouble ci = vdouble_load(in + half + 2 * quarter);
            const vdouble dr = vdouble_load(in + 3 * quarter);
            const vdouble di = vdouble_load(in + half + 3 * quarter);
            const vdouble s0r = ar + cr, s0i = ai + ci, d0r = ar - cr, d0i = ai - ci;
            const vdouble s1r = br + dr, s1i = bi + di, d1r = br - dr, d1i = bi - di;
            const vdouble t1r = d0r + d1i, t1i = d0i - d1r;     /* d0 - i d1 */
            const vdouble t2r = s0r - s1r, t2i = s0i - s1i;
            const vdouble t3r = d0r - d1i, t3i = d0i + d1r;     /* d0 + i d1 */
            double *o = out + i;
            vdouble_store(o, s0r + s1r);
            vdouble_store(o + half, s0i + s1i);
            vdouble_store(o + span, t1r * w1r - t1i * w1i);
            vdouble_store(o + half + span, t1r * w1i + t1i * w1r);
            vdouble_store(o + 2 * span, t2r * w2r - t2i * w2i);
            vdouble_store(o + half + 2 * span, t2r * w2i + t2i * w2r);
            vdouble_store(o + 3 * span, t3r * w3r - t3i * w3i);
            vdouble_store(o + half + 3 * span, t3r * w3i + t3i * w3r);
        }
    }
}

/* radix2_stage with span a multiple of FR_DLEN, FR_DLEN values at a time. */
static void radix2_stage_blocks(int length, int stride, int cols, size_t half, const double *w,
                                const double *restrict x, double *restrict y)
{
    const int m = length / 2, span = stride * cols;
    const size_t offset = (size_t)m * span;
    for (int p = 0; p < m; p++, w += 2) {
        const double wr = w[0], wi = w[1];
        const double *a = x + (size_t)p * span;
        double *out = y + (size_t)2 * p * span;
        for (int i = 0; i < span; i += FR_DLEN) {
            const double *in = a + i;
            const vdouble ar = vdouble_load(in), ai = vdouble_load(in + half);
            const vdouble br = vdouble_load(in + offset), bi = vdouble_load(in + half + offset);
            const vdouble dr = ar - br, di = ai - bi;
            double *o = out + i;
            vdouble_store(o, ar + br);
            vdouble_store(o + half, ai + bi);
            vdouble_store(o + span, dr * wr - di * wi);
            vdouble_store(o + half + span, dr * wi + di * wr);
        }
    }
}

/*
 * The DFT down every column of x (2, points, cols) split complex; the stages
 * alternate between x and y. Returns the buffer holding the result.
 */
static double *column_fft_run(const fr_column_fft *fft, double *x, double *y)
{
    const size_t half = (size_t)fft->points * fft->cols;
    const int blocks = fft->cols % FR_DLEN == 0;     /* every span is a multiple of cols */
    int length = fft->points, stride = 1;
    for (int s = 0; s < fft->num_stages; s++) {
        if (fft->radix[s] == 4 && blocks)
            radix4_stage_blocks(length, stride, fft->cols, half, fft->twiddles[s], x, y);
        else if (fft->radix[s] == 4)
            radix4_stage(length, stride, fft->cols, half, fft->twiddles[s], x, y);
        else if (blocks)
            radix2_stage_blocks(length, stride, fft->cols, half, fft->twiddles[s], x, y);
        else
            radix2_stage(length, stride, fft->cols, half, fft->twiddles[s], x, y);
        length /= fft->radix[s];
        stride *= fft->radix[s];
        double *swap = x;
        x = y;
        y = swap;
    }
    return x;
}

/*
 * Step 2: y[c][k2] = x[k2][c] w_h^(c k2); x (2, rows, cols) and y (2, cols, rows)
 * split complex. The naive twin of twiddle_transpose_blocks.
 */
static void twiddle_transpose(const fr_rfft *plan, const double *restrict x,
                              double *restrict y)
{
    const int rows = plan->rows, cols = plan->cols;
    const size_t half = (size_t)rows * cols;
    const double *wr = plan->middle, *wi = plan->middle + half;
    for (int c = 0; c < cols; c++) {
        const size_t at = (size_t)c * rows;
        for (int k2 = 0; k2 < rows; k2++) {
            const double re = x[(size_t)k2 * cols + c], im = x[half + (size_t)k2 * cols + c];
            y[at + k2] = re * wr[at + k2] - im * wi[at + k2];
            y[half + at + k2] = re * wi[at + k2] + im * wr[at + k2];
        }
    }
}

/* v[j][i] = v[i][j]: the FR_DLEN x FR_DLEN matrix of rows v[0 ..], in
 * registers. Stage w swaps the off-diagonal w x w blocks of each 2w x 2w block. */
static inline void transpose_block(vdouble v[FR_DLEN])
{
#if FR_DLEN == 8
    for (int i = 0; i < 8; i += 2) {
        const vdouble a = v[i], b = v[i + 1];
        v[i] = FR_SHUFFLE(a, b, 0, 8, 2, 10, 4, 12, 6, 14);
        v[i + 1] = FR_SHUFFLE(a, b, 1, 9, 3, 11, 5, 13, 7, 15);
    }
    static const int pairs_of_2[4] = {0, 1, 4, 5};      /* with i + 2 */
    for (int p = 0; p < 4; p++) {
        const int i = pairs_of_2[p];
        const vdouble a = v[i], b = v[i + 2];
        v[i] = FR_SHUFFLE(a, b, 0, 1, 8, 9, 4, 5, 12, 13);
        v[i + 2] = FR_SHUFFLE(a, b, 2, 3, 10, 11, 6, 7, 14, 15);
    }
    for (int i = 0; i < 4; i++) {
        const vdouble a = v[i], b = v[i + 4];
        v[i] = FR_SHUFFLE(a, b, 0, 1, 2, 3, 8, 9, 10, 11);
        v[i + 4] = FR_SHUFFLE(a, b, 4, 5, 6, 7, 12, 13, 14, 15);
    }
#elif FR_DLEN == 4
    for (int i = 0; i < 4; i += 2) {
        const vdouble a = v[i], b = v[i + 1];
        v[i] = FR_SHUFFLE(a, b, 0, 4, 2, 6);
        v[i + 1] = FR_SHUFFLE(a, b, 1, 5, 3, 7);
    }
    for (int i = 0; i < 2; i++) {
        const vdouble a = v[i], b = v[i + 2];
        v[i] = FR_SHUFFLE(a, b, 0, 1, 4, 5);
        v[i + 2] = FR_SHUFFLE(a, b, 2, 3, 6, 7);
    }
#else
    const vdouble a = v[0], b = v[1];
    v[0] = FR_SHUFFLE(a, b, 0, 2);
    v[1] = FR_SHUFFLE(a, b, 1, 3);
#endif
}

/* twiddle_transpose by FR_DLEN x FR_DLEN blocks transposed in registers;
 * rows and cols multiples of FR_DLEN. */
static void twiddle_transpose_blocks(const fr_rfft *plan, const double *restrict x,
                                     double *restrict y)
{
    const int rows = plan->rows, cols = plan->cols;
    const size_t half = (size_t)rows * cols;
    const double *wr = plan->middle, *wi = plan->middle + half;
    for (int k2 = 0; k2 < rows; k2 += FR_DLEN)
        for (int c = 0; c < cols; c += FR_DLEN) {
            vdouble re[FR_DLEN], im[FR_DLEN];
            for (int i = 0; i < FR_DLEN; i++) {
                re[i] = vdouble_load(x + (size_t)(k2 + i) * cols + c);
                im[i] = vdouble_load(x + half + (size_t)(k2 + i) * cols + c);
            }
            transpose_block(re);
            transpose_block(im);
            for (int j = 0; j < FR_DLEN; j++) {
                const size_t at = (size_t)(c + j) * rows + k2;
                const vdouble w_re = vdouble_load(wr + at), w_im = vdouble_load(wi + at);
                vdouble_store(y + at, re[j] * w_re - im[j] * w_im);
                vdouble_store(y + half + at, re[j] * w_im + im[j] * w_re);
            }
        }
}

const double *FR_SUFFIX(fr_rfft_complex)(const fr_rfft *plan, double *work)
{
    const size_t half = (size_t)plan->n / 2;
    double *a = work, *b = work + 2 * half;
    double *y = column_fft_run(&plan->down_rows, a, b);
    double *t = y == a ? b : a;
    if (plan->rows % FR_DLEN == 0 && plan->cols % FR_DLEN == 0)
        twiddle_transpose_blocks(plan, y, t);
    else
        twiddle_transpose(plan, y, t);
    return column_fft_run(&plan->down_cols, t, y);
}

/*
 * Bin k (1 <= k < h) of X = rfft(x): X[k] = E[k] + w_n^k O[k], from Z (2, h)
 * split complex, with E[k] = (Z[k] + conj(Z[h - k])) / 2 and
 * O[k] = (Z[k] - conj(Z[h - k])) / 2i the DFTs of the even and odd samples.
 * (X[0] = Re Z[0] + Im Z[0] and X[h] = Re Z[0] - Im Z[0], both real.)
 */
static inline void real_bin(const fr_rfft *plan, const double *z, int k, double *re,
                            double *im)
{
    const int h = plan->n / 2;
    const double *hwr = plan->post, *hwi = plan->post + h + 1;   /* w_n^k / 2 */
    const double a = z[k], b = z[h + k], c = z[h - k], d = z[2 * h - k];
    const double even_r = a + c, even_i = b - d, odd_r = b + d, odd_i = c - a;
    *re = 0.5 * even_r + (hwr[k] * odd_r - hwi[k] * odd_i);
    *im = 0.5 * even_i + (hwr[k] * odd_i + hwi[k] * odd_r);
}

void FR_SUFFIX(fr_rfft_power)(const fr_rfft *plan, const double *restrict z,
                              double *restrict power)
{
    const int h = plan->n / 2;
    power[0] = (z[0] + z[h]) * (z[0] + z[h]);
    power[h] = (z[0] - z[h]) * (z[0] - z[h]);
    for (int k = 1; k < h; k++) {
        double re, im;
        real_bin(plan, z, k, &re, &im);
        power[k] = re * re + im * im;
    }
}

void FR_SUFFIX(fr_rfft)(const fr_rfft *plan, const double *x, double *spectrum, double *work)
{
    const int h = plan->n / 2;
    for (int j = 0; j < h; j++) {
        work[j] = x[2 * j];
        work[h + j] = x[2 * j + 1];
    }
    const double *z = FR_SUFFIX(fr_rfft_complex)(plan, work);
    spectrum[0] = z[0] + z[h];
    spectrum[1] = 0.0;
    spectrum[2 * h] = z[0] - z[h];
    spectrum[2 * h + 1] = 0.0;
    for (int k = 1; k < h; k++) real_bin(plan, z, k, &spectrum[2 * k], &spectrum[2 * k + 1]);
}
