/*
 * model.c - building a model: tensors and layers, weights packed once when a
 * layer is added, each tensor's timing, and the layout of the state (see
 * fastrnn.h and model.h). graph.c runs what this builds.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastrnn.h"
#include "kernels.h"
#include "model.h"

#define FR_MAX_SIZE (1 << 20)        /* largest feature, hidden, kernel or output size */

const char *fr_status_string(fr_status status)
{
    switch (status) {
    case FR_OK: return "ok";
    case FR_ERR_ARG: return "invalid argument (size out of range or NULL pointer)";
    case FR_ERR_SHAPE: return "the tensors the layer reads do not fit it";
    case FR_ERR_ISA: return "instruction set not available";
    case FR_ERR_NOMEM: return "out of memory";
    case FR_ERR_LAYOUT: return "the layer cannot read that tensor (a recurrent or time layer "
                               "after the sequence's end, tensors of different rates, or a "
                               "tensor that is not there)";
    case FR_ERR_NONFINITE: return "input holds NaN or infinity";
    case FR_ERR_RANGE: return "a weight is beyond the range of the model's precision";
    case FR_ERR_SEQUENCE: return "the model reads whole sequences (a bidirectional or "
                                 "go_backwards layer, padding that depends on the length, or "
                                 "a merge of tensors a stream gives at different rates) and "
                                 "cannot stream";
    default: return "unknown status";
    }
}

/* Aligned allocation; the pointer malloc returned is kept just below the block. */
float *fr_alloc_floats(size_t count)
{
    unsigned char *raw = malloc(count * sizeof(float) + FR_ALIGN + sizeof(void *));
    if (raw == NULL) return NULL;
    uintptr_t start = ((uintptr_t)(raw + sizeof(void *)) + FR_ALIGN - 1)
                      & ~(uintptr_t)(FR_ALIGN - 1);
    ((void **)start)[-1] = raw;
    return (float *)start;
}

void fr_free_floats(float *block)
{
    if (block != NULL) free(((void **)block)[-1]);
}

float *fr_align_floats(float *p)
{
    return (float *)(((uintptr_t)p + FR_ALIGN - 1) & ~(uintptr_t)(FR_ALIGN - 1));
}

static int round_up(int n, int multiple) { return (n + multiple - 1) / multiple * multiple; }

/* A copy of `count` floats (NULL stays NULL), padded with zeros to `padded`. */
static fr_status copy_vector(float **dst, const float *src, int count, int padded, float fill)
{
    *dst = NULL;
    if (src == NULL) return FR_OK;
    *dst = fr_alloc_floats((size_t)padded);
    if (*dst == NULL) return FR_ERR_NOMEM;
    for (int i = 0; i < padded; i++) (*dst)[i] = i < count ? src[i] : fill;
    return FR_OK;
}

fr_status fr_model_create(fr_model **model, fr_isa isa, fr_precision precision)
{
    if (model == NULL) return FR_ERR_ARG;
    *model = NULL;
    const fr_kernels *kernels = fr_kernels_for(isa, precision);
    if (kernels == NULL) return FR_ERR_ISA;
    fr_model *created = calloc(1, sizeof *created);
    if (created == NULL) return FR_ERR_NOMEM;
    created->precision = precision;
    created->kernels = kernels;
    *model = created;
    return FR_OK;
}

static void free_layer(fr_layer *layer)
{
    fr_free_floats(layer->w_in);
    fr_free_floats(layer->b_in);
    fr_free_floats(layer->w_unit);
    for (int d = 0; d < 2; d++) {
        fr_free_floats(layer->w_rec[d]);
        fr_free_floats(layer->b_rec[d]);
        fr_free_floats(layer->vectors[d]);
    }
    fr_free_floats(layer->taps);
    fr_free_floats(layer->group_w);
    fr_free_floats(layer->group_b);
}

void fr_model_destroy(fr_model *model)
{
    if (model == NULL) return;
    for (int l = 0; l < model->num_layers; l++)
        free_layer(&model->layers[l]);
    free(model->layers);
    free(model->tensors);
    free(model->outputs);
    free(model);
}

/* --- tensors ------------------------------------------------------------------ */

static fr_status new_tensor(fr_model *model, int features, int padded, int rate, int delay,
                            int producer, int *tensor)
{
    if (model->num_tensors == model->tensor_capacity) {
        int capacity = model->tensor_capacity ? 2 * model->tensor_capacity : 8;
        fr_tensor *tensors = realloc(model->tensors, capacity * sizeof *tensors);
        if (tensors == NULL) return FR_ERR_NOMEM;
        model->tensors = tensors;
        model->tensor_capacity = capacity;
    }
    fr_tensor t = {features, padded, rate, delay, rate, delay, 1, producer, -1, 0};
    model->tensors[model->num_tensors] = t;
    *tensor = model->num_tensors++;
    return FR_OK;
}

fr_status fr_model_add_input(fr_model *model, int features, int *tensor)
{
    if (model == NULL || tensor == NULL || features < 1 || features > FR_MAX_SIZE)
        return FR_ERR_ARG;
    if (model->num_layers > 0) return FR_ERR_LAYOUT;
    fr_status status = new_tensor(model, features, features, 1, 0, -1, tensor);
    if (status == FR_OK) model->num_inputs++;
    return status;
}

static int valid_tensor(const fr_model *model, int tensor)
{
    return tensor >= 0 && tensor < model->num_tensors;
}

int fr_model_num_inputs(const fr_model *model) { return model ? model->num_inputs : 0; }
int fr_model_num_outputs(const fr_model *model) { return model ? model->num_outputs : 0; }
int fr_model_num_tensors(const fr_model *model) { return model ? model->num_tensors : 0; }

int fr_model_output_tensor(const fr_model *model, int index)
{
    if (model == NULL || index < 0 || index >= model->num_outputs) return -1;
    return model->outputs[index];
}

int fr_model_tensor_features(const fr_model *model, int tensor)
{
    return model != NULL && valid_tensor(model, tensor) ? model->tensors[tensor].features : 0;
}

fr_status fr_model_tensor_timing(const fr_model *model, int tensor, int *rate, int *delay)
{
    if (model == NULL || rate == NULL || delay == NULL || !valid_tensor(model, tensor))
        return FR_ERR_ARG;
    *rate = model->tensors[tensor].rate;
    *delay = model->tensors[tensor].delay;
    return FR_OK;
}

fr_status fr_model_stream_timing(const fr_model *model, int tensor, int *rate, int *delay,
                                 int *in_step)
{
    if (model == NULL || rate == NULL || delay == NULL || in_step == NULL
        || !valid_tensor(model, tensor))
        return FR_ERR_ARG;
    *rate = model->tensors[tensor].stream_rate;
    *delay = model->tensors[tensor].stream_delay;
    *in_step = model->tensors[tensor].in_step;
    return FR_OK;
}

/* --- layers ------------------------------------------------------------------- */

int fr_layer_padded(const fr_model *model, const fr_layer *layer)
{
    return layer->panels * model->kernels->vlen;
}

/* Checks common to every layer: the tensors it reads exist and, unless
 * `frames_only`, go on in time (no layer but frame ones after a sequence's
 * end). On success returns a zeroed slot at the end of the layer list. */
