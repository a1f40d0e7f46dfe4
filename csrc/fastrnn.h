/*
 * fastrnn.h - the C interface of the fastrnn engine (C99, no Python).
 *
 * A model is an opaque graph of layers whose weights are packed once, when a
 * layer is added, for the instruction set the model was created with.
 * Tensors are sequences of frames of `features` floats; they are numbered
 * in the order they are made: the model's inputs (fr_model_add_input) and
 * each layer's output. A layer reads tensors made before it, so the order
 * of addition is a topological order. Running a model needs two
 * caller-owned buffers:
 *
 *   state      what every layer carries from one run to the next, for
 *              `batch` sequences: recurrent states, the frames a
 *              convolution or pooling window still needs, running pools,
 *              the frames a merge waits with; fr_model_state_size(model,
 *              batch) floats, all zeros at the start of a sequence.
 *   workspace  scratch: fr_model_workspace_size(model, batch, steps) floats;
 *              contents on entry do not matter.
 *
 * Time: a tensor's frame j follows model-input frame j * rate + delay
 * (fr_model_tensor_timing). Convolutions and pooling with strides change
 * the rate; padding on the right (look-ahead) adds delay: their frames come
 * out only once the input they need has arrived, and the last ones when the
 * sequence ends (FR_RUN_FINAL). A run of any chunking of a sequence, ended
 * by FR_RUN_FINAL, gives exactly (bit for bit) the frames of one run of the
 * whole sequence.
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
    FR_ERR_SHAPE = 2,     /* the tensors a layer reads do not fit it */
    FR_ERR_ISA = 3,       /* the instruction set (or, with it, the precision) is not built
                             in or not supported by this CPU */
    FR_ERR_NOMEM = 4,     /* an allocation failed */
    FR_ERR_LAYOUT = 5,    /* the layer cannot read that tensor (a recurrent layer after
                             a sequence's end, tensors of different rates, a tensor
                             already read, an unknown tensor) */
    FR_ERR_NONFINITE = 6, /* an input holds NaN or infinity (streams that check) */
    FR_ERR_RANGE = 7,     /* a weight is beyond the range of the model's precision */
    FR_ERR_SEQUENCE = 8   /* the model reads whole sequences (a bidirectional or
                             go_backwards layer, padding that depends on the length, a
                             merge of tensors a stream gives at different rates): it
                             cannot stream */
} fr_status;

/* The largest finite float16 and bfloat16: models of those precisions refuse
 * weights beyond them. */
#define FR_FLOAT16_MAX 65504.0f
#define FR_BFLOAT16_MAX 3.38953139e38f

/* Instruction sets, each a superset of the one before: AVX2 (with FMA and
 * F16C), AVX-512 (F, DQ, BW, VL), AVX-512 with VNNI (int8 dot products) and
 * with VNNI and BF16 (bfloat16 dot products). A level runs the kernels of the
 * level below for the precisions it adds nothing to. */
typedef enum {
    FR_ISA_GENERIC = 0,
    FR_ISA_AVX2 = 1,
    FR_ISA_AVX512 = 2,
    FR_ISA_AVX512_VNNI = 3,
    FR_ISA_AVX512_BF16 = 4
} fr_isa;

/*
 * Storage of the packed weights (biases stay float32):
 *   FLOAT32   the reference;
 *   FLOAT16   IEEE halves, widened to float32 as they load (AVX2 and AVX-512
 *             only): the same float32 arithmetic on rounded weights;
 *   BFLOAT16  bfloat16 (float32 with 8 bits of mantissa): widened exactly, or,
 *             with FR_ISA_AVX512_BF16, multiplied by vdpbf16ps with the
 *             layer's inputs (features, the recurrent state) rounded to
 *             bfloat16 at every step; float32 sums;
 *   INT8      int8 with one float scale per output unit and gate (its largest
 *             |weight| / 127): widened to float32, or, with FR_ISA_AVX512_VNNI
 *             and above, multiplied by vpdpbusd with the layer's inputs
 *             quantized to 8 bits per frame (scale max |x| / 127); int32 sums.
 * The README (Precision) states each one's error against float32.
 */
