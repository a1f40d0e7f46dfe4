# The C interface of the engine (csrc/fastrnn.h) and of the trainer's kernels
# (csrc/fastrnn_train.h), declared once for fastrnn/_engine.pyx. Enum members
# are declared by name so that the binding never restates their values.

from libc.stdint cimport uint8_t


cdef extern from "fastrnn.h" nogil:
    ctypedef enum fr_status:
        FR_OK
        FR_ERR_ARG
        FR_ERR_SHAPE
        FR_ERR_ISA
        FR_ERR_NOMEM
        FR_ERR_LAYOUT
        FR_ERR_NONFINITE
        FR_ERR_RANGE
        FR_ERR_SEQUENCE
    ctypedef enum fr_isa:
        FR_ISA_GENERIC
        FR_ISA_AVX2
        FR_ISA_AVX512
        FR_ISA_AVX512_VNNI
        FR_ISA_AVX512_BF16
    ctypedef enum fr_precision:
        FR_PRECISION_FLOAT32
        FR_PRECISION_FLOAT16
        FR_PRECISION_BFLOAT16
        FR_PRECISION_INT8
    ctypedef enum fr_activation:
        FR_ACT_LINEAR
        FR_ACT_RELU
        FR_ACT_TANH
        FR_ACT_SIGMOID
        FR_ACT_ELU
        FR_ACT_SOFTMAX
    ctypedef enum fr_part_kind:
        FR_PART_VALUES
        FR_PART_POSITION
        FR_PART_COUNT
    ctypedef enum fr_merge:
        FR_MERGE_CONCAT
        FR_MERGE_SUM
        FR_MERGE_MUL
        FR_MERGE_AVE
    ctypedef enum fr_unary:
        FR_UNARY_IDENTITY
        FR_UNARY_RELU
        FR_UNARY_LEAKY_RELU
        FR_UNARY_PRELU
        FR_UNARY_ELU
        FR_UNARY_SELU
        FR_UNARY_GELU
        FR_UNARY_GELU_TANH
        FR_UNARY_SILU
        FR_UNARY_TANH
        FR_UNARY_SIGMOID
        FR_UNARY_HARD_SIGMOID
        FR_UNARY_SOFTPLUS
        FR_UNARY_SOFTMAX
        FR_UNARY_LOG_SOFTMAX
        FR_UNARY_EXP
        FR_UNARY_LOG
        FR_UNARY_SQRT
        FR_UNARY_RECIPROCAL
        FR_UNARY_ABS
        FR_UNARY_NEG
        FR_UNARY_CLIP
        FR_UNARY_POW
    ctypedef enum fr_binary:
        FR_BINARY_ADD
        FR_BINARY_SUB
        FR_BINARY_MUL
        FR_BINARY_DIV
        FR_BINARY_MAX
        FR_BINARY_MIN
        FR_BINARY_POW
    ctypedef enum fr_reduce:
        FR_REDUCE_SUM
        FR_REDUCE_MEAN
        FR_REDUCE_MAX
        FR_REDUCE_MIN
    ctypedef enum fr_pool:
        FR_POOL_MAX
        FR_POOL_AVG

    float FR_FLOAT16_MAX
    float FR_BFLOAT16_MAX
    unsigned FR_RETURN_SEQUENCES
    unsigned FR_GO_BACKWARDS
    unsigned FR_POOL_COUNT_PADDING
    unsigned FR_POOL_REPLICATE_EDGES
    unsigned FR_POOL_REPLICATE_UNEVEN
    int FR_PAD_SAME_LENGTH
    unsigned FR_RUN_EVERY_STEP
    unsigned FR_RUN_FINAL

    const char *fr_status_string(fr_status status)
    int fr_isa_supported(fr_isa isa)
    int fr_precision_supported(fr_isa isa, fr_precision precision)
    fr_isa fr_isa_best()
    const char *fr_kernels_name(fr_isa isa, fr_precision precision)
    fr_status fr_activate(fr_isa isa, fr_activation act, const float *x, float *y, size_t n)

    ctypedef struct fr_model:
        pass
    fr_status fr_model_create(fr_model **model, fr_isa isa, fr_precision precision)
    void fr_model_destroy(fr_model *model)
    fr_status fr_model_add_input(fr_model *model, int features, int *tensor)
    fr_status fr_model_add_lstm(fr_model *model, int input, int hidden_size, const float *w_ih,
                                const float *w_hh, const float *b_ih, const float *b_hh,
                                unsigned flags, int *output)
    fr_status fr_model_add_gru(fr_model *model, int input, int hidden_size, const float *w_ih,
                               const float *w_hh, const float *b_ih, const float *b_hh,
                               int reset_after, unsigned flags, int *output)
    fr_status fr_model_add_rnn(fr_model *model, int input, int hidden_size, const float *w_ih,
                               const float *w_hh, const float *b_ih, const float *b_hh,
                               fr_activation activation, unsigned flags, int *output)
    fr_status fr_model_make_bidirectional(fr_model *model, int tensor, const float *w_ih,
                                          const float *w_hh, const float *b_ih,
                                          const float *b_hh, fr_merge merge)
    fr_status fr_model_add_dense(fr_model *model, int input, int output_size, const float *w,
                                 const float *b, fr_activation activation, int *output)
    fr_status fr_model_add_conv(fr_model *model, int input, int out_channels, int kernel,
                                int stride, int dilation, int groups, int pad_left,
                                int pad_right, const float *w, const float *b, int *output)
    fr_status fr_model_add_pool(fr_model *model, int input, fr_pool pool, int kernel,
                                int stride, int pad_left, int pad_right, unsigned flags,
                                int *output)
    fr_status fr_model_add_global_pool(fr_model *model, int input, fr_reduce reduce,
                                       int *output)
    fr_status fr_model_add_unary(fr_model *model, int input, fr_unary op, float alpha,
                                 float beta, const float *params, int num_params, int *output)
    fr_status fr_model_add_affine(fr_model *model, int input, const float *scale,
                                  const float *shift, int *output)
    fr_status fr_model_add_layer_norm(fr_model *model, int input, float eps, const float *gamma,
                                      const float *beta, int *output)
    fr_status fr_model_add_binary(fr_model *model, fr_binary op, int a, int b, int *output)
    fr_status fr_model_add_binary_constant(fr_model *model, fr_binary op, int a,
                                           const float *values, int num_values,
                                           int constant_first, int *output)
    fr_status fr_model_add_concat(fr_model *model, int count, const int *inputs, int *output)
    fr_status fr_model_add_slice(fr_model *model, int input, int begin, int end, int *output)
    fr_status fr_model_add_reduce(fr_model *model, int input, fr_reduce reduce, int *output)
    fr_status fr_model_set_outputs(fr_model *model, int count, const int *tensors)

    int fr_model_num_inputs(const fr_model *model)
    int fr_model_num_outputs(const fr_model *model)
    int fr_model_num_tensors(const fr_model *model)
    int fr_model_output_tensor(const fr_model *model, int index)
    int fr_model_tensor_features(const fr_model *model, int tensor)
    fr_status fr_model_tensor_timing(const fr_model *model, int tensor, int *rate, int *delay)
    fr_status fr_model_stream_timing(const fr_model *model, int tensor, int *rate, int *delay,
                                     int *in_step)
    int fr_model_sequence_frames(const fr_model *model, int output, int steps)
    int fr_model_needs_sequences(const fr_model *model)
    int fr_model_num_layers(const fr_model *model)
    int fr_model_layer_units(const fr_model *model, int layer)
    int fr_model_layer_gates(const fr_model *model, int layer)
    int fr_model_layer_state_parts(const fr_model *model, int layer)
    fr_status fr_model_state_part_shape(const fr_model *model, int layer, int part, int *frames,
                                        int *features)
    fr_status fr_model_state_part_kind(const fr_model *model, int layer, int part,
                                       fr_part_kind *kind, int *input)
    size_t fr_model_weight_bytes(const fr_model *model)
    size_t fr_model_state_size(const fr_model *model, int batch)
    size_t fr_model_workspace_size(const fr_model *model, int batch, int steps)
    fr_status fr_model_get_state(const fr_model *model, const float *state, int batch,
                                 int layer, int part, float *dst)
    fr_status fr_model_set_state(const fr_model *model, float *state, int batch, int layer,
                                 int part, const float *src)
    int fr_model_output_frames(const fr_model *model, int output, int steps, unsigned flags)
    fr_status fr_model_run(const fr_model *model, int batch, int steps, const float *const *x,
                           const int *counts, const uint8_t *mask, float *const *y,
                           const int *frames, int *y_counts, float *state, float *workspace,
                           unsigned flags, int num_threads)

    ctypedef struct fr_stream:
        pass
    fr_status fr_stream_create(fr_stream **stream, const fr_model *model, int batch,
                               int check_finite)
    void fr_stream_destroy(fr_stream *stream)
    int fr_all_finite(const float *x, size_t n)
    fr_status fr_stream_run(fr_stream *stream, int steps, const float *const *x,
                            float *const *y, const int *frames, int *y_counts,
                            const unsigned char *active, unsigned flags, int num_threads)
    fr_status fr_stream_reset(fr_stream *stream, const int *rows, int count)
    fr_status fr_stream_get_state(const fr_stream *stream, int layer, int part, float *dst)
    fr_status fr_stream_set_state(fr_stream *stream, int layer, int part, const float *src)

    const char *fr_build_compiler()
    const char *fr_build_flags()
    int fr_build_openmp()


cdef extern from "fastrnn_train.h" nogil:
    ctypedef struct fr_train_kernels:
        pass
    fr_status fr_train_kernels_for(const fr_train_kernels **kernels, fr_isa isa)
    fr_status fr_lstm_train_forward(const fr_train_kernels *kernels, int batch, int hidden,
                                    float *gates, const float *c_prev, const float *h_prev,
                                    float *c, float *tanh_c, float *h, float *out,
                                    const uint8_t *mask)
    fr_status fr_lstm_train_backward(const fr_train_kernels *kernels, int batch, int hidden,
                                     const float *gates, const float *c_prev,
                                     const float *tanh_c, const float *dh, const float *d_out,
                                     float *dc, float *da, const uint8_t *mask)
    fr_status fr_gru_train_forward(const fr_train_kernels *kernels, int batch, int hidden,
                                   float *gates, const float *hidden_proj, const float *h_prev,
                                   float *h, float *out, const uint8_t *mask)
    fr_status fr_gru_train_backward(const fr_train_kernels *kernels, int batch, int hidden,
                                    const float *gates, const float *hidden_proj,
                                    const float *h_prev, const float *dh, const float *d_out,
                                    float *da, float *d_hidden, float *dh_direct,
                                    const uint8_t *mask)