static fr_status new_layer(fr_model *model, layer_kind kind, int count, const int *inputs,
                           int frames_only, fr_layer **slot)
{
    if (model == NULL || inputs == NULL || count < 1 || count > FR_MAX_INPUTS)
        return FR_ERR_ARG;
    for (int i = 0; i < count; i++) {
        if (!valid_tensor(model, inputs[i])) return FR_ERR_LAYOUT;
        if (!frames_only && model->tensors[inputs[i]].rate == 0) return FR_ERR_LAYOUT;
        if (model->tensors[inputs[i]].rate != model->tensors[inputs[0]].rate)
            return FR_ERR_LAYOUT;
    }
    if (model->num_layers == model->layer_capacity) {
        int capacity = model->layer_capacity ? 2 * model->layer_capacity : 8;
        fr_layer *layers = realloc(model->layers, capacity * sizeof *layers);
        if (layers == NULL) return FR_ERR_NOMEM;
        model->layers = layers;
        model->layer_capacity = capacity;
    }
    fr_layer *layer = &model->layers[model->num_layers];
    memset(layer, 0, sizeof *layer);
    layer->kind = kind;
    layer->num_inputs = count;
    memcpy(layer->inputs, inputs, count * sizeof(int));
    layer->input_size = model->tensors[inputs[0]].features;
    layer->return_sequences = 1;
    layer->directions = 1;
    layer->gates = 1;
    *slot = layer;
    return FR_OK;
}

/* Add a state part of `frames` x `width` floats per sequence, `features` of
 * them visible (get/set state). */
static void add_part(fr_layer *layer, part_kind kind, int frames, int width, int features)
{
    layer->part_kinds[layer->num_parts] = kind;
    layer->part_frames[layer->num_parts] = frames;
    layer->part_width[layer->num_parts] = width;
    layer->part_features[layer->num_parts] = features;
    layer->part_inputs[layer->num_parts] = -1;
    layer->num_parts++;
}

/* The frames a stream gives of a layer's output (fr_model_stream_timing),
 * from its timing and its inputs'. A tensor of one frame per sequence
 * follows its (latest) input's frames. In step: every input is, and a
 * window neither strides, looks ahead, nor pads the left beyond its span
 * (a causal window: pad_left = span - 1). */
static void set_stream_timing(const fr_model *model, const fr_layer *layer, fr_tensor *out)
{
    const fr_tensor *in = &model->tensors[layer->inputs[0]];
    out->stream_rate = out->rate;
    out->stream_delay = out->delay;
    if (out->rate == 0) {
        out->stream_rate = in->stream_rate;
        for (int i = 0; i < layer->num_inputs; i++) {
            const int delay = model->tensors[layer->inputs[i]].stream_delay;
            if (i == 0 || delay > out->stream_delay) out->stream_delay = delay;
        }
    }
    out->in_step = 1;
    for (int i = 0; i < layer->num_inputs; i++)
        out->in_step &= model->tensors[layer->inputs[i]].in_step;
    if (layer->kind == LAYER_CONV || layer->kind == LAYER_POOL) {
        const fr_window *w = &layer->window;
        out->in_step &= w->stride == 1 && !w->same_length && w->pad_left == w->span - 1
                        && w->pad_right == 0;
    }
}

/*
 * Commit the slot new_layer filled: its output tensor of `features` (rows of
 * `padded` floats) with the given timing, and every tensor it reads marked
 * as read by it; or free what the slot allocated.
 */
static fr_status finish_layer(fr_model *model, fr_layer *layer, fr_status status, int features,
                              int padded, int rate, int delay, int *output)
{
    if (status == FR_OK && output == NULL) status = FR_ERR_ARG;
    if (status == FR_OK)
        status = new_tensor(model, features, padded, rate, delay, model->num_layers,
                            &layer->output);
    if (status != FR_OK) {
        free_layer(layer);
        return status;
    }
    for (int i = 0; i < layer->num_inputs; i++)
        model->tensors[layer->inputs[i]].last_reader = model->num_layers;
    set_stream_timing(model, layer, &model->tensors[layer->output]);
    *output = layer->output;
    model->num_layers++;
    return FR_OK;
}

/* The timing of a layer's input (its first input). */
static const fr_tensor *input_of(const fr_model *model, const fr_layer *layer)
{
    return &model->tensors[layer->inputs[0]];
}

size_t fr_panels_bytes(const fr_model *model, int panels, int K, int gates)
{
    return (size_t)panels * fr_panel_bytes(model->kernels, K, gates);
}

/* Room for `panels` packed panels of K inputs and `gates` gates. */
static void *alloc_panels(const fr_model *model, int panels, int K, int gates)
{
    size_t bytes = fr_panels_bytes(model, panels, K, gates);
    return fr_alloc_floats((bytes + sizeof(float) - 1) / sizeof(float));
}

/* rows (G * units, K) -> q = rint(w / s) per row, s = max |w| / 127 (0 for a
 * row of zeros) in scales (G * units); FR_ERR_RANGE if a weight is not finite. */
static fr_status quantize_rows(float *rows, float *scales, const float *src, size_t count,
                               int K)
{
    for (size_t r = 0; r < count; r++) {
        const float *w = src + r * K;
        float most = 0.0f;
        for (int k = 0; k < K; k++) {
            if (!isfinite(w[k])) return FR_ERR_RANGE;
            most = fabsf(w[k]) > most ? fabsf(w[k]) : most;
        }
        scales[r] = most / 127.0f;
        for (int k = 0; k < K; k++) {
            float q = scales[r] > 0.0f ? nearbyintf(w[k] / scales[r]) : 0.0f;
            rows[r * K + k] = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q;
        }
    }
    return FR_OK;
}

/*
 * Pack src (gates * units, K) into panels (kernels.h) in the model's
 * precision, `offset` bytes into dst.
 */
static fr_status store_panels(const fr_model *model, void *dst, size_t offset,
                              const float *src, int gates, int units, int K)
{
    const fr_kernels *kernels = model->kernels;
    const int vlen = kernels->vlen, C = kernels->kgroup;
    const int panels = (units + vlen - 1) / vlen;
    const size_t weights = (size_t)(K + C - 1) / C * C * gates * vlen;   /* per panel */
    unsigned char *out = (unsigned char *)dst + offset;
    if (kernels->precision == FR_PRECISION_FLOAT32 && C == 1) {
        fr_pack_panels((float *)out, src, gates, units, K, vlen, 1);
        return FR_OK;
    }
    const int int8 = kernels->precision == FR_PRECISION_INT8;
    const size_t rows = (size_t)gates * units;
    float *packed = malloc(panels * weights * sizeof(float));
    float *quantized = int8 ? malloc(rows * K * sizeof(float)) : NULL;
    float *scales = int8 ? malloc(rows * sizeof(float)) : NULL;
    fr_status status = packed == NULL || (int8 && (quantized == NULL || scales == NULL))
                       ? FR_ERR_NOMEM : FR_OK;
    if (status == FR_OK && int8) status = quantize_rows(quantized, scales, src, rows, K);
    if (status == FR_OK)
        fr_pack_panels(packed, int8 ? quantized : src, gates, units, K, vlen, C);
    for (int p = 0; status == FR_OK && p < panels; p++) {
        const float *from = packed + p * weights;
        unsigned char *panel = out + p * fr_panel_bytes(kernels, K, gates);
        for (size_t i = 0; i < weights; i++) {
            if (kernels->precision == FR_PRECISION_FLOAT32) {
                memcpy(panel + 4 * i, &from[i], sizeof(float));
            } else if (int8) {
                panel[i] = (unsigned char)((int)from[i] + (C == 4 ? 128 : 0));
            } else {
                uint16_t half = kernels->precision == FR_PRECISION_FLOAT16
                                ? fr_float_to_half(from[i]) : fr_float_to_bfloat16(from[i]);
                if (fabsf(from[i]) > (kernels->precision == FR_PRECISION_FLOAT16
                                      ? FR_FLOAT16_MAX : FR_BFLOAT16_MAX))
                    status = FR_ERR_RANGE;
                memcpy(panel + 2 * i, &half, sizeof half);
            }
        }
        for (int g = 0; int8 && g < gates; g++)     /* the scales (G, V) after the weights */
            for (int u = 0; u < vlen; u++) {
                const int unit = p * vlen + u;
                float scale = unit < units ? scales[(size_t)g * units + unit] : 0.0f;
                memcpy(panel + weights + ((size_t)g * vlen + u) * sizeof(float), &scale,
                       sizeof scale);
            }
    }
    free(packed);
    free(quantized);
    free(scales);
    return status;
}

