/*
 * frontend.c - the front end's tables and its streams (see fastrnn_audio.h).
 *
 * A stream row keeps the samples after its last frame start (fewer than
 * n_fft) at the front of its sample buffer. A push of n samples sees the
 * row's held samples followed by the block: a frame lying inside the block
 * is read from it in place, one that starts among the held samples is
 * assembled in a scratch frame; afterwards the samples from the next frame
 * start on are kept. Each frame goes through the ISA's frame kernel
 * (frame.c); with deltas, its base features go to a ring of the last
 * delta_width base frames, from which the deltas of the frame delta_width / 2
 * earlier follow. Every frame of every row is computed by the same code on
 * the same values, whatever the row, the block sizes or the thread: N
 * streams give bit for bit the frames of one.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "model.h"
#include "parallel.h"

#define FR_FRONTEND_MAX_MELS 4096
#define FR_FRONTEND_MAX_DELTA_WIDTH 1025

struct fr_frontend {
    fr_frontend_config config;
    const fr_audio_kernels *kernels;
    fr_rfft *fft;
    fr_frame_plan frame;
    int num_base, num_features;
    int *mel_ranges;          /* first bins (mel_groups), then bin counts (mel_groups) */
    double *tables;           /* window (n_fft), mel weights, dct, delta weights */
    const double *delta_weights;   /* (deltas, delta_width, delta_width) */
    float *normalization;     /* mean (num_features), std (num_features), or NULL */
};

struct fr_frontend_stream {
    const fr_frontend *frontend;
    int batch, max_threads;
    float *samples;           /* (batch, n_fft): held samples at the front of each row */
    int *held;                /* (batch): how many */
    float *history;           /* (batch, delta_width, num_base): base frame k at k % delta_width */
    int64_t *num_frames;      /* (batch): base frames since the start */
    float *frames;            /* (max_threads, n_fft): a frame across held samples and block */
    double *work;             /* (max_threads, work_size) */
    size_t work_size;
};

size_t fr_frame_work_size(const fr_frame_plan *plan)
{
    return 2 * (size_t)plan->n_fft + (size_t)(plan->n_fft / 2 + 1)
           + 2 * (size_t)plan->mel_groups * FR_MEL_GROUP;
}

void fr_frontend_destroy(fr_frontend *frontend)
{
    if (frontend == NULL) return;
    fr_rfft_destroy(frontend->fft);
    free(frontend->mel_ranges);
    fr_free_doubles(frontend->tables);
    fr_free_floats(frontend->normalization);
    free(frontend);
}

static int positive_finite(double x)
{
    return x > 0.0 && x <= 1.7976931348623157e308;
}

static fr_status check_config(const fr_frontend_config *c)
{
    if (c->n_fft < FR_FFT_MIN_SIZE || c->n_fft > FR_FFT_MAX_SIZE || (c->n_fft & (c->n_fft - 1)))
        return FR_ERR_ARG;
    if (c->hop_length < 1 || c->hop_length > c->n_fft) return FR_ERR_ARG;
    if (c->feature < FR_FEATURE_LOG_MEL || c->feature > FR_FEATURE_MFCC) return FR_ERR_ARG;
    if (c->n_mels < 1 || c->n_mels > FR_FRONTEND_MAX_MELS) return FR_ERR_ARG;
    if (c->feature == FR_FEATURE_MFCC && (c->n_mfcc < 1 || c->n_mfcc > c->n_mels))
        return FR_ERR_ARG;
    if (!positive_finite(c->power)) return FR_ERR_ARG;
    const double floor = c->feature == FR_FEATURE_LOG_MEL ? c->log_floor : c->amin;
    if (!positive_finite(floor)) return FR_ERR_ARG;
    if (c->deltas < 0 || c->deltas > 2) return FR_ERR_ARG;
    if (c->deltas > 0 && (c->delta_width < 3 || c->delta_width % 2 == 0
                          || c->delta_width > FR_FRONTEND_MAX_DELTA_WIDTH))
        return FR_ERR_ARG;
    return FR_OK;
}

