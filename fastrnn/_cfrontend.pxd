# The C interface of the audio front end (csrc/fastrnn_audio.h), cimported
# by the audio section of _engine.pyx as a namespace, so that its fr_status
# and fr_isa stay apart from the declarations of fastrnn.h.

from libc.stdint cimport int64_t


cdef extern from "fastrnn_audio.h" nogil:
    ctypedef enum fr_status:
        FR_OK
        FR_ERR_ARG
        FR_ERR_ISA
        FR_ERR_NOMEM
    ctypedef enum fr_isa:
        pass
    ctypedef enum fr_feature:
        FR_FEATURE_LOG_MEL
        FR_FEATURE_MEL_DB
        FR_FEATURE_MFCC

    int FR_FFT_MIN_SIZE
    int FR_FFT_MAX_SIZE

    ctypedef struct fr_rfft:
        pass
    fr_status fr_rfft_create(fr_isa isa, int n, fr_rfft **plan)
    void fr_rfft_destroy(fr_rfft *plan)
    size_t fr_rfft_work_size(const fr_rfft *plan)
    fr_status fr_rfft_forward(const fr_rfft *plan, const double *x, double *spectrum,
                              double *work)

    ctypedef struct fr_frontend_config:
        fr_isa isa
        int n_fft
        int hop_length
        fr_feature feature
        int n_mels
        int n_mfcc
        double power
        double log_floor
        double amin
        int deltas
        int delta_width

    ctypedef struct fr_frontend:
        pass
    fr_status fr_frontend_create(const fr_frontend_config *config, const double *window,
                                 const double *mel_basis, const double *dct,
                                 const double *delta_weights, const float *mean,
                                 const float *std, fr_frontend **frontend)
    void fr_frontend_destroy(fr_frontend *frontend)
    int fr_frontend_num_features(const fr_frontend *frontend)

    ctypedef struct fr_frontend_stream:
        pass
    fr_status fr_frontend_stream_create(const fr_frontend *frontend, int batch, int max_threads,
                                        fr_frontend_stream **stream)
    void fr_frontend_stream_destroy(fr_frontend_stream *stream)
    fr_status fr_frontend_stream_count(const fr_frontend_stream *stream, int num_samples,
                                       const unsigned char *active, int *counts)
    fr_status fr_frontend_stream_push(fr_frontend_stream *stream, int num_samples,
                                      const float *samples, const unsigned char *active,
                                      float *frames, int max_frames, int *num_frames,
                                      int num_threads)
    fr_status fr_frontend_stream_flush(fr_frontend_stream *stream, const unsigned char *rows,
                                       float *frames, int max_frames, int *num_frames)
    fr_status fr_frontend_stream_reset(fr_frontend_stream *stream, const int *rows, int count)
    fr_status fr_frontend_stream_base_frames(const fr_frontend_stream *stream,
                                             int64_t *num_frames)
    fr_status fr_frontend_stream_get_state(const fr_frontend_stream *stream, float *samples,
                                           int *num_samples, float *history,
                                           int64_t *num_frames)
    fr_status fr_frontend_stream_set_state(fr_frontend_stream *stream, const float *samples,
                                           const int *num_samples, const float *history,
                                           const int64_t *num_frames)