/* Gates whose b_hh folds into the input projection's bias (the rest, GRU's
 * n gate with reset_after, is applied inside the recurrence). */
static int folded_gates(const fr_layer *layer)
{
    return layer->kind == LAYER_GRU && layer->reset_after ? 2 : layer->gates;
}

/*
 * Input projection of direction `direction` (panels [direction * P, ...)
 * of w_in and b_in): b_in = b_ih + b_hh over the folded gates, b_ih alone
 * over the others.
 */
static fr_status pack_projection(const fr_model *model, fr_layer *layer, int direction,
                                 const float *w_ih, const float *b_ih, const float *b_hh)
{
    int gates = layer->gates, units = layer->units, folded = folded_gates(layer);
    size_t padded = (size_t)fr_layer_padded(model, layer);
    float *bias = malloc((size_t)gates * units * sizeof(float));
    if (bias == NULL) return FR_ERR_NOMEM;
    for (int i = 0; i < gates * units; i++) {
        float from_hh = layer->kind != LAYER_DENSE && b_hh != NULL && i < folded * units
                        ? b_hh[i] : 0.0f;
        bias[i] = (b_ih != NULL ? b_ih[i] : 0.0f) + from_hh;
    }
    fr_pack_bias(layer->b_in + direction * padded * gates, bias, gates, units,
                 model->kernels->vlen);
    free(bias);
    return store_panels(model, layer->w_in,
                        direction * fr_panels_bytes(model, layer->panels, layer->input_size,
                                                    gates),
                        w_ih, gates, units, layer->input_size);
}

/* Recurrent weights of direction `direction`: w_rec panels (GRU with
 * reset_after = 0: the r, z panels, then the n panels) and b_hn. */
static fr_status pack_recurrent(const fr_model *model, fr_layer *layer, int direction,
                                const float *w_hh, const float *b_hh)
{
    const int H = layer->units, gates = layer->gates, vlen = model->kernels->vlen;
    size_t padded = (size_t)fr_layer_padded(model, layer);
    layer->w_rec[direction] = alloc_panels(model, layer->panels, H, gates);
    layer->b_rec[direction] = fr_alloc_floats(padded);
    void *w = layer->w_rec[direction];
    if (w == NULL || layer->b_rec[direction] == NULL) return FR_ERR_NOMEM;
    const int reset_after = layer->kind == LAYER_GRU && layer->reset_after;
    fr_pack_bias(layer->b_rec[direction], reset_after && b_hh ? b_hh + 2 * H : NULL, 1, H, vlen);
    if (layer->kind != LAYER_GRU || reset_after)
        return store_panels(model, w, 0, w_hh, gates, H, H);
    fr_status status = store_panels(model, w, 0, w_hh, 2, H, H);
    return status != FR_OK ? status
                           : store_panels(model, w, fr_panels_bytes(model, layer->panels, H, 2),
                                          w_hh + (size_t)2 * H * H, 1, H, H);
}

/* A layer's input projection and, if recurrent, its recurrent weights. */
static fr_status pack_layer(fr_model *model, fr_layer *layer, const float *w_ih,
                            const float *w_hh, const float *b_ih, const float *b_hh)
{
    size_t padded = (size_t)fr_layer_padded(model, layer);
    layer->w_in = alloc_panels(model, layer->panels, layer->input_size, layer->gates);
    layer->b_in = fr_alloc_floats(padded * layer->gates);
    if (layer->w_in == NULL || layer->b_in == NULL) return FR_ERR_NOMEM;
    fr_status status = pack_projection(model, layer, 0, w_ih, b_ih, b_hh);
    if (status == FR_OK && layer->kind != LAYER_DENSE)
        status = pack_recurrent(model, layer, 0, w_hh, b_hh);
    return status;
}

static fr_status add_recurrent(fr_model *model, layer_kind kind, int gates, int input,
                               int hidden_size, const float *w_ih, const float *w_hh,
                               const float *b_ih, const float *b_hh, int reset_after,
                               fr_activation activation, unsigned flags, int *output)
{
    if (flags & ~(FR_RETURN_SEQUENCES | FR_GO_BACKWARDS)) return FR_ERR_ARG;
    if (w_ih == NULL || w_hh == NULL || hidden_size < 1 || hidden_size > FR_MAX_SIZE)
        return FR_ERR_ARG;
    fr_layer *layer;
    fr_status status = new_layer(model, kind, 1, &input, 0, &layer);
    if (status != FR_OK) return status;
    layer->units = hidden_size;
    layer->panels = (hidden_size + model->kernels->vlen - 1) / model->kernels->vlen;
    layer->gates = gates;
    layer->reset_after = reset_after != 0;
    layer->activation = activation;
    layer->return_sequences = (flags & FR_RETURN_SEQUENCES) != 0;
    layer->go_backwards = (flags & FR_GO_BACKWARDS) != 0;
    const int padded = fr_layer_padded(model, layer);
    add_part(layer, PART_VALUES, 1, padded, hidden_size);                         /* h */
    if (kind == LAYER_LSTM) add_part(layer, PART_VALUES, 1, padded, hidden_size); /* c */
    const fr_tensor *in = input_of(model, layer);
    const int ends = !layer->return_sequences;
    status = pack_layer(model, layer, w_ih, w_hh, b_ih, b_hh);
    return finish_layer(model, layer, status, hidden_size, padded, ends ? 0 : in->rate,
                        ends ? 0 : in->delay, output);
}

fr_status fr_model_add_lstm(fr_model *model, int input, int hidden_size, const float *w_ih,
                            const float *w_hh, const float *b_ih, const float *b_hh,
                            unsigned flags, int *output)
{
    return add_recurrent(model, LAYER_LSTM, 4, input, hidden_size, w_ih, w_hh, b_ih, b_hh, 0,
                         FR_ACT_LINEAR, flags, output);
}