/* The bins [first[g], first[g] + count[g]) where a filter of group g (filters
 * g FR_MEL_GROUP ..) is non-zero, for every group; the number of weights
 * they hold. */
static size_t mel_ranges(const double *mel_basis, int n_mels, int bins, int *first, int *count)
{
    const int groups = (n_mels + FR_MEL_GROUP - 1) / FR_MEL_GROUP;
    size_t total = 0;
    for (int g = 0; g < groups; g++) {
        int lo = bins, hi = -1;
        for (int f = g * FR_MEL_GROUP; f < n_mels && f < (g + 1) * FR_MEL_GROUP; f++)
            for (int k = 0; k < bins; k++)
                if (mel_basis[(size_t)f * bins + k] != 0.0) {
                    lo = k < lo ? k : lo;
                    hi = k > hi ? k : hi;
                }
        first[g] = hi >= lo ? lo : 0;
        count[g] = hi >= lo ? hi - lo + 1 : 0;
        total += (size_t)count[g] * FR_MEL_GROUP;
    }
    return total;
}

/* out (count, FR_MEL_GROUP) = rows g FR_MEL_GROUP .. of matrix (num_rows,
 * cols) at columns first .. first + count - 1, transposed; zeros for rows
 * past num_rows. */
static void pack_group(const double *matrix, int num_rows, int cols, int g, int first,
                       int count, double *out)
{
    for (int k = 0; k < count; k++)
        for (int l = 0; l < FR_MEL_GROUP; l++) {
            const int row = g * FR_MEL_GROUP + l;
            out[k * FR_MEL_GROUP + l] =
                row < num_rows ? matrix[(size_t)row * cols + first + k] : 0.0;
        }
}