typedef enum {
    FR_PRECISION_FLOAT32 = 0,
    FR_PRECISION_FLOAT16 = 1,
    FR_PRECISION_BFLOAT16 = 2,
    FR_PRECISION_INT8 = 3
} fr_precision;

/* Activations a Dense layer applies to its outputs. */
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

/*
 * Functions of one frame (fr_model_add_unary), feature by feature unless
 * said otherwise; alpha and beta are the parameters named.
 */
typedef enum {
    FR_UNARY_IDENTITY = 0,
    FR_UNARY_RELU = 1,         /* max(x, 0) */
    FR_UNARY_LEAKY_RELU = 2,   /* x >= 0 ? x : alpha x */
    FR_UNARY_PRELU = 3,        /* x >= 0 ? x : a x, a per feature (or one a) */
    FR_UNARY_ELU = 4,          /* x > 0 ? x : alpha (exp(x) - 1) */
    FR_UNARY_SELU = 5,         /* 1.0507009873554805 elu(x) with alpha 1.6732632423543772 */
    FR_UNARY_GELU = 6,         /* x (1 + erf(x / sqrt 2)) / 2 */
    FR_UNARY_GELU_TANH = 7,    /* x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2 */
    FR_UNARY_SILU = 8,         /* x sigmoid(x) */
    FR_UNARY_TANH = 9,
    FR_UNARY_SIGMOID = 10,     /* 1 / (1 + exp(-x)) */
    FR_UNARY_HARD_SIGMOID = 11,/* clip(alpha x + beta, 0, 1) */
    FR_UNARY_SOFTPLUS = 12,    /* beta x > alpha ? x : log(1 + exp(beta x)) / beta */
    FR_UNARY_SOFTMAX = 13,     /* exp(x_i - max x) / sum_j exp(x_j - max x), over the frame */
    FR_UNARY_LOG_SOFTMAX = 14, /* x_i - max x - log sum_j exp(x_j - max x), over the frame */
    FR_UNARY_EXP = 15,
    FR_UNARY_LOG = 16,
    FR_UNARY_SQRT = 17,
    FR_UNARY_RECIPROCAL = 18,  /* 1 / x */
    FR_UNARY_ABS = 19,
    FR_UNARY_NEG = 20,
    FR_UNARY_CLIP = 21,        /* min(max(x, alpha), beta) */
    FR_UNARY_POW = 22          /* x^alpha */
} fr_unary;

/* Functions of two frames (fr_model_add_binary), feature by feature. */
typedef enum {
    FR_BINARY_ADD = 0,
    FR_BINARY_SUB = 1,
    FR_BINARY_MUL = 2,
    FR_BINARY_DIV = 3,
    FR_BINARY_MAX = 4,
    FR_BINARY_MIN = 5,
    FR_BINARY_POW = 6
} fr_binary;

/* Reductions: over the features of a frame (fr_model_add_reduce), or over
 * the frames of a sequence (fr_model_add_global_pool: MAX, MEAN). */
typedef enum {
    FR_REDUCE_SUM = 0,
    FR_REDUCE_MEAN = 1,
    FR_REDUCE_MAX = 2,
    FR_REDUCE_MIN = 3
} fr_reduce;

/* Pooling over time (fr_model_add_pool). */
typedef enum { FR_POOL_MAX = 0, FR_POOL_AVG = 1 } fr_pool;

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
/* The kernels a model of `precision` packed for `isa` runs, e.g. "avx512_bf16
 * vdpbf16ps" or "avx512 float32"; NULL if not available. Owned by the library. */
const char *fr_kernels_name(fr_isa isa, fr_precision precision);

/* y[i] = act(x[i]) for i < n, with the kernels of `isa`; softmax is not
 * elementwise and is refused (FR_ERR_ARG). Exposed for accuracy tests. */
fr_status fr_activate(fr_isa isa, fr_activation act, const float *x, float *y, size_t n);

/* --- building a model ------------------------------------------------------ */

/* *model = a new empty model packing weights for `isa` in `precision`; it
 * owns its packed weights. FR_ERR_ISA (isa or precision not available
 * here), FR_ERR_ARG (model NULL) or FR_ERR_NOMEM leave *model NULL. */