fr_status fr_model_add_gru(fr_model *model, int input, int hidden_size, const float *w_ih,
                           const float *w_hh, const float *b_ih, const float *b_hh,
                           int reset_after, unsigned flags, int *output)
{
    return add_recurrent(model, LAYER_GRU, 3, input, hidden_size, w_ih, w_hh, b_ih, b_hh,
                         reset_after, FR_ACT_LINEAR, flags, output);
}

fr_status fr_model_add_rnn(fr_model *model, int input, int hidden_size, const float *w_ih,
                           const float *w_hh, const float *b_ih, const float *b_hh,
                           fr_activation activation, unsigned flags, int *output)
{
    if (activation != FR_ACT_TANH && activation != FR_ACT_RELU) return FR_ERR_ARG;
    return add_recurrent(model, LAYER_RNN, 1, input, hidden_size, w_ih, w_hh, b_ih, b_hh, 0,
                         activation, flags, output);
}

static int is_recurrent(const fr_layer *layer)
{
    return layer->kind == LAYER_LSTM || layer->kind == LAYER_GRU || layer->kind == LAYER_RNN;
}

fr_status fr_model_make_bidirectional(fr_model *model, int tensor, const float *w_ih,
                                      const float *w_hh, const float *b_ih, const float *b_hh,
                                      fr_merge merge)
{
    if (model == NULL || !valid_tensor(model, tensor) || w_ih == NULL || w_hh == NULL
        || merge < FR_MERGE_CONCAT || merge > FR_MERGE_AVE)
        return FR_ERR_ARG;
    fr_tensor *out = &model->tensors[tensor];
    if (out->producer < 0 || out->last_reader >= 0 || out->is_output) return FR_ERR_LAYOUT;
    fr_layer *layer = &model->layers[out->producer];
    if (!is_recurrent(layer) || layer->directions != 1 || layer->go_backwards)
        return FR_ERR_ARG;
    /* Both directions' input projections side by side, for one gemm. */
    size_t padded = (size_t)fr_layer_padded(model, layer);
    size_t w_bytes = fr_panels_bytes(model, layer->panels, layer->input_size, layer->gates);
    size_t b_count = padded * layer->gates;
    void *w_in = alloc_panels(model, 2 * layer->panels, layer->input_size, layer->gates);
    float *b_in = fr_alloc_floats(2 * b_count);
    if (w_in == NULL || b_in == NULL) {
        fr_free_floats(w_in);
        fr_free_floats(b_in);
        return FR_ERR_NOMEM;
    }
    memcpy(w_in, layer->w_in, w_bytes);
    memcpy(b_in, layer->b_in, b_count * sizeof(float));
    fr_layer bidirectional = *layer;
    bidirectional.w_in = w_in;
    bidirectional.b_in = b_in;
    bidirectional.w_rec[1] = bidirectional.b_rec[1] = NULL;
    fr_status status = pack_projection(model, &bidirectional, 1, w_ih, b_ih, b_hh);
    if (status == FR_OK) status = pack_recurrent(model, &bidirectional, 1, w_hh, b_hh);
    if (status != FR_OK) {
        fr_free_floats(w_in);
        fr_free_floats(b_in);
        fr_free_floats(bidirectional.w_rec[1]);
        fr_free_floats(bidirectional.b_rec[1]);
        return status;
    }
    fr_free_floats(layer->w_in);
    fr_free_floats(layer->b_in);
    bidirectional.directions = 2;
    bidirectional.merge = merge;
    for (int part = 0, parts = layer->num_parts; part < parts; part++)   /* backward's state */
        add_part(&bidirectional, PART_VALUES, layer->part_frames[part],
                 layer->part_width[part], layer->part_features[part]);
    *layer = bidirectional;
    if (merge == FR_MERGE_CONCAT) {
        out->features = 2 * layer->units;
        out->padded = round_up(out->features, model->kernels->vlen);
    }
    return FR_OK;
}

fr_status fr_model_add_dense(fr_model *model, int input, int output_size, const float *w,
                             const float *b, fr_activation activation, int *output)
{
    if (w == NULL || output_size < 1 || output_size > FR_MAX_SIZE
        || activation < FR_ACT_LINEAR || activation > FR_ACT_SOFTMAX)
        return FR_ERR_ARG;
    fr_layer *layer;
    fr_status status = new_layer(model, LAYER_DENSE, 1, &input, 1, &layer);
    if (status != FR_OK) return status;
    layer->units = output_size;
    layer->panels = (output_size + model->kernels->vlen - 1) / model->kernels->vlen;
    layer->activation = activation;
    const fr_tensor *in = input_of(model, layer);
    int rate = in->rate, delay = in->delay;
    status = pack_layer(model, layer, w, NULL, b, NULL);
    if (status == FR_OK && output_size == 1) {
        layer->w_unit = fr_alloc_floats(layer->input_size);
        if (layer->w_unit == NULL) status = FR_ERR_NOMEM;
        else memcpy(layer->w_unit, w, layer->input_size * sizeof(float));
    }
    return finish_layer(model, layer, status, output_size, fr_layer_padded(model, layer), rate,
                        delay, output);
}

/* --- convolution and pooling ------------------------------------------------------ */

static fr_status make_window(fr_window *window, int kernel, int stride, int dilation,
                             int pad_left, int pad_right)
{
    if (kernel < 1 || kernel > FR_MAX_SIZE || stride < 1 || stride > FR_MAX_SIZE
        || dilation < 1 || dilation > FR_MAX_SIZE || pad_right < 0 || pad_right > FR_MAX_SIZE
        || pad_left > FR_MAX_SIZE || (pad_left < 0 && pad_left != FR_PAD_SAME_LENGTH))
        return FR_ERR_ARG;
    if ((long long)(kernel - 1) * dilation + 1 > FR_MAX_SIZE) return FR_ERR_ARG;
    memset(window, 0, sizeof *window);
    window->kernel = kernel;
    window->stride = stride;
    window->dilation = dilation;
    window->span = (kernel - 1) * dilation + 1;
    window->same_length = pad_left == FR_PAD_SAME_LENGTH;
    window->pad_left = window->same_length ? 0 : pad_left;
    window->pad_right = window->same_length ? 0 : pad_right;
    if (window->same_length) {
        int left, right, fixed = 1;
        fr_same_length_padding(window, 0, &window->pad_left, &right);
        for (int phase = 1; phase < stride; phase++) {
            fr_same_length_padding(window, phase, &left, &right);
            fixed &= left == window->pad_left;
        }
        window->fixed_left = fixed;
    }
    return FR_OK;
}

int fr_window_pad_right(const fr_window *window)
{
    return window->same_length ? window->span - 1 : window->pad_right;
}

/* TensorFlow's "same": total = max((ceil(T / s) - 1) s + span - T, 0), which
 * depends only on T modulo s: max(span - s, 0) if it is 0, else max(span -
 * phase, 0); the left gets total / 2. */
void fr_same_length_padding(const fr_window *window, int phase, int *left, int *right)
{
    int total = (phase == 0 ? window->span - window->stride : window->span - phase);
    if (total < 0) total = 0;
    *left = total / 2;
    *right = total - total / 2;
}

/* The window's state (the frames it still needs, its position) and the
 * timing of its output: frame j needs input j * stride - pad_left + span - 1. */