fr_status fr_frontend_create(const fr_frontend_config *config, const double *window,
                             const double *mel_basis, const double *dct,
                             const double *delta_weights, const float *mean, const float *std,
                             fr_frontend **frontend)
{
    if (frontend == NULL) return FR_ERR_ARG;
    *frontend = NULL;
    if (config == NULL || window == NULL || mel_basis == NULL) return FR_ERR_ARG;
    fr_status status = check_config(config);
    if (status != FR_OK) return status;
    const fr_frontend_config c = *config;
    if ((c.feature == FR_FEATURE_MFCC && dct == NULL) || (c.deltas > 0 && delta_weights == NULL)
        || ((mean == NULL) != (std == NULL)))
        return FR_ERR_ARG;
    const fr_audio_kernels *kernels = fr_audio_kernels_for(c.isa);
    if (kernels == NULL) return FR_ERR_ISA;
    const int num_base = c.feature == FR_FEATURE_MFCC ? c.n_mfcc : c.n_mels;
    const int num_features = num_base * (1 + c.deltas);
    if (mean != NULL)
        for (int i = 0; i < num_features; i++)
            if (!isfinite(mean[i]) || !(std[i] > 0.0f) || !isfinite(std[i])) return FR_ERR_ARG;

    fr_frontend *fe = calloc(1, sizeof *fe);
    if (fe == NULL) return FR_ERR_NOMEM;
    fe->config = c;
    fe->kernels = kernels;
    fe->num_base = num_base;
    fe->num_features = num_features;
    const int h = c.n_fft / 2, bins = h + 1, width = c.deltas ? c.delta_width : 0;
    const int groups = (c.n_mels + FR_MEL_GROUP - 1) / FR_MEL_GROUP;
    fe->mel_ranges = malloc(2 * (size_t)groups * sizeof(int));
    status = fe->mel_ranges == NULL ? FR_ERR_NOMEM : fr_rfft_create(c.isa, c.n_fft, &fe->fft);
    if (status != FR_OK) {
        fr_frontend_destroy(fe);
        return status;
    }
    int *first = fe->mel_ranges, *count = fe->mel_ranges + groups;
    const size_t num_weights = mel_ranges(mel_basis, c.n_mels, bins, first, count);
    const int dct_blocks =
        c.feature == FR_FEATURE_MFCC ? (num_base + FR_MEL_GROUP - 1) / FR_MEL_GROUP : 0;
    const size_t dct_size = (size_t)dct_blocks * c.n_mels * FR_MEL_GROUP;
    const size_t delta_size = (size_t)c.deltas * width * width;
    fe->tables = fr_alloc_doubles((size_t)c.n_fft + num_weights + dct_size + delta_size);
    if (mean != NULL) fe->normalization = fr_alloc_floats(2 * (size_t)num_features);
    if (fe->tables == NULL || (mean != NULL && fe->normalization == NULL)) {
        fr_frontend_destroy(fe);
        return FR_ERR_NOMEM;
    }
    double *window_split = fe->tables, *weights = window_split + c.n_fft;
    double *dct_copy = weights + num_weights, *delta_copy = dct_copy + dct_size;
    for (int j = 0; j < h; j++) {          /* at the even samples, then at the odd */
        window_split[j] = window[2 * j];
        window_split[h + j] = window[2 * j + 1];
    }
    double *group_weights = weights;
    for (int g = 0; g < groups; group_weights += (size_t)count[g] * FR_MEL_GROUP, g++)
        pack_group(mel_basis, c.n_mels, bins, g, first[g], count[g], group_weights);
    for (int block = 0; block < dct_blocks; block++)
        pack_group(dct, num_base, c.n_mels, block, 0, c.n_mels,
                   dct_copy + (size_t)block * c.n_mels * FR_MEL_GROUP);
    if (delta_size) memcpy(delta_copy, delta_weights, delta_size * sizeof(double));
    fe->delta_weights = delta_copy;
    if (mean != NULL) {
        memcpy(fe->normalization, mean, num_features * sizeof(float));
        memcpy(fe->normalization + num_features, std, num_features * sizeof(float));
    }
    fe->frame = (fr_frame_plan){
        .fft = fe->fft, .n_fft = c.n_fft, .n_mels = c.n_mels, .num_base = num_base,
        .feature = c.feature, .power = c.power, .log_floor = c.log_floor, .amin = c.amin,
        .window = window_split, .mel_groups = groups, .group_first = first, .group_bins = count,
        .mel_weights = weights, .dct = dct_copy, .dct_blocks = dct_blocks,
    };
    *frontend = fe;
    return FR_OK;
}

int fr_frontend_num_features(const fr_frontend *frontend)
{
    return frontend == NULL ? 0 : frontend->num_features;
}

/* --- streams -------------------------------------------------------------- */

void fr_frontend_stream_destroy(fr_frontend_stream *stream)
{
    if (stream == NULL) return;
    fr_free_floats(stream->samples);
    free(stream->held);
    fr_free_floats(stream->history);
    free(stream->num_frames);
    fr_free_floats(stream->frames);
    fr_free_doubles(stream->work);
    free(stream);
}

static int delta_width(const fr_frontend *fe)
{
    return fe->config.deltas ? fe->config.delta_width : 0;
}

