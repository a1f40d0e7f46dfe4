/*
 * fastrnn.h - the C interface of the fastrnn engine (C99, no Python).
 *
 * A model is an opaque stack of layers (LSTM, GRU, Dense) whose weights are
 * packed once, when the layer is added, for the instruction set the model was
 * created with. Running it needs two caller-owned buffers:
 *
 *   state      the recurrent state of every layer for `batch` sequences:
 *              fr_model_state_size(model, batch) floats, read at the start of
 *              a run and overwritten with the state after its last step.
 *              All zeros is the usual initial state.
 *   workspace  scratch: fr_model_workspace_size(model, batch, steps) floats;
 *              contents on entry do not matter.
 *
 * Nothing is allocated while a model runs. Every entry point checks its sizes
 * and pointers and returns a status code; none prints, exits or aborts.
 */
#ifndef FASTRNN_H
#define FASTRNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What every entry point returns. fastrnn/_engine.pyx maps each to one
 * Python exception (MemoryError for FR_ERR_NOMEM only). */
typedef enum {
    FR_OK = 0,
    FR_ERR_ARG = 1,       /* a size is out of range or a pointer is NULL */
    FR_ERR_SHAPE = 2,     /* a layer's input size differs from the previous output size */
    FR_ERR_ISA = 3,       /* the instruction set (or, with it, the precision) is not built
                             in or not supported by this CPU */
    FR_ERR_NOMEM = 4,     /* an allocation failed */
    FR_ERR_LAYOUT = 5,    /* a recurrent layer cannot follow one with return_sequences = 0 */
    FR_ERR_NONFINITE = 6, /* an input holds NaN or infinity (streams that check) */
    FR_ERR_RANGE = 7,     /* a weight is beyond the range of the model's precision */
    FR_ERR_SEQUENCE = 8   /* the model reads whole sequences (a bidirectional or
                             go_backwards layer): it cannot stream */
} fr_status;

/* The largest finite float16: a float16 model refuses weights beyond it. */
#define FR_FLOAT16_MAX 65504.0f

typedef enum { FR_ISA_GENERIC = 0, FR_ISA_AVX2 = 1, FR_ISA_AVX512 = 2 } fr_isa;

/* Storage of the packed weights. Arithmetic is float32 either way; float16
 * halves the bytes a step reads (AVX2 and AVX-512 kernels only). */
typedef enum { FR_PRECISION_FLOAT32 = 0, FR_PRECISION_FLOAT16 = 1 } fr_precision;

typedef enum {
    FR_ACT_LINEAR = 0,
    FR_ACT_RELU = 1,
    FR_ACT_TANH = 2,
    FR_ACT_SIGMOID = 3,
    FR_ACT_ELU = 4,
    FR_ACT_SOFTMAX = 5
} fr_activation;

/* How the two directions of a bidirectional layer combine. */
typedef enum {
    FR_MERGE_CONCAT = 0, /* [forward, backward]: 2H outputs */
    FR_MERGE_SUM = 1,
    FR_MERGE_MUL = 2,
    FR_MERGE_AVE = 3
} fr_merge;

typedef struct fr_model fr_model;

/* Human-readable name of a status code. */
const char *fr_status_string(fr_status status);

/* --- instruction sets ---------------------------------------------------- */

/* 1 if the kernels for `isa` (float32 weights) are built in and this CPU runs them. */
int fr_isa_supported(fr_isa isa);
/* 1 if weights of `precision` are available with `isa`. */
int fr_precision_supported(fr_isa isa, fr_precision precision);
/* The widest supported instruction set. */
fr_isa fr_isa_best(void);

/* y[i] = act(x[i]) for i < n, with the kernels of `isa`; softmax is not
 * elementwise and is refused (FR_ERR_ARG). Exposed for accuracy tests. */
fr_status fr_activate(fr_isa isa, fr_activation act, const float *x, float *y, size_t n);

/* --- models -------------------------------------------------------------- */

/* *model = a new empty model taking `input_size` features per step, packing
 * weights for `isa` in `precision`; it owns its packed weights. FR_ERR_ISA
 * (isa or precision not available here), FR_ERR_ARG (input_size out of
 * range, model NULL) or FR_ERR_NOMEM leave *model NULL. */