static fr_status finish_window(fr_model *model, fr_layer *layer, fr_status status,
                               int features, int padded, int *output)
{
    const fr_window *w = &layer->window;
    const fr_tensor *in = input_of(model, layer);
    add_part(layer, PART_VALUES, w->span - 1, in->features, in->features);
    add_part(layer, PART_WINDOW_POSITION, 1, WINDOW_COUNTERS, WINDOW_COUNTERS);
    int rate = in->rate * w->stride;
    int delay = in->delay + in->rate * (w->span - 1 - w->pad_left);
    return finish_layer(model, layer, status, features, padded, rate, delay, output);
}

/* Torch's (C_out, C_in / groups, K) weights of output channels [first, first +
 * count) as the rows the gemm packs: row o, column k * group_in + i. */
static float *conv_rows(const float *w, int first, int count, int group_in, int kernel)
{
    float *rows = malloc((size_t)count * kernel * group_in * sizeof(float));
    if (rows == NULL) return NULL;
    for (int o = 0; o < count; o++)
        for (int k = 0; k < kernel; k++)
            for (int i = 0; i < group_in; i++)
                rows[((size_t)o * kernel + k) * group_in + i] =
                    w[((size_t)(first + o) * group_in + i) * kernel + k];
    return rows;
}

static fr_status pack_conv(fr_model *model, fr_layer *layer, int in_channels, const float *w,
                           const float *b)
{
    const int vlen = model->kernels->vlen, out_channels = layer->units;
    const int kernel = layer->window.kernel, groups = layer->groups;
    const int group_in = in_channels / groups, group_out = out_channels / groups;
    if (groups == in_channels && groups > 1) {              /* depthwise: taps (K, padded) */
        int padded = fr_layer_padded(model, layer);
        layer->taps = fr_alloc_floats((size_t)kernel * padded);
        fr_status status = copy_vector(&layer->b_in, b, out_channels, padded, 0.0f);
        if (status == FR_OK && b == NULL) {
            layer->b_in = fr_alloc_floats(padded);
            if (layer->b_in != NULL) memset(layer->b_in, 0, padded * sizeof(float));
        }
        if (layer->taps == NULL || layer->b_in == NULL) return FR_ERR_NOMEM;
        for (int k = 0; k < kernel; k++)
            for (int o = 0; o < padded; o++)
                layer->taps[(size_t)k * padded + o] = o < out_channels ? w[(size_t)o * kernel + k]
                                                                     : 0.0f;
        return FR_OK;
    }
    /* groups x (panels over kernel x group_in inputs); groups == 1 is w_in/b_in. */
    layer->group_panels = (group_out + vlen - 1) / vlen;
    size_t group_bytes = fr_panels_bytes(model, layer->group_panels, kernel * group_in, 1);
    void *packed = alloc_panels(model, groups * layer->group_panels, kernel * group_in, 1);
    float *bias = fr_alloc_floats((size_t)layer->group_panels * vlen * groups);
    if (packed == NULL || bias == NULL) {
        fr_free_floats(packed);
        fr_free_floats(bias);
        return FR_ERR_NOMEM;
    }
    if (groups == 1) {
        layer->w_in = packed;
        layer->b_in = bias;
    } else {
        layer->group_w = packed;
        layer->group_b = bias;
    }
    for (int g = 0; g < groups; g++) {
        float *rows = conv_rows(w, g * group_out, group_out, group_in, kernel);
        if (rows == NULL) return FR_ERR_NOMEM;
        fr_status status = store_panels(model, packed, g * group_bytes, rows, 1, group_out,
                                        kernel * group_in);
        free(rows);
        if (status != FR_OK) return status;
        fr_pack_bias(bias + (size_t)g * layer->group_panels * vlen,
                     b != NULL ? b + (size_t)g * group_out : NULL, 1, group_out, vlen);
    }
    return FR_OK;
}

fr_status fr_model_add_conv(fr_model *model, int input, int out_channels, int kernel,
                            int stride, int dilation, int groups, int pad_left, int pad_right,
                            const float *w, const float *b, int *output)
{
    if (w == NULL || out_channels < 1 || out_channels > FR_MAX_SIZE || groups < 1)
        return FR_ERR_ARG;
    fr_layer *layer;
    fr_status status = new_layer(model, LAYER_CONV, 1, &input, 0, &layer);
    if (status != FR_OK) return status;
    const int in_channels = layer->input_size;
    if (in_channels % groups || out_channels % groups) return FR_ERR_SHAPE;
    status = make_window(&layer->window, kernel, stride, dilation, pad_left, pad_right);
    if (status != FR_OK) return status;
    if ((long long)kernel * in_channels > FR_MAX_SIZE) return FR_ERR_ARG;
    layer->units = out_channels;
    layer->groups = groups;
    layer->panels = (out_channels + model->kernels->vlen - 1) / model->kernels->vlen;
    layer->input_size = kernel * (in_channels / groups);     /* the gemm's inner size */
    status = pack_conv(model, layer, in_channels, w, b);
    return finish_window(model, layer, status, out_channels, fr_layer_padded(model, layer),
                         output);
}

fr_status fr_model_add_pool(fr_model *model, int input, fr_pool pool, int kernel, int stride,
                            int pad_left, int pad_right, unsigned flags, int *output)
{
    if ((pool != FR_POOL_MAX && pool != FR_POOL_AVG)
        || (flags & ~(FR_POOL_COUNT_PADDING | FR_POOL_REPLICATE_EDGES | FR_POOL_REPLICATE_UNEVEN))
        || ((flags & FR_POOL_REPLICATE_UNEVEN)
            && ((flags & FR_POOL_REPLICATE_EDGES) || pad_left != FR_PAD_SAME_LENGTH)))
        return FR_ERR_ARG;
    fr_layer *layer;
    fr_status status = new_layer(model, LAYER_POOL, 1, &input, 0, &layer);
    if (status != FR_OK) return status;
    status = make_window(&layer->window, kernel, stride, 1, pad_left, pad_right);
    if (status != FR_OK) return status;
    if ((long long)kernel * layer->input_size > FR_MAX_SIZE) return FR_ERR_ARG;
    layer->pool = pool;
    layer->window.pad_value = pool == FR_POOL_MAX ? -__builtin_inff() : 0.0f;
    layer->window.replicate = (flags & FR_POOL_REPLICATE_EDGES) != 0;
    layer->window.replicate_uneven = (flags & FR_POOL_REPLICATE_UNEVEN) != 0;
    if (layer->window.replicate_uneven && layer->window.pad_left > 0) {
        /* the left edge's windows wait for no length only if its mode is fixed too */
        int left, right, parity;
        fr_same_length_padding(&layer->window, 0, &left, &right);
        parity = (left + right) % 2;
        for (int phase = 1; phase < stride; phase++) {
            fr_same_length_padding(&layer->window, phase, &left, &right);
            if ((left + right) % 2 != parity) layer->window.fixed_left = 0;
        }
    }
    layer->window.count_padding = (flags & FR_POOL_COUNT_PADDING) != 0;
    layer->units = layer->input_size;
    const int features = layer->input_size;
    return finish_window(model, layer, FR_OK, features,
                         round_up(features, model->kernels->vlen), output);
}

/* --- layers of one frame, and the global pool --------------------------------------- */

