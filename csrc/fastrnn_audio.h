/*
 * fastrnn_audio.h - the audio front end in C (C99, no Python): the log-mel,
 * dB-mel and MFCC features of fastrnn.audio.FrontEnd, for one stream of
 * samples or N, block by block. FrontEnd's NumPy path is the reference.
 *
 * Frame k covers samples [k hop_length, k hop_length + n_fft) of a stream
 * (center=False). Per frame, in float64, rounded to float32 once:
 *
 *   S = |rfft(window * frame)|^power          (n_fft / 2 + 1 bins)
 *   M = mel_basis S                           (n_mels; each filter over its non-zero bins)
 *   log_mel: log(M + log_floor)   mel_db: 10 log10(max(M, amin))   mfcc: dct mel_db
 *
 * then, with deltas, the Savitzky-Golay deltas of the float32 base features
 * over delta_width frames (librosa.feature.delta, mode "interp"), which hold
 * a frame back until the delta_width / 2 frames after it are known (a flush
 * gives the last ones); and with mean and std, (x - mean) / std in float32.
 *
 * The tables (window, mel filters, DCT, delta weights, mean, std) are
 * computed by the caller and copied at creation: the caller keeps its arrays.
 * Every entry point checks its arguments and returns a status; a failed call
 * changes nothing. Nothing prints, exits or aborts, and a push or a flush
 * allocates nothing.
 */
#ifndef FASTRNN_AUDIO_H
#define FASTRNN_AUDIO_H

#include <stddef.h>
#include <stdint.h>

#include "fastrnn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_FFT_MIN_SIZE 64
#define FR_FFT_MAX_SIZE 4096

/* --- the real FFT ------------------------------------------------------- */

/* A plan for rfft of n real points, n a power of two in [FR_FFT_MIN_SIZE,
 * FR_FFT_MAX_SIZE], float64, with the kernels of `isa`: its twiddle factors,
 * computed once. FR_ERR_ARG for another n, FR_ERR_ISA for an isa this build
 * or CPU lacks. */
typedef struct fr_rfft fr_rfft;

fr_status fr_rfft_create(fr_isa isa, int n, fr_rfft **plan);
void fr_rfft_destroy(fr_rfft *plan);
/* Doubles of scratch a transform needs. */
size_t fr_rfft_work_size(const fr_rfft *plan);
/* spectrum (n / 2 + 1, 2) interleaved (re, im) = numpy.fft.rfft(x), x (n);
 * work: fr_rfft_work_size(plan) doubles. */
fr_status fr_rfft_forward(const fr_rfft *plan, const double *x, double *spectrum,
                          double *work);

/* --- the front end ------------------------------------------------------ */

typedef enum { FR_FEATURE_LOG_MEL = 0, FR_FEATURE_MEL_DB = 1, FR_FEATURE_MFCC = 2 } fr_feature;

typedef struct {
    fr_isa isa;
    int n_fft;          /* a power of two in [FR_FFT_MIN_SIZE, FR_FFT_MAX_SIZE] */
    int hop_length;     /* 1 .. n_fft */
    fr_feature feature;
    int n_mels;         /* >= 1 */
    int n_mfcc;         /* FR_FEATURE_MFCC: coefficients kept, 1 .. n_mels */
    double power;       /* > 0 */
    double log_floor;   /* > 0, FR_FEATURE_LOG_MEL */
    double amin;        /* > 0, FR_FEATURE_MEL_DB and FR_FEATURE_MFCC */
    int deltas;         /* 0, 1 (deltas) or 2 (deltas and delta-deltas) */
    int delta_width;    /* odd, >= 3 (read when deltas > 0) */
} fr_frontend_config;

/* The tables and sizes of one set of features, shared by any number of
 * streams (read-only once created, so streams may run in parallel). */
typedef struct fr_frontend fr_frontend;

/*
 * window (n_fft); mel_basis (n_mels, n_fft / 2 + 1); dct (n_mfcc, n_mels)
 * for FR_FEATURE_MFCC, else ignored; delta_weights (deltas, delta_width,
 * delta_width), [order - 1][position][t] the weight of frame t of a window
 * of delta_width frames in the delta of that order at that position (NULL
 * without deltas); mean and std (num_features) float32, both or neither
 * (NULL: no normalisation), std > 0.
 * num_features = (n_mfcc for FR_FEATURE_MFCC, else n_mels) * (1 + deltas).
 */