fr_status fr_model_create(fr_model **model, fr_isa isa, fr_precision precision,
                          int input_size);
void fr_model_destroy(fr_model *model);

/* Options of a recurrent layer (fr_model_add_lstm, _gru, _rnn `flags`). */
#define FR_RETURN_SEQUENCES 1u /* output every step; without it only the last step,
                                  and no recurrent layer may follow */
#define FR_GO_BACKWARDS 2u     /* Keras' go_backwards: read each sequence from its last
                                  step to its first and output the steps in that
                                  (reversed) order; the model then runs whole
                                  sequences only */

/*
 * Add a layer; weights are float32 in the canonical (PyTorch) layout and are
 * copied and packed (float16 models round them to nearest even; a weight
 * beyond float16's range, |w| > FR_FLOAT16_MAX, gives FR_ERR_RANGE), so the
 * caller keeps ownership of its arrays. Biases may be NULL (zero).
 *
 * LSTM: w_ih (4H, I), w_hh (4H, H), b_ih (4H), b_hh (4H); gate order i, f, g, o.
 * GRU:  w_ih (3H, I), w_hh (3H, H), b_ih (3H), b_hh (3H); gate order r, z, n;
 *       reset_after = 1: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
 *       reset_after = 0: n = tanh(W_in x + b_in + W_hn (r * h) + b_hn).
 * SimpleRNN: w_ih (H, I), w_hh (H, H), b_ih (H), b_hh (H);
 *       h' = act(W_ih x + b_ih + W_hh h + b_hh), act FR_ACT_TANH or FR_ACT_RELU.
 * Dense: w (O, I), b (O).
 * I is the model's current output size.
 */
fr_status fr_model_add_lstm(fr_model *model, int hidden_size, const float *w_ih,
                            const float *w_hh, const float *b_ih, const float *b_hh,
                            unsigned flags);
fr_status fr_model_add_gru(fr_model *model, int hidden_size, const float *w_ih,
                           const float *w_hh, const float *b_ih, const float *b_hh,
                           int reset_after, unsigned flags);
fr_status fr_model_add_rnn(fr_model *model, int hidden_size, const float *w_ih,
                           const float *w_hh, const float *b_ih, const float *b_hh,
                           fr_activation activation, unsigned flags);
fr_status fr_model_add_dense(fr_model *model, int output_size, const float *w,
                             const float *b, fr_activation activation);

/*
 * Make the last layer (an LSTM, GRU or SimpleRNN) bidirectional: these are
 * the weights of its backward direction, of the same shapes, which reads each
 * sequence from its last step to its first. Both directions run in the same
 * fr_model_run; their outputs merge as `merge` says. A model with a
 * bidirectional layer runs whole sequences (no streams).
 */
fr_status fr_model_make_bidirectional(fr_model *model, const float *w_ih, const float *w_hh,
                                      const float *b_ih, const float *b_hh, fr_merge merge);

int fr_model_input_size(const fr_model *model);
int fr_model_output_size(const fr_model *model);
/* 1 if every step has an output (no layer has return_sequences = 0). */
int fr_model_returns_sequences(const fr_model *model);
int fr_model_num_layers(const fr_model *model);
/* Hidden or output size of layer `layer`; 0 if out of range. */
int fr_model_layer_units(const fr_model *model, int layer);
/* State arrays of layer `layer`: 2 for an LSTM (h, c), 1 for a GRU or SimpleRNN (h),
 * 0 otherwise; twice that, forward then backward, for a bidirectional layer. */
int fr_model_layer_state_parts(const fr_model *model, int layer);
/* Gates of layer `layer` (4 LSTM, 3 GRU, 1 SimpleRNN or Dense); 0 if out of range. */
int fr_model_layer_gates(const fr_model *model, int layer);
/* 1 if some layer is bidirectional or goes backwards: the model runs whole
 * sequences only (no streams). */
int fr_model_needs_sequences(const fr_model *model);

/* Bytes of the packed weights and biases the model holds. */
size_t fr_model_weight_bytes(const fr_model *model);