fr_status fr_frontend_stream_create(const fr_frontend *frontend, int batch, int max_threads,
                                    fr_frontend_stream **stream)
{
    if (stream == NULL) return FR_ERR_ARG;
    *stream = NULL;
    if (frontend == NULL || batch < 1 || max_threads < 1) return FR_ERR_ARG;
    fr_frontend_stream *st = calloc(1, sizeof *st);
    if (st == NULL) return FR_ERR_NOMEM;
    const int n_fft = frontend->config.n_fft;
    const size_t history = (size_t)batch * delta_width(frontend) * frontend->num_base;
    st->frontend = frontend;
    st->batch = batch;
    st->max_threads = max_threads;
    /* The frame kernel's scratch, then num_base doubles for the deltas. */
    st->work_size = fr_frame_work_size(&frontend->frame) + (size_t)frontend->num_base;
    st->samples = fr_alloc_floats((size_t)batch * n_fft);
    st->held = calloc((size_t)batch, sizeof(int));
    st->history = fr_alloc_floats(history > 0 ? history : 1);
    st->num_frames = calloc((size_t)batch, sizeof(int64_t));
    st->frames = fr_alloc_floats((size_t)max_threads * n_fft);
    st->work = fr_alloc_doubles((size_t)max_threads * st->work_size);
    if (st->samples == NULL || st->held == NULL || st->history == NULL || st->num_frames == NULL
        || st->frames == NULL || st->work == NULL) {
        fr_frontend_stream_destroy(st);
        return FR_ERR_NOMEM;
    }
    memset(st->samples, 0, (size_t)batch * n_fft * sizeof(float));
    memset(st->history, 0, (history > 0 ? history : 1) * sizeof(float));
    *stream = st;
    return FR_OK;
}

/* Frames a push of n samples gives row b: its complete frames, or with
 * deltas the frames whose following delta_width / 2 frames are then known
 * (all of the first delta_width / 2 + 1 at once). */
static int64_t frames_of_push(const fr_frontend_stream *st, int b, int n)
{
    const fr_frontend_config *c = &st->frontend->config;
    const int64_t total = (int64_t)st->held[b] + n;
    const int64_t complete = total >= c->n_fft ? 1 + (total - c->n_fft) / c->hop_length : 0;
    if (!c->deltas) return complete;
    const int width = c->delta_width, half = width / 2;
    const int64_t before = st->num_frames[b], after = before + complete;
    if (after < width) return 0;
    return after - half - (before >= width ? before - half : 0);
}

fr_status fr_frontend_stream_count(const fr_frontend_stream *stream, int num_samples,
                                   const unsigned char *active, int *counts)
{
    if (stream == NULL || num_samples < 0 || counts == NULL) return FR_ERR_ARG;
    for (int b = 0; b < stream->batch; b++) {
        const int64_t count = active != NULL && !active[b] ? 0
                                                           : frames_of_push(stream, b, num_samples);
        if (count > 0x7fffffff) return FR_ERR_ARG;
        counts[b] = (int)count;
    }
    return FR_OK;
}

/* x (n) = (x - mean) / std, in float32. */
static void standardize(int n, const float *restrict mean, const float *restrict std,
                        float *restrict x)
{
    for (int i = 0; i < n; i++) x[i] = (x[i] - mean[i]) / std[i];
}

/* out (num_features) normalised, when the front end normalises. */
static void normalize(const fr_frontend *fe, float *out)
{
    if (fe->normalization != NULL)
        standardize(fe->num_features, fe->normalization,
                    fe->normalization + fe->num_features, out);
}

/*
 * out (num_features) = base frame `index` of a row and its deltas, from its
 * ring of the last delta_width base frames (history, (delta_width, num_base))
 * when num_frames are known:
 *   start = min(max(index - width / 2, 0), num_frames - width),  position = index - start,
 *   delta_order[i] = sum_t weights[order - 1][position][t] base[start + t][i]
 * (librosa's "interp" edges: the frames near an end take the first or last
 * full window). acc: num_base doubles.
 */