fr_status fr_frontend_create(const fr_frontend_config *config, const double *window,
                             const double *mel_basis, const double *dct,
                             const double *delta_weights, const float *mean, const float *std,
                             fr_frontend **frontend);
void fr_frontend_destroy(fr_frontend *frontend);
int fr_frontend_num_features(const fr_frontend *frontend);

/*
 * `batch` independent streams of samples. Each keeps the samples of its
 * frame in progress (fewer than n_fft) and, with deltas, its last
 * delta_width base frames and the number of base frames since its start.
 * It owns these and one workspace per thread; the front end must outlive it.
 * One stream object must not be used from two threads at once; different
 * ones may.
 */
typedef struct fr_frontend_stream fr_frontend_stream;

fr_status fr_frontend_stream_create(const fr_frontend *frontend, int batch, int max_threads,
                                    fr_frontend_stream **stream);
void fr_frontend_stream_destroy(fr_frontend_stream *stream);

/* counts (batch) = the frames a push of num_samples samples would give each
 * stream (0 where active is given and 0). */
fr_status fr_frontend_stream_count(const fr_frontend_stream *stream, int num_samples,
                                   const unsigned char *active, int *counts);

/*
 * Push num_samples samples to each stream: samples (batch, num_samples)
 * float32, row-major; active (batch) flags or NULL for all (inactive rows
 * are not read and keep their state). frames (batch, max_frames,
 * num_features), never NULL: row b gets the num_frames[b] (batch) frames
 * its stream completed, then zeros up to the largest num_frames of the
 * call; rows past that are not written. FR_ERR_ARG, with nothing changed,
 * when a stream would complete more than max_frames frames (see
 * fr_frontend_stream_count). num_threads (<= max_threads) split the
 * streams; the frames are the same for any number.
 */
fr_status fr_frontend_stream_push(fr_frontend_stream *stream, int num_samples,
                                  const float *samples, const unsigned char *active,
                                  float *frames, int max_frames, int *num_frames,
                                  int num_threads);

/*
 * End the signal of the streams whose `rows` (batch) flag is set (NULL:
 * all): their frames held back for the deltas, written as
 * fr_frontend_stream_push writes frames (at most delta_width / 2 each, none
 * without deltas), then they start over. FR_ERR_ARG, with nothing changed,
 * when a flushed stream has 1 to delta_width - 1 base frames (too few for a
 * delta) or max_frames is too small. Samples of an incomplete frame are
 * dropped.
 */
fr_status fr_frontend_stream_flush(fr_frontend_stream *stream, const unsigned char *rows,
                                   float *frames, int max_frames, int *num_frames);

/* Start `count` streams listed in `rows` (NULL: every stream) over. All
 * indices are checked before any stream changes. */
fr_status fr_frontend_stream_reset(fr_frontend_stream *stream, const int *rows, int count);

/* Base frames each stream has computed since its start: num_frames (batch). */
fr_status fr_frontend_stream_base_frames(const fr_frontend_stream *stream,
                                         int64_t *num_frames);

/*
 * The state of every stream, out of or into the stream:
 *   samples (batch, n_fft - 1): its held samples first, then zeros
 *   num_samples (batch): how many it holds, 0 .. n_fft - 1
 *   history (batch, delta_width, num_base): its last min(num_frames,
 *     delta_width) base frames, oldest first, then zeros (deltas only;
 *     ignored and may be NULL without)
 *   num_frames (batch): base frames since its start (>= 0)
 * set_state checks every value before it writes anything.
 */
fr_status fr_frontend_stream_get_state(const fr_frontend_stream *stream, float *samples,
                                       int *num_samples, float *history, int64_t *num_frames);
fr_status fr_frontend_stream_set_state(fr_frontend_stream *stream, const float *samples,
                                       const int *num_samples, const float *history,
                                       const int64_t *num_frames);

#ifdef __cplusplus
}
#endif

#endif