fr_status fr_model_create(fr_model **model, fr_isa isa, fr_precision precision);
void fr_model_destroy(fr_model *model);

/* A model input of `features` floats per frame; *tensor = its number.
 * Inputs are added before any layer. */
fr_status fr_model_add_input(fr_model *model, int features, int *tensor);

/* Options of a recurrent layer (fr_model_add_lstm, _gru, _rnn `flags`). */
#define FR_RETURN_SEQUENCES 1u /* output every step; without it the layer ends the
                                  sequence: one frame per sequence (its last
                                  step's), and no recurrent layer may read it */
#define FR_GO_BACKWARDS 2u     /* Keras' go_backwards: read each sequence from its last
                                  step to its first and output the steps in that
                                  (reversed) order; whole sequences only */

/*
 * Layers. Each reads the tensor(s) given and makes *output; weights are
 * float32 in the canonical (PyTorch) layout and are copied and packed
 * (float16 and bfloat16 models round them to nearest even; a weight beyond
 * the precision's range gives FR_ERR_RANGE, as does a weight that is not
 * finite in an int8 model), so the caller keeps ownership of its arrays.
 * Biases and optional vectors may be NULL (zero, or one for scales). I is
 * the features of the input tensor.
 *
 * LSTM: w_ih (4H, I), w_hh (4H, H), b_ih (4H), b_hh (4H); gate order i, f, g, o.
 * GRU:  w_ih (3H, I), w_hh (3H, H), b_ih (3H), b_hh (3H); gate order r, z, n;
 *       reset_after = 1: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
 *       reset_after = 0: n = tanh(W_in x + b_in + W_hn (r * h) + b_hn).
 * SimpleRNN: w_ih (H, I), w_hh (H, H), b_ih (H), b_hh (H);
 *       h' = act(W_ih x + b_ih + W_hh h + b_hh), act FR_ACT_TANH or FR_ACT_RELU.
 */
fr_status fr_model_add_lstm(fr_model *model, int input, int hidden_size, const float *w_ih,
                            const float *w_hh, const float *b_ih, const float *b_hh,
                            unsigned flags, int *output);
fr_status fr_model_add_gru(fr_model *model, int input, int hidden_size, const float *w_ih,
                           const float *w_hh, const float *b_ih, const float *b_hh,
                           int reset_after, unsigned flags, int *output);
fr_status fr_model_add_rnn(fr_model *model, int input, int hidden_size, const float *w_ih,
                           const float *w_hh, const float *b_ih, const float *b_hh,
                           fr_activation activation, unsigned flags, int *output);

/*
 * Make the recurrent layer that made `tensor` (not yet read by any layer)
 * bidirectional: these are the weights of its backward direction, of the
 * same shapes, which reads each sequence from its last step to its first.
 * Both directions run in the same run; their outputs merge as `merge` says
 * (concat widens the tensor to 2H). Whole sequences only.
 */
fr_status fr_model_make_bidirectional(fr_model *model, int tensor, const float *w_ih,
                                      const float *w_hh, const float *b_ih, const float *b_hh,
                                      fr_merge merge);

/* Dense: y = act(W x + b), w (O, I), b (O). */
fr_status fr_model_add_dense(fr_model *model, int input, int output_size, const float *w,
                             const float *b, fr_activation activation, int *output);

/* Padding of a convolution or pooling that depends on the sequence's length
 * (TensorFlow's and Keras' "same" with a stride): pass as pad_left; the
 * layer pads each sequence by (total / 2, total - total / 2), total =
 * max((ceil(T / stride) - 1) stride + span - T, 0). Whole sequences only,
 * unless the left padding is the same for every length (then only the
 * right one follows the length, which a stream knows at the end). */
#define FR_PAD_SAME_LENGTH (-1)

/*
 * Conv1d over time: y[t, o] = b[o] + sum_k sum_i w[o, i, k] x[t stride + k dilation
 * - pad_left, g(o) C_in / groups + i], x zero outside the sequence (pad_left
 * zero frames before it, pad_right after its end); w (C_out, C_in / groups,
 * kernel), b (C_out); g(o) = o / (C_out / groups). Frames out of T in:
 * floor((T + pad_left + pad_right - dilation (kernel - 1) - 1) / stride) + 1.
 */
fr_status fr_model_add_conv(fr_model *model, int input, int out_channels, int kernel,
                            int stride, int dilation, int groups, int pad_left, int pad_right,
                            const float *w, const float *b, int *output);

/* Pooling options (fr_model_add_pool `flags`). */
#define FR_POOL_COUNT_PADDING 1u   /* average: divide by the kernel, padding included
                                      (PyTorch's count_include_pad); without it, by the
                                      frames of the sequence in the window */
#define FR_POOL_REPLICATE_EDGES 2u /* pad with copies of the first and last frames
                                      (Keras' torch backend, uneven "same") */
#define FR_POOL_REPLICATE_UNEVEN 4u /* with FR_PAD_SAME_LENGTH: replicate the edges of a
                                       sequence whose padding is uneven (odd total), and
                                       average the real frames of one whose padding is even
                                       (Keras' torch backend for every length); whole
                                       sequences only if that moves the left edge's mode */

/*
 * Pooling over time, feature by feature: y[t] = max or average of x[t stride + k
 * - pad_left] for k < kernel; padding never wins a max. Frames out as a
 * convolution's with dilation 1.
 */
fr_status fr_model_add_pool(fr_model *model, int input, fr_pool pool, int kernel, int stride,
                            int pad_left, int pad_right, unsigned flags, int *output);

/* The MEAN or MAX of every frame of a sequence, feature by feature: ends the
 * sequence (one frame per sequence, as a recurrent layer without
 * FR_RETURN_SEQUENCES; a stream answers each frame of the input with the
 * pool so far, and the final pool at the end). */
fr_status fr_model_add_global_pool(fr_model *model, int input, fr_reduce reduce, int *output);

/* y = op(x) (fr_unary); params: FR_UNARY_PRELU's slopes (I of them, or 1),
 * NULL for the other ops. */
fr_status fr_model_add_unary(fr_model *model, int input, fr_unary op, float alpha, float beta,
                             const float *params, int num_params, int *output);

/* y = x * scale + shift per feature (an inference BatchNorm that folds into
 * nothing); scale, shift (I) or NULL. */
fr_status fr_model_add_affine(fr_model *model, int input, const float *scale,
                              const float *shift, int *output);

/* y = (x - mean(x)) / sqrt(var(x) + eps) * gamma + beta over the features of
 * each frame (biased variance); gamma, beta (I) or NULL. */
fr_status fr_model_add_layer_norm(fr_model *model, int input, float eps, const float *gamma,
                                  const float *beta, int *output);

/* y = a op b, frame by frame; b has a's features or one (broadcast). The two
 * tensors must have the same rate; frames pair up in order (the one that
 * comes first waits for the other). */
fr_status fr_model_add_binary(fr_model *model, fr_binary op, int a, int b, int *output);

/* y = a op v (or v op a with constant_first), v (features of a, or 1). */
fr_status fr_model_add_binary_constant(fr_model *model, fr_binary op, int a, const float *values,
                                       int num_values, int constant_first, int *output);

/* The features of `count` tensors of one rate side by side, in order. */
fr_status fr_model_add_concat(fr_model *model, int count, const int *inputs, int *output);

/* Features [begin, end) of each frame. */
fr_status fr_model_add_slice(fr_model *model, int input, int begin, int end, int *output);

/* One feature per frame: the SUM, MEAN, MAX or MIN of the frame's features. */
fr_status fr_model_add_reduce(fr_model *model, int input, fr_reduce reduce, int *output);

/* The tensors a run returns, in order (at least one). */
fr_status fr_model_set_outputs(fr_model *model, int count, const int *tensors);

/* --- what a model is --------------------------------------------------------- */

int fr_model_num_inputs(const fr_model *model);
int fr_model_num_outputs(const fr_model *model);
int fr_model_num_tensors(const fr_model *model);
/* The tensor number of output `index`; -1 if out of range. */
int fr_model_output_tensor(const fr_model *model, int index);
/* Features of tensor `tensor`; 0 if out of range. */
int fr_model_tensor_features(const fr_model *model, int tensor);
/* *rate, *delay of tensor `tensor` (see the top of this file); rate 0: one
 * frame per sequence, after its end. */
fr_status fr_model_tensor_timing(const fr_model *model, int tensor, int *rate, int *delay);
/*
 * The frames a stream gives of tensor `tensor`: frame j follows input frame
 * j * *rate + *delay as fr_model_tensor_timing says, except after a layer
 * that ends the sequence (rate 0), which in a stream answers every frame
 * of its input (FR_RUN_EVERY_STEP): the input's rate and delay. *in_step:
 * 1 if every input frame gives exactly one frame, at once, and the end
 * adds none (no stride, look-ahead or left padding beyond a window's span
 * on the way; a layer that ends the sequence still gives its final answer
 * at the end, fr_stream_run); 0 if the frames may come otherwise (the
 * sequence's end may add some: fr_model_sequence_frames counts them).
 */
fr_status fr_model_stream_timing(const fr_model *model, int tensor, int *rate, int *delay,
                                 int *in_step);
/* Frames output `output` gives over one whole sequence of `steps` steps from
 * a zero state (each layer's count, e.g. a convolution's floor((T + left +
 * right - span) / stride) + 1, none of no frames; 1 after a layer that ends
 * the sequence); -1 if out of range. */
int fr_model_sequence_frames(const fr_model *model, int output, int steps);
/* 1 if some layer needs whole sequences (no streams): a bidirectional or
 * go_backwards layer, padding that depends on the length, or a merge of
 * tensors that a stream gives at different rates. */
int fr_model_needs_sequences(const fr_model *model);

/* Layers are numbered in the order they were added. */
int fr_model_num_layers(const fr_model *model);
/* Hidden or output size of layer `layer`; 0 if out of range. */
int fr_model_layer_units(const fr_model *model, int layer);
/* Gates of layer `layer` (4 LSTM, 3 GRU, 1 otherwise); 0 if out of range. */
int fr_model_layer_gates(const fr_model *model, int layer);
/* State arrays of layer `layer` (0 for layers that carry nothing): an LSTM
 * h, c (forward then backward for a bidirectional layer); a GRU or
 * SimpleRNN h; a convolution or pooling its window of frames and its
 * position; a global pool its value and count; a merge waiting frames and
 * their count per input that can come first. Each is canonical: the same
 * numbers at the same point of a sequence, whatever the chunking (frames
 * a window or queue does not hold are zero). At a sequence's end
 * (FR_RUN_FINAL) the recurrent states keep their final values and the
 * rest (windows, queues, pools: what is in flight within a sequence) go
 * back to zero. */
int fr_model_layer_state_parts(const fr_model *model, int layer);
/* Shape of one sequence's part `part`: *frames x *features floats. */
fr_status fr_model_state_part_shape(const fr_model *model, int layer, int part, int *frames,
                                    int *features);

/* What a state part holds. */
typedef enum {
    FR_PART_VALUES = 0,   /* floats: recurrent states, frames, running values */
    FR_PART_POSITION = 1, /* a window's position: whole numbers, each in its range */
    FR_PART_COUNT = 2     /* a whole number: frames pooled, or frames waiting in a queue */
} fr_part_kind;

/* *kind of part `part` of layer `layer`, and *input: for a merge's queue
 * (its waiting frames and their count) the layer input they come from,
 * else -1. */
fr_status fr_model_state_part_kind(const fr_model *model, int layer, int part,
                                   fr_part_kind *kind, int *input);

/* Bytes of the packed weights and biases the model holds. */
size_t fr_model_weight_bytes(const fr_model *model);

size_t fr_model_state_size(const fr_model *model, int batch);
size_t fr_model_workspace_size(const fr_model *model, int batch, int steps);

/* Copy part `part` of layer `layer`'s state in `state`, a state buffer for
 * `batch` sequences, out of or into (batch, frames * features) rows (see
 * fr_model_state_part_shape). set refuses a position out of range or that
 * no sequence reaches, and a count out of range (FR_ERR_ARG), and zeroes
 * the padding the kernels keep beside the units. */
fr_status fr_model_get_state(const fr_model *model, const float *state, int batch, int layer,
                             int part, float *dst);
fr_status fr_model_set_state(const fr_model *model, float *state, int batch, int layer,
                             int part, const float *src);

/* --- running a model ----------------------------------------------------------- */

/* fr_model_run flags. */
#define FR_RUN_EVERY_STEP 1u /* layers that end the sequence answer every step: the output
                                the model would give if the sequence ended there (streams) */
#define FR_RUN_FINAL 2u      /* the sequences end with this run: padding on the right,
                                the last frames, whole-sequence layers */

/* The most frames output `output` can give in one run of `steps` steps,
 * whatever the state; -1 if out of range. */
int fr_model_output_frames(const fr_model *model, int output, int steps, unsigned flags);

/*
 * Run `steps` steps of `batch` independent sequences, from `state`, which is
 * updated to the state after the run.
 * x[i] (batch, steps, features of input i), row-major float32.
 * counts (batch) or NULL: sequence b has counts[b] <= steps steps in this
 *   run (the rest of its rows of x are not read); NULL: all have `steps`.
 * mask (batch, steps) or NULL: where mask[b, t] == 0, step t of sequence b
 *   is skipped by every recurrent layer (its state carries over the step, and
 *   is its output there; a bidirectional layer outputs zeros there), as
 *   Keras' Masking. Only models whose outputs keep the input's timing (in
 *   step, fr_model_stream_timing, or one frame per sequence) take a mask.
 * y[o] (batch, frames[o], features of output o): the frames this run gives,
 *   y_counts[o * batch + b] of them for sequence b, then zeros; frames[o] >=
 *   fr_model_output_frames(model, o, steps, flags).
 * num_threads: OpenMP threads (1 = serial); the results are bit-for-bit the
 *   same for every thread count.
 */
fr_status fr_model_run(const fr_model *model, int batch, int steps, const float *const *x,
                       const int *counts, const uint8_t *mask, float *const *y,
                       const int *frames, int *y_counts, float *state, float *workspace,
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
 * model or stream, a model without outputs, batch out of range),
 * FR_ERR_SEQUENCE (the model reads whole sequences) or FR_ERR_NOMEM leave
 * *stream NULL. check_finite != 0: fr_stream_run refuses inputs holding NaN
 * or infinity. */
fr_status fr_stream_create(fr_stream **stream, const fr_model *model, int batch,
                           int check_finite);
void fr_stream_destroy(fr_stream *stream);

/* 1 if x[0 .. n) are all finite, else 0 (NaN or infinity, a float whose
 * exponent bits are all ones); one pass without branches, which vectorises:
 * fr_stream_run's check, and the audio pipeline's of its samples. */
int fr_all_finite(const float *x, size_t n);

/*
 * Run `steps` steps (FR_RUN_EVERY_STEP): x and y as in fr_model_run, y[o]
 * (batch, frames[o], features); the frames each sequence completed are
 * counted in y_counts[o * batch + b] (fr_model_stream_timing says when
 * they come). A layer that ends the sequence answers each frame of its
 * input with its answer so far.
 * active: NULL for all rows, or `batch` flags; rows whose flag is 0 cost
 *   nothing, keep their state, and give no frames.
 * flags: FR_RUN_FINAL ends the active rows' sequences (steps may be 0): the
 *   frames still held come out, a layer that ends the sequence gives its
 *   final answer (one more frame if its input gave none; a global pool once
 *   it has pooled a frame), and the state is the state at the sequence's
 *   end, as fr_model_run with FR_RUN_FINAL leaves it (recurrent states
 *   final, windows, queues and pools empty): the next run starts a new
 *   sequence from those recurrent states; fr_stream_reset starts from zero.
 * On any error (FR_ERR_NONFINITE included) the state is unchanged.
 * Allocates only when `steps` is larger than in every earlier call (growing
 * the workspace); a one-step call never allocates.
 */
fr_status fr_stream_run(fr_stream *stream, int steps, const float *const *x, float *const *y,
                        const int *frames, int *y_counts, const unsigned char *active,
                        unsigned flags, int num_threads);

/* Zero the state of `count` rows listed in `rows` (count at most the stream's
 * rows: the list is gathered into a compact state of that many), or of every
 * row when rows is NULL. All indices are checked before any row changes. */
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