/* A layer whose output has its (first) input's timing. */
static fr_status finish_frames(fr_model *model, fr_layer *layer, fr_status status, int features,
                               int *output)
{
    const fr_tensor *in = input_of(model, layer);
    int rate = in->rate, delay = in->delay;
    for (int i = 1; i < layer->num_inputs; i++)
        if (model->tensors[layer->inputs[i]].delay > delay)
            delay = model->tensors[layer->inputs[i]].delay;
    layer->units = features;
    return finish_layer(model, layer, status, features,
                        round_up(features, model->kernels->vlen), rate, delay, output);
}

fr_status fr_model_add_global_pool(fr_model *model, int input, fr_reduce reduce, int *output)
{
    if (reduce != FR_REDUCE_MEAN && reduce != FR_REDUCE_MAX) return FR_ERR_ARG;
    fr_layer *layer;
    fr_status status = new_layer(model, LAYER_GLOBAL_POOL, 1, &input, 0, &layer);
    if (status != FR_OK) return status;
    layer->op = reduce;
    layer->return_sequences = 0;
    const int features = layer->input_size;
    add_part(layer, PART_VALUES, 1, features, features);   /* the running sum or max */
    add_part(layer, PART_COUNT, 1, 1, 1);                  /* frames seen */
    layer->units = features;
    return finish_layer(model, layer, FR_OK, features,
                        round_up(features, model->kernels->vlen), 0, 0, output);
}

fr_status fr_model_add_unary(fr_model *model, int input, fr_unary op, float alpha, float beta,
                             const float *params, int num_params, int *output)
{
    if (op < FR_UNARY_IDENTITY || op > FR_UNARY_POW) return FR_ERR_ARG;
    fr_layer *layer;
    fr_status status = new_layer(model, LAYER_UNARY, 1, &input, 1, &layer);
    if (status != FR_OK) return status;
    const int features = layer->input_size;
    if (op == FR_UNARY_PRELU) {
        if (params == NULL || (num_params != 1 && num_params != features)) return FR_ERR_SHAPE;
        status = copy_vector(&layer->vectors[0], params, num_params, num_params, 0.0f);
        layer->num_values = num_params;
    }
    if (op == FR_UNARY_SOFTPLUS && beta == 0.0f) return FR_ERR_ARG;
    layer->op = op;
    layer->alpha = alpha;
    layer->beta = beta;
    return finish_frames(model, layer, status, features, output);
}

fr_status fr_model_add_affine(fr_model *model, int input, const float *scale,
                              const float *shift, int *output)
{
    fr_layer *layer;
    fr_status status = new_layer(model, LAYER_AFFINE, 1, &input, 1, &layer);
    if (status != FR_OK) return status;
    const int features = layer->input_size;
    const float one = 1.0f, zero = 0.0f;
    status = copy_vector(&layer->vectors[0], scale, features, features, 0.0f);
    if (status == FR_OK && scale == NULL) {           /* no scale: ones */
        status = copy_vector(&layer->vectors[0], &one, 1, features, 1.0f);
    }
    if (status == FR_OK)
        status = copy_vector(&layer->vectors[1], shift != NULL ? shift : &zero,
                             shift != NULL ? features : 1, features, 0.0f);
    return finish_frames(model, layer, status, features, output);
}

fr_status fr_model_add_layer_norm(fr_model *model, int input, float eps, const float *gamma,
                                  const float *beta, int *output)
{
    if (!(eps >= 0.0f) || isinf(eps)) return FR_ERR_ARG;
    fr_layer *layer;
    fr_status status = new_layer(model, LAYER_LAYER_NORM, 1, &input, 1, &layer);
    if (status != FR_OK) return status;
    const int features = layer->input_size;
    const float one = 1.0f, zero = 0.0f;
    status = copy_vector(&layer->vectors[0], gamma != NULL ? gamma : &one,
                         gamma != NULL ? features : 1, features, 1.0f);
    if (status == FR_OK)
        status = copy_vector(&layer->vectors[1], beta != NULL ? beta : &zero,
                             beta != NULL ? features : 1, features, 0.0f);
    layer->eps = eps;
    return finish_frames(model, layer, status, features, output);
}

/* Frames each input of a merge may run ahead of the slowest in a stream:
 * the difference of their delays in frames of their rate (rounded up), plus
 * one. Part 2q holds the q-th queue's frames, part 2q + 1 their count. */
static void set_queues(const fr_model *model, fr_layer *layer)
{
    int latest = model->tensors[layer->inputs[0]].stream_delay;
    for (int i = 1; i < layer->num_inputs; i++)
        if (model->tensors[layer->inputs[i]].stream_delay > latest)
            latest = model->tensors[layer->inputs[i]].stream_delay;
    for (int i = 0; i < layer->num_inputs; i++) {
        const fr_tensor *in = &model->tensors[layer->inputs[i]];
        const int rate = in->stream_rate;
        int ahead = rate > 0 ? (latest - in->stream_delay + rate - 1) / rate : 0;
        layer->queue_frames[i] = ahead > 0 ? ahead + 1 : 0;
        if (layer->queue_frames[i] > 0) {
            add_part(layer, PART_VALUES, layer->queue_frames[i], in->features, in->features);
            layer->part_inputs[layer->num_parts - 1] = i;
            add_part(layer, PART_COUNT, 1, 1, 1);
            layer->part_inputs[layer->num_parts - 1] = i;
        }
    }
}

fr_status fr_model_add_binary(fr_model *model, fr_binary op, int a, int b, int *output)
{
    if (op < FR_BINARY_ADD || op > FR_BINARY_POW) return FR_ERR_ARG;
    const int inputs[2] = {a, b};
    fr_layer *layer;
    fr_status status = new_layer(model, LAYER_BINARY, 2, inputs, 1, &layer);
    if (status != FR_OK) return status;
    const int features = layer->input_size, other = model->tensors[b].features;
    if (other != features && other != 1) return FR_ERR_SHAPE;
    layer->op = op;
    set_queues(model, layer);
    return finish_frames(model, layer, FR_OK, features, output);
}

fr_status fr_model_add_binary_constant(fr_model *model, fr_binary op, int a, const float *values,
                                       int num_values, int constant_first, int *output)
{
    if (op < FR_BINARY_ADD || op > FR_BINARY_POW || values == NULL) return FR_ERR_ARG;
    fr_layer *layer;
    fr_status status = new_layer(model, LAYER_BINARY, 1, &a, 1, &layer);
    if (status != FR_OK) return status;
    const int features = layer->input_size;
    if (num_values != features && num_values != 1) return FR_ERR_SHAPE;
    layer->op = op;
    layer->num_values = num_values;
    layer->constant_first = constant_first != 0;
    status = copy_vector(&layer->vectors[0], values, num_values, num_values, 0.0f);
    return finish_frames(model, layer, status, features, output);
}

fr_status fr_model_add_concat(fr_model *model, int count, const int *inputs, int *output)
{
    fr_layer *layer;
    fr_status status = new_layer(model, LAYER_CONCAT, count, inputs, 1, &layer);
    if (status != FR_OK) return status;
    long long features = 0;
    for (int i = 0; i < count; i++)
        features += model->tensors[inputs[i]].features;
    if (features > FR_MAX_SIZE) return FR_ERR_ARG;
    set_queues(model, layer);
    return finish_frames(model, layer, FR_OK, (int)features, output);
}