static void frame_with_deltas(const fr_frontend *fe, const float *history, int64_t num_frames,
                              int64_t index, float *out, double *acc)
{
    const int width = fe->config.delta_width, num_base = fe->num_base;
    int64_t start = index - width / 2;
    start = start < 0 ? 0 : start;
    start = start > num_frames - width ? num_frames - width : start;
    const int position = (int)(index - start);
    memcpy(out, history + (index % width) * num_base, num_base * sizeof(float));
    for (int order = 1; order <= fe->config.deltas; order++) {
        const double *weights =
            fe->delta_weights + ((size_t)(order - 1) * width + position) * width;
        for (int i = 0; i < num_base; i++) acc[i] = 0.0;
        for (int t = 0; t < width; t++) {
            const float *row = history + ((start + t) % width) * num_base;
            for (int i = 0; i < num_base; i++) acc[i] += weights[t] * (double)row[i];
        }
        for (int i = 0; i < num_base; i++) out[order * num_base + i] = (float)acc[i];
    }
    normalize(fe, out);
}

/*
 * The frame `samples` (n_fft) just completed in row b: computed, and the
 * frames it makes ready written to out (num_features per frame). Returns
 * how many.
 */
static int complete_frame(fr_frontend_stream *st, int b, const float *samples, float *out,
                          double *work)
{
    const fr_frontend *fe = st->frontend;
    if (!fe->config.deltas) {
        fe->kernels->frame(&fe->frame, samples, out, work);
        normalize(fe, out);
        return 1;
    }
    const int width = fe->config.delta_width, half = width / 2, num_base = fe->num_base;
    float *history = st->history + (size_t)b * width * num_base;
    const int64_t k = st->num_frames[b];
    fe->kernels->frame(&fe->frame, samples, history + (k % width) * num_base, work);
    const int64_t known = st->num_frames[b] = k + 1;
    if (known < width) return 0;
    const int64_t first = known == width ? 0 : known - 1 - half, last = known - 1 - half;
    double *acc = work + fr_frame_work_size(&fe->frame);
    for (int64_t index = first; index <= last; index++)
        frame_with_deltas(fe, history, known, index, out + (index - first) * fe->num_features,
                          acc);
    return (int)(last - first + 1);
}

/* Push n >= 1 samples x to row b; its frames to out. Returns how many. */
static int push_row(fr_frontend_stream *st, int b, int n, const float *x, float *out,
                    float *frame, double *work)
{
    const fr_frontend *fe = st->frontend;
    const int n_fft = fe->config.n_fft, hop = fe->config.hop_length, held = st->held[b];
    float *samples = st->samples + (size_t)b * n_fft;
    const int64_t total = (int64_t)held + n;
    int count = 0;
    int64_t start = 0;
    for (; start + n_fft <= total; start += hop) {
        const float *frame_samples;
        if (start >= held) {
            frame_samples = x + (start - held);
        } else {
            const int from_held = held - (int)start;
            memcpy(frame, samples + start, from_held * sizeof(float));
            memcpy(frame + from_held, x, (n_fft - from_held) * sizeof(float));
            frame_samples = frame;
        }
        count += complete_frame(st, b, frame_samples, out + (size_t)count * fe->num_features,
                                work);
    }
    const int remaining = (int)(total - start);
    if (start >= held) {
        memcpy(samples, x + (start - held), remaining * sizeof(float));
    } else {
        memmove(samples, samples + start, (held - start) * sizeof(float));
        memcpy(samples + (held - start), x, n * sizeof(float));
    }
    st->held[b] = remaining;
    return count;
}

/* Zero the rows [from, to) of out (num_features floats per row). */
static void zero_rows(const fr_frontend *fe, float *out, int from, int to)
{
    if (to > from)
        memset(out + (size_t)from * fe->num_features, 0,
               (size_t)(to - from) * fe->num_features * sizeof(float));
}

/* Rows [begin, end) of a push (see fr_frontend_stream_push), with the
 * scratch of thread `tid`. */
static void push_rows(fr_frontend_stream *st, int begin, int end, int tid, int n,
                      const float *samples, const unsigned char *active, float *frames,
                      int max_frames, int largest, int *num_frames)
{
    const fr_frontend *fe = st->frontend;
    float *frame = st->frames + (size_t)tid * fe->config.n_fft;
    double *work = st->work + (size_t)tid * st->work_size;
    for (int b = begin; b < end; b++) {
        float *out = frames + (size_t)b * max_frames * fe->num_features;
        int count = 0;
        if (active == NULL || active[b])
            count = push_row(st, b, n, samples + (size_t)b * n, out, frame, work);
        zero_rows(fe, out, count, largest);
        num_frames[b] = count;
    }
}