size_t fr_model_state_size(const fr_model *model, int batch);
size_t fr_model_workspace_size(const fr_model *model, int batch, int steps);

/* Copy part `part` (0: h, 1: c of an LSTM; a bidirectional layer's backward
 * direction follows its forward parts) of layer `layer`'s state in `state`,
 * a state buffer for `batch` sequences, out of or into (batch, units) rows.
 * set zeroes the padding the kernels keep beside the units. */
fr_status fr_model_get_state(const fr_model *model, const float *state, int batch, int layer,
                             int part, float *dst);
fr_status fr_model_set_state(const fr_model *model, float *state, int batch, int layer,
                             int part, const float *src);

/* fr_model_run flags: output every step, even after a layer with
 * return_sequences = 0 (what a stream answers: the output the model would give
 * if the sequence ended at that step). */
#define FR_RUN_EVERY_STEP 1u

/*
 * Run `steps` steps of `batch` independent sequences.
 * x (batch, steps, input_size), row-major float32.
 * y (batch, steps, output_size), or (batch, output_size) when the model does
 *   not return sequences and flags lack FR_RUN_EVERY_STEP.
 * mask (batch, steps) or NULL (every step runs): where mask[b, t] == 0, step
 *   t of sequence b is skipped by every recurrent layer (its state carries
 *   over the step; a backward direction skips it too) and its output row in y
 *   is zero; a model that does not return sequences outputs each sequence's
 *   last step that ran. (PyTorch's packed sequences are masks of lengths.)
 * state, workspace: see the top of this file.
 * num_threads: OpenMP threads (1 = serial); the results are bit-for-bit the
 *   same for every thread count.
 */
fr_status fr_model_run(const fr_model *model, int batch, int steps, const float *x,
                       const uint8_t *mask, float *y, float *state, float *workspace,
                       unsigned flags, int num_threads);

/* --- streams --------------------------------------------------------------- */

/*
 * A stream: `batch` independent sequences fed a few steps (often one) at a
 * time, each call carrying on from the state the previous one left. It owns
 * its state (zero at creation) and its workspace; the model must outlive it.
 * One stream must not be run from two threads at once; different streams may.
 */
typedef struct fr_stream fr_stream;

/* *stream = a new stream of `batch` sequences over `model`. FR_ERR_ARG (NULL
 * model or stream, an empty model, batch out of range), FR_ERR_SEQUENCE (the
 * model reads whole sequences) or FR_ERR_NOMEM leave *stream NULL.
 * check_finite != 0: fr_stream_run refuses inputs holding NaN or infinity. */
fr_status fr_stream_create(fr_stream **stream, const fr_model *model, int batch,
                           int check_finite);
void fr_stream_destroy(fr_stream *stream);

/*
 * Run `steps` steps: x (batch, steps, input_size) -> y (batch, steps,
 * output_size), the output of every step (FR_RUN_EVERY_STEP).
 * active: NULL for all rows, or `batch` flags; rows whose flag is 0 cost
 *   nothing, keep their state, and get zeros in y.
 * On any error (FR_ERR_NONFINITE included) the state is unchanged.
 * Allocates only when `steps` is larger than in every earlier call (growing
 * the workspace); a one-step call never allocates.
 */
fr_status fr_stream_run(fr_stream *stream, int steps, const float *x, float *y,
                        const unsigned char *active, int num_threads);

/* Zero the state of `count` rows listed in `rows`, or of every row when rows
 * is NULL. All indices are checked before any row changes. */
fr_status fr_stream_reset(fr_stream *stream, const int *rows, int count);

/* fr_model_get_state / fr_model_set_state on the stream's state. */
fr_status fr_stream_get_state(const fr_stream *stream, int layer, int part, float *dst);
fr_status fr_stream_set_state(fr_stream *stream, int layer, int part, const float *src);

/* Compiler, flags and OpenMP of this build, for fastrnn.info(). */
const char *fr_build_compiler(void);
const char *fr_build_flags(void);
int fr_build_openmp(void);

#ifdef __cplusplus
}
#endif

#endif