fr_status fr_model_add_slice(fr_model *model, int input, int begin, int end, int *output)
{
    fr_layer *layer;
    fr_status status = new_layer(model, LAYER_SLICE, 1, &input, 1, &layer);
    if (status != FR_OK) return status;
    if (begin < 0 || end > layer->input_size || begin >= end) return FR_ERR_SHAPE;
    layer->begin = begin;
    return finish_frames(model, layer, FR_OK, end - begin, output);
}

fr_status fr_model_add_reduce(fr_model *model, int input, fr_reduce reduce, int *output)
{
    if (reduce < FR_REDUCE_SUM || reduce > FR_REDUCE_MIN) return FR_ERR_ARG;
    fr_layer *layer;
    fr_status status = new_layer(model, LAYER_REDUCE, 1, &input, 1, &layer);
    if (status != FR_OK) return status;
    layer->op = reduce;
    return finish_frames(model, layer, FR_OK, 1, output);
}

fr_status fr_model_set_outputs(fr_model *model, int count, const int *tensors)
{
    if (model == NULL || tensors == NULL || count < 1 || count > model->num_tensors)
        return FR_ERR_ARG;
    for (int i = 0; i < count; i++)
        if (!valid_tensor(model, tensors[i]) || model->tensors[tensors[i]].producer < 0)
            return FR_ERR_LAYOUT;
    int *outputs = malloc(count * sizeof(int));
    if (outputs == NULL) return FR_ERR_NOMEM;
    memcpy(outputs, tensors, count * sizeof(int));
    for (int i = 0; i < model->num_outputs; i++)
        model->tensors[model->outputs[i]].is_output = 0;
    free(model->outputs);
    model->outputs = outputs;
    model->num_outputs = count;
    for (int i = 0; i < count; i++)
        model->tensors[tensors[i]].is_output = 1;
    return FR_OK;
}

/* --- what a model is ---------------------------------------------------------- */

int fr_model_needs_sequences(const fr_model *model)
{
    for (int l = 0; model != NULL && l < model->num_layers; l++) {
        const fr_layer *layer = &model->layers[l];
        if (layer->directions == 2 || layer->go_backwards
            || ((layer->kind == LAYER_CONV || layer->kind == LAYER_POOL)
                && layer->window.same_length && !layer->window.fixed_left))
            return 1;
        for (int i = 1; i < layer->num_inputs; i++)     /* a stream could not pair them */
            if (model->tensors[layer->inputs[i]].stream_rate
                != model->tensors[layer->inputs[0]].stream_rate)
                return 1;
    }
    return 0;
}

int fr_model_num_layers(const fr_model *model) { return model ? model->num_layers : 0; }

static const fr_layer *layer_at(const fr_model *model, int layer)
{
    return model != NULL && layer >= 0 && layer < model->num_layers ? &model->layers[layer]
                                                                     : NULL;
}

int fr_model_layer_units(const fr_model *model, int layer)
{
    const fr_layer *found = layer_at(model, layer);
    return found ? found->units : 0;
}

int fr_model_layer_gates(const fr_model *model, int layer)
{
    const fr_layer *found = layer_at(model, layer);
    return found ? found->gates : 0;
}

int fr_model_layer_state_parts(const fr_model *model, int layer)
{
    const fr_layer *found = layer_at(model, layer);
    return found ? found->num_parts : 0;
}

fr_status fr_model_state_part_shape(const fr_model *model, int layer, int part, int *frames,
                                    int *features)
{
    const fr_layer *found = layer_at(model, layer);
    if (found == NULL || part < 0 || part >= found->num_parts || frames == NULL
        || features == NULL)
        return FR_ERR_ARG;
    *frames = found->part_frames[part];
    *features = found->part_features[part];
    return FR_OK;
}

fr_status fr_model_state_part_kind(const fr_model *model, int layer, int part,
                                   fr_part_kind *kind, int *input)
{
    const fr_layer *found = layer_at(model, layer);
    if (found == NULL || part < 0 || part >= found->num_parts || kind == NULL || input == NULL)
        return FR_ERR_ARG;
    *kind = (fr_part_kind)found->part_kinds[part];
    *input = found->part_inputs[part];
    return FR_OK;
}

size_t fr_model_weight_bytes(const fr_model *model)
{
    size_t bytes = 0;
    for (int l = 0; model != NULL && l < model->num_layers; l++) {
        const fr_layer *layer = &model->layers[l];
        size_t padded = (size_t)fr_layer_padded(model, layer), gates = layer->gates;
        size_t directions = layer->directions, vlen = model->kernels->vlen;
        if (layer->kind == LAYER_DENSE || is_recurrent(layer)
            || (layer->kind == LAYER_CONV && layer->groups == 1))
            bytes += directions * (fr_panels_bytes(model, layer->panels, layer->input_size,
                                                   layer->gates)
                                   + padded * gates * sizeof(float));
        if (is_recurrent(layer))
            bytes += directions * (fr_panels_bytes(model, layer->panels, layer->units,
                                                   layer->gates)
                                   + padded * sizeof(float));
        if (layer->taps != NULL)
            bytes += padded * (layer->window.kernel + 1) * sizeof(float);
        if (layer->w_unit != NULL)
            bytes += layer->input_size * sizeof(float);
        if (layer->group_w != NULL)
            bytes += (size_t)layer->groups
                     * (fr_panels_bytes(model, layer->group_panels, layer->input_size, 1)
                        + layer->group_panels * vlen * sizeof(float));
    }
    return bytes;
}

/* --- state ----------------------------------------------------------------------- */

size_t fr_part_floats(const fr_layer *layer, int part)
{
    return (size_t)layer->part_frames[part] * layer->part_width[part];
}

/* Floats of every layer's state before layer `layer`'s, per sequence. */
static size_t state_floats_before(const fr_model *model, int layer)
{
    size_t per_row = 0;
    for (int l = 0; l < layer; l++)
        for (int part = 0; part < model->layers[l].num_parts; part++)
            per_row += fr_part_floats(&model->layers[l], part);
    return per_row;
}

size_t fr_model_state_size(const fr_model *model, int batch)
{
    if (model == NULL || batch < 0) return 0;
    return state_floats_before(model, model->num_layers) * (size_t)batch;
}

float *fr_state_part(const fr_model *model, float *state, int batch, int layer, int part)
{
    const fr_layer *found = layer_at(model, layer);
    if (found == NULL || part < 0 || part >= found->num_parts) return NULL;
    size_t before = state_floats_before(model, layer);
    for (int p = 0; p < part; p++)
        before += fr_part_floats(found, p);
    return state + before * (size_t)batch;
}

/* Whether `value` fits part `part` of `layer` at position `index` of a
 * sequence's part: counters are whole numbers within their range. */
static int valid_state_value(const fr_layer *layer, int part, size_t index, float value)
{
    const part_kind kind = layer->part_kinds[part];
    if (kind == PART_VALUES) return 1;
    if (value != floorf(value) || value < 0.0f) return 0;
    if (kind == PART_WINDOW_POSITION) {
        const fr_window *w = &layer->window;
        const int limits[WINDOW_COUNTERS] = {w->pad_left, w->span - 1, w->stride - 1,
                                             w->stride - 1, 1};
        return value <= (float)limits[index];
    }
    if (layer->kind == LAYER_GLOBAL_POOL) return value <= 16777216.0f;   /* 2^24: exact */
    return value <= (float)layer->part_frames[part - 1];                 /* a queue's count */
}