fr_status fr_frontend_stream_push(fr_frontend_stream *stream, int num_samples,
                                  const float *samples, const unsigned char *active,
                                  float *frames, int max_frames, int *num_frames,
                                  int num_threads)
{
    if (stream == NULL || num_samples < 0 || (num_samples > 0 && samples == NULL)
        || max_frames < 0 || frames == NULL || num_frames == NULL || num_threads < 1
        || num_threads > stream->max_threads)
        return FR_ERR_ARG;
    int largest = 0;
    for (int b = 0; b < stream->batch; b++) {
        const int64_t count = active != NULL && !active[b] ? 0
                                                           : frames_of_push(stream, b, num_samples);
        if (count > max_frames) return FR_ERR_ARG;
        largest = count > largest ? (int)count : largest;
    }
    if (num_samples == 0) {                 /* no frame, nothing to keep */
        memset(num_frames, 0, (size_t)stream->batch * sizeof(int));
        return FR_OK;
    }
    if (num_threads == 1 || stream->batch == 1 || largest == 0) {
        push_rows(stream, 0, stream->batch, 0, num_samples, samples, active, frames, max_frames,
                  largest, num_frames);
        return FR_OK;
    }
#pragma omp parallel num_threads(num_threads)
    {
        int begin, end;
        fr_thread_range(stream->batch, 1, omp_get_thread_num(), omp_get_num_threads(), &begin,
                        &end);
        push_rows(stream, begin, end, omp_get_thread_num(), num_samples, samples, active, frames,
                  max_frames, largest, num_frames);
    }
    return FR_OK;
}

static void reset_row(fr_frontend_stream *st, int b)
{
    st->held[b] = 0;
    st->num_frames[b] = 0;
}

/* Frames a flush gives row b: the delta_width / 2 held back, or none; -1
 * when the row has too few base frames for a delta. */
static int frames_of_flush(const fr_frontend_stream *st, int b)
{
    const fr_frontend_config *c = &st->frontend->config;
    const int64_t known = st->num_frames[b];
    if (!c->deltas || known == 0) return 0;
    return known < c->delta_width ? -1 : c->delta_width / 2;
}

fr_status fr_frontend_stream_flush(fr_frontend_stream *stream, const unsigned char *rows,
                                   float *frames, int max_frames, int *num_frames)
{
    if (stream == NULL || max_frames < 0 || frames == NULL || num_frames == NULL)
        return FR_ERR_ARG;
    int largest = 0;
    for (int b = 0; b < stream->batch; b++) {
        if (rows != NULL && !rows[b]) continue;
        const int count = frames_of_flush(stream, b);
        if (count < 0 || count > max_frames) return FR_ERR_ARG;
        largest = count > largest ? count : largest;
    }
    const fr_frontend *fe = stream->frontend;
    const int width = delta_width(fe), num_base = fe->num_base;
    double *acc = stream->work + fr_frame_work_size(&fe->frame);
    for (int b = 0; b < stream->batch; b++) {
        float *out = frames + (size_t)b * max_frames * fe->num_features;
        int count = 0;
        if (rows == NULL || rows[b]) {
            count = frames_of_flush(stream, b);
            const int64_t known = stream->num_frames[b];
            for (int i = 0; i < count; i++)
                frame_with_deltas(fe, stream->history + (size_t)b * width * num_base, known,
                                  known - count + i, out + (size_t)i * fe->num_features, acc);
            reset_row(stream, b);
        }
        zero_rows(fe, out, count, largest);
        num_frames[b] = count;
    }
    return FR_OK;
}