/*
 * Whether the counters c (whole numbers within their ranges) are a position
 * a sequence can reach: nothing fed, all zero; else the window's next
 * start lies past the left padding before it skips frames, fewer than
 * span padded frames wait before it (or one more frame would have ended a
 * window), and it starts at a multiple of the stride:
 *     lead_used + frames_seen - held + skip = 0 (mod stride),
 * frames_seen = phase (mod stride). A window whose left padding depends on
 * the length reads whole sequences: zero only.
 */
static int valid_window_position(const fr_window *w, const float *c)
{
    const int lead_used = (int)c[WINDOW_LEAD_USED], held = (int)c[WINDOW_HELD];
    const int skip = (int)c[WINDOW_SKIP], phase = (int)c[WINDOW_PHASE];
    if (c[WINDOW_FED] == 0.0f || (w->same_length && !w->fixed_left))
        return lead_used == 0 && held == 0 && skip == 0 && phase == 0 && c[WINDOW_FED] == 0.0f;
    if (skip > 0 && (held > 0 || lead_used < w->pad_left)) return 0;
    if (w->pad_left - lead_used + held > w->span - 1) return 0;
    return (lead_used + phase - held + skip) % w->stride == 0;
}

fr_status fr_model_get_state(const fr_model *model, const float *state, int batch, int layer,
                             int part, float *dst)
{
    if (model == NULL || state == NULL || dst == NULL || batch < 1) return FR_ERR_ARG;
    const float *src = fr_state_part(model, (float *)state, batch, layer, part);
    if (src == NULL) return FR_ERR_ARG;
    const fr_layer *found = &model->layers[layer];
    const size_t frames = found->part_frames[part], width = found->part_width[part];
    const size_t features = found->part_features[part];
    for (size_t row = 0; row < (size_t)batch * frames; row++)
        memcpy(dst + row * features, src + row * width, features * sizeof(float));
    return FR_OK;
}

fr_status fr_model_set_state(const fr_model *model, float *state, int batch, int layer,
                             int part, const float *src)
{
    if (model == NULL || state == NULL || src == NULL || batch < 1) return FR_ERR_ARG;
    float *dst = fr_state_part(model, state, batch, layer, part);
    if (dst == NULL) return FR_ERR_ARG;
    const fr_layer *found = &model->layers[layer];
    const size_t frames = found->part_frames[part], width = found->part_width[part];
    const size_t features = found->part_features[part];
    for (size_t row = 0; row < (size_t)batch * frames; row++)
        for (size_t i = 0; i < features; i++)
            if (!valid_state_value(found, part, i, src[row * features + i])) return FR_ERR_ARG;
    if (found->part_kinds[part] == PART_WINDOW_POSITION)
        for (size_t row = 0; row < (size_t)batch; row++)
            if (!valid_window_position(&found->window, src + row * WINDOW_COUNTERS))
                return FR_ERR_ARG;
    for (size_t row = 0; row < (size_t)batch * frames; row++) {
        memcpy(dst + row * width, src + row * features, features * sizeof(float));
        memset(dst + row * width + features, 0, (width - features) * sizeof(float));
    }
    return FR_OK;
}

/* --- frames a run makes -------------------------------------------------------------- */

void fr_frame_bounds(const fr_model *model, int steps, int *frames)
{
    for (int t = 0; t < model->num_tensors; t++) {
        const int producer = model->tensors[t].producer;
        if (producer < 0) {
            frames[t] = steps;
            continue;
        }
        const fr_layer *layer = &model->layers[producer];
        const int in = frames[layer->inputs[0]];
        switch (layer->kind) {
        case LAYER_LSTM: case LAYER_GRU: case LAYER_RNN: case LAYER_GLOBAL_POOL:
            frames[t] = in > 1 ? in : 1;
            break;
        case LAYER_CONV: case LAYER_POOL: {
            /* the padded frames in reach: left padding not yet behind the window
             * (at most pad_left), frames held (at most span - 1), these, the right */
            const fr_window *w = &layer->window;
            const long long reach = (long long)w->pad_left + w->span - 1 + in
                                    + fr_window_pad_right(w);
            const long long bound = reach >= w->span ? (reach - w->span) / w->stride + 1 : 0;
            frames[t] = bound < INT_MAX ? (int)bound : INT_MAX;
            break;
        }
        case LAYER_BINARY: case LAYER_CONCAT:
            frames[t] = in + layer->queue_frames[0];
            for (int i = 1; i < layer->num_inputs; i++) {
                const int other = frames[layer->inputs[i]] + layer->queue_frames[i];
                frames[t] = other < frames[t] ? other : frames[t];
            }
            break;
        default:
            frames[t] = in;
            break;
        }
    }
}

/* frames[t]: the frames tensor t has over one whole sequence of `steps`
 * steps from a zero state (fr_model_sequence_frames), tensors in order. */
static void sequence_frames(const fr_model *model, int steps, long long *frames)
{
    for (int t = 0; t < model->num_tensors; t++) {
        const int producer = model->tensors[t].producer;
        if (producer < 0) {
            frames[t] = steps;
            continue;
        }
        const fr_layer *layer = &model->layers[producer];
        const long long in = frames[layer->inputs[0]];
        switch (layer->kind) {
        case LAYER_LSTM: case LAYER_GRU: case LAYER_RNN:
            frames[t] = layer->return_sequences ? in : 1;
            break;
        case LAYER_GLOBAL_POOL:
            frames[t] = 1;
            break;
        case LAYER_CONV: case LAYER_POOL: {
            /* floor((T + left + right - span) / stride) + 1 */
            const fr_window *w = &layer->window;
            int left = w->pad_left, right = w->pad_right;
            if (w->same_length) fr_same_length_padding(w, (int)(in % w->stride), &left, &right);
            const long long reach = in + left + right - w->span;
            frames[t] = in > 0 && reach >= 0 ? reach / w->stride + 1 : 0;
            break;
        }
        case LAYER_BINARY: case LAYER_CONCAT:        /* frames pair up in order */
            frames[t] = in;
            for (int i = 1; i < layer->num_inputs; i++)
                if (frames[layer->inputs[i]] < frames[t]) frames[t] = frames[layer->inputs[i]];
            break;
        default:
            frames[t] = in;
            break;
        }
    }
}

int fr_model_sequence_frames(const fr_model *model, int output, int steps)
{
    if (model == NULL || output < 0 || output >= model->num_outputs || steps < 0) return -1;
    long long *frames = malloc(model->num_tensors * sizeof(long long));
    if (frames == NULL) return -1;
    sequence_frames(model, steps, frames);
    long long count = frames[model->outputs[output]];
    free(frames);
    return count > INT_MAX ? INT_MAX : (int)count;
}

int fr_model_output_frames(const fr_model *model, int output, int steps, unsigned flags)
{
    (void)flags;
    if (model == NULL || output < 0 || output >= model->num_outputs || steps < 0) return -1;
    int *frames = malloc(model->num_tensors * sizeof(int));
    if (frames == NULL) return -1;
    fr_frame_bounds(model, steps, frames);
    int bound = frames[model->outputs[output]];
    free(frames);
    return bound;
}