fr_status fr_frontend_stream_reset(fr_frontend_stream *stream, const int *rows, int count)
{
    if (stream == NULL || (rows != NULL && count < 0)) return FR_ERR_ARG;
    if (rows == NULL) {
        for (int b = 0; b < stream->batch; b++) reset_row(stream, b);
        return FR_OK;
    }
    for (int i = 0; i < count; i++)
        if (rows[i] < 0 || rows[i] >= stream->batch) return FR_ERR_ARG;
    for (int i = 0; i < count; i++) reset_row(stream, rows[i]);
    return FR_OK;
}

fr_status fr_frontend_stream_base_frames(const fr_frontend_stream *stream, int64_t *num_frames)
{
    if (stream == NULL || num_frames == NULL) return FR_ERR_ARG;
    memcpy(num_frames, stream->num_frames, (size_t)stream->batch * sizeof(int64_t));
    return FR_OK;
}

fr_status fr_frontend_stream_get_state(const fr_frontend_stream *stream, float *samples,
                                       int *num_samples, float *history, int64_t *num_frames)
{
    if (stream == NULL || samples == NULL || num_samples == NULL || num_frames == NULL)
        return FR_ERR_ARG;
    const fr_frontend *fe = stream->frontend;
    const int n_fft = fe->config.n_fft, width = delta_width(fe), num_base = fe->num_base;
    if (width > 0 && history == NULL) return FR_ERR_ARG;
    for (int b = 0; b < stream->batch; b++) {
        const int held = stream->held[b];
        float *row = samples + (size_t)b * (n_fft - 1);
        memcpy(row, stream->samples + (size_t)b * n_fft, held * sizeof(float));
        memset(row + held, 0, (n_fft - 1 - held) * sizeof(float));
        num_samples[b] = held;
        num_frames[b] = stream->num_frames[b];
        if (width == 0) continue;
        const int64_t known = stream->num_frames[b];
        const int kept = known < width ? (int)known : width;
        const float *ring = stream->history + (size_t)b * width * num_base;
        float *out = history + (size_t)b * width * num_base;
        for (int r = 0; r < kept; r++)
            memcpy(out + (size_t)r * num_base, ring + ((known - kept + r) % width) * num_base,
                   num_base * sizeof(float));
        memset(out + (size_t)kept * num_base, 0, (size_t)(width - kept) * num_base * sizeof(float));
    }
    return FR_OK;
}

fr_status fr_frontend_stream_set_state(fr_frontend_stream *stream, const float *samples,
                                       const int *num_samples, const float *history,
                                       const int64_t *num_frames)
{
    if (stream == NULL || samples == NULL || num_samples == NULL || num_frames == NULL)
        return FR_ERR_ARG;
    const fr_frontend *fe = stream->frontend;
    const int n_fft = fe->config.n_fft, width = delta_width(fe), num_base = fe->num_base;
    if (width > 0 && history == NULL) return FR_ERR_ARG;
    for (int b = 0; b < stream->batch; b++)
        if (num_samples[b] < 0 || num_samples[b] > n_fft - 1 || num_frames[b] < 0)
            return FR_ERR_ARG;
    for (int b = 0; b < stream->batch; b++) {
        const int held = num_samples[b];
        memcpy(stream->samples + (size_t)b * n_fft, samples + (size_t)b * (n_fft - 1),
               held * sizeof(float));
        stream->held[b] = held;
        stream->num_frames[b] = num_frames[b];
        if (width == 0) continue;
        const int64_t known = num_frames[b];
        const int kept = known < width ? (int)known : width;
        float *ring = stream->history + (size_t)b * width * num_base;
        const float *in = history + (size_t)b * width * num_base;
        for (int r = 0; r < kept; r++)
            memcpy(ring + ((known - kept + r) % width) * num_base, in + (size_t)r * num_base,
                   num_base * sizeof(float));
    }
    return FR_OK;
}
