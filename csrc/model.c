/*
 * model.c - a stack of layers: building it (packing weights once) and running
 * it over caller-owned state and workspace (see fastrnn.h).
 *
 * A run goes through the sequence in blocks of steps sized to stay in cache
 * (block_steps); each block goes layer by layer over the whole batch:
 *   recurrent layer: xproj = gemm(input, W_ih) for every step of the block at
 *                    once, then the fused recurrence writes h for every step;
 *   Dense layer:     gemm then the activation, in place.
 * Layer outputs alternate between two workspace buffers with rows of
 * `padded` floats. After a layer with return_sequences = 0, only the last
 * step of the last block goes on, as a sequence of one step. A bidirectional
 * layer projects both directions' inputs in one gemm, runs the backward
 * recurrence from the last step to the first, and merges the two; a
 * go_backwards layer runs its recurrence backward and writes its outputs in
 * that order; a model with either runs the whole sequence as one block.
 * A step mask reaches every recurrence, which skips the masked steps.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastrnn.h"
#include "kernels.h"
#include "model.h"

#define FR_MAX_SIZE (1 << 20)        /* largest input, hidden or output size */

const char *fr_status_string(fr_status status)
{
    switch (status) {
    case FR_OK: return "ok";
    case FR_ERR_ARG: return "invalid argument (size out of range or NULL pointer)";
    case FR_ERR_SHAPE: return "layer input size does not match the previous output size";
    case FR_ERR_ISA: return "instruction set not available";
    case FR_ERR_NOMEM: return "out of memory";
    case FR_ERR_LAYOUT: return "a recurrent layer cannot follow return_sequences = 0";
    case FR_ERR_NONFINITE: return "input holds NaN or infinity";
    case FR_ERR_RANGE: return "a weight is beyond the range of the model's precision";
    case FR_ERR_SEQUENCE: return "the model reads whole sequences (a bidirectional or "
                                 "go_backwards layer) and cannot stream";
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

static float *align_floats(float *p)
{
    return (float *)(((uintptr_t)p + FR_ALIGN - 1) & ~(uintptr_t)(FR_ALIGN - 1));
}

static void free_layer(fr_layer *layer);

fr_status fr_model_create(fr_model **model, fr_isa isa, fr_precision precision,
                          int input_size)
{
    if (model == NULL) return FR_ERR_ARG;
    *model = NULL;
    const fr_kernels *kernels = fr_kernels_for(isa, precision);
    if (kernels == NULL) return FR_ERR_ISA;
    if (input_size < 1 || input_size > FR_MAX_SIZE) return FR_ERR_ARG;
    fr_model *created = calloc(1, sizeof *created);
    if (created == NULL) return FR_ERR_NOMEM;
    created->precision = precision;
    created->kernels = kernels;
    created->input_size = input_size;
    *model = created;
    return FR_OK;
}

void fr_model_destroy(fr_model *model)
{
    if (model == NULL) return;
    for (int l = 0; l < model->num_layers; l++)
        free_layer(&model->layers[l]);
    free(model->layers);
    free(model);
}

int fr_model_input_size(const fr_model *model) { return model ? model->input_size : 0; }

int fr_model_output_size(const fr_model *model)
{
    if (model == NULL) return 0;
    return model->num_layers ? fr_layer_outputs(&model->layers[model->num_layers - 1])
                             : model->input_size;
}

int fr_model_returns_sequences(const fr_model *model)
{
    if (model == NULL) return 0;
    for (int l = 0; l < model->num_layers; l++)
        if (!model->layers[l].return_sequences) return 0;
    return 1;
}

int fr_layer_padded(const fr_model *model, const fr_layer *layer)
{
    return layer->panels * model->kernels->vlen;
}

int fr_layer_outputs(const fr_layer *layer)
{
    return layer->directions == 2 && layer->merge == FR_MERGE_CONCAT ? 2 * layer->units
                                                                     : layer->units;
}

int fr_layer_output_padded(const fr_model *model, const fr_layer *layer)
{
    int vlen = model->kernels->vlen;
    return (fr_layer_outputs(layer) + vlen - 1) / vlen * vlen;
}

int fr_model_needs_sequences(const fr_model *model)
{
    for (int l = 0; model != NULL && l < model->num_layers; l++)
        if (model->layers[l].directions == 2 || model->layers[l].go_backwards) return 1;
    return 0;
}

/* Checks common to every layer; on success returns a zeroed slot at the end. */
static fr_status new_layer(fr_model *model, layer_kind kind, int units, const float *w,
                           fr_layer **slot)
{
    if (model == NULL || w == NULL || units < 1 || units > FR_MAX_SIZE) return FR_ERR_ARG;
    if (kind != LAYER_DENSE && !fr_model_returns_sequences(model)) return FR_ERR_LAYOUT;
    if (model->num_layers == model->capacity) {
        int capacity = model->capacity ? 2 * model->capacity : 4;
        fr_layer *layers = realloc(model->layers, capacity * sizeof *layers);
        if (layers == NULL) return FR_ERR_NOMEM;
        model->layers = layers;
        model->capacity = capacity;
    }
    fr_layer *layer = &model->layers[model->num_layers];
    memset(layer, 0, sizeof *layer);
    layer->kind = kind;
    layer->input_size = fr_model_output_size(model);
    layer->units = units;
    layer->panels = (units + model->kernels->vlen - 1) / model->kernels->vlen;
    layer->return_sequences = 1;
    layer->directions = 1;
    *slot = layer;
    return FR_OK;
}

static void free_layer(fr_layer *layer)
{
    fr_free_floats(layer->w_in);
    fr_free_floats(layer->b_in);
    for (int d = 0; d < 2; d++) {
        fr_free_floats(layer->w_rec[d]);
        fr_free_floats(layer->b_rec[d]);
    }
}

/* Commit the slot filled by new_layer, or free what it allocated. */
static fr_status finish_layer(fr_model *model, fr_layer *layer, fr_status status)
{
    if (status != FR_OK)
        free_layer(layer);
    else
        model->num_layers++;
    return status;
}

static size_t weight_bytes(const fr_model *model)
{
    return model->precision == FR_PRECISION_FLOAT16 ? 2 : 4;
}

/* Room for `count` packed weights in the model's precision. */
static void *alloc_weights(const fr_model *model, size_t count)
{
    size_t bytes = count * weight_bytes(model);
    return fr_alloc_floats((bytes + sizeof(float) - 1) / sizeof(float));
}

/*
 * Pack src (gates * units, K) into panels (kernels.h) in the model's
 * precision, `offset` weights into dst.
 */
static fr_status store_panels(const fr_model *model, void *dst, size_t offset,
                              const float *src, int gates, int units, int K)
{
    int vlen = model->kernels->vlen;
    size_t count = (size_t)((units + vlen - 1) / vlen) * vlen * K * gates;
    if (model->precision == FR_PRECISION_FLOAT32) {
        fr_pack_panels((float *)dst + offset, src, gates, units, K, vlen);
        return FR_OK;
    }
    float *packed = malloc(count * sizeof(float));
    if (packed == NULL) return FR_ERR_NOMEM;
    fr_pack_panels(packed, src, gates, units, K, vlen);
    uint16_t *half = (uint16_t *)dst + offset;
    fr_status status = FR_OK;
    for (size_t i = 0; i < count; i++) {
        if (fabsf(packed[i]) > FR_FLOAT16_MAX) status = FR_ERR_RANGE;
        half[i] = fr_float_to_half(packed[i]);
    }
    free(packed);
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
    return store_panels(model, layer->w_in, direction * padded * layer->input_size * gates,
                        w_ih, gates, units, layer->input_size);
}

/* Recurrent weights of direction `direction`: w_rec panels (GRU with
 * reset_after = 0: the r, z panels, then the n panels) and b_hn. */
static fr_status pack_recurrent(const fr_model *model, fr_layer *layer, int direction,
                                const float *w_hh, const float *b_hh)
{
    const int H = layer->units, gates = layer->gates, vlen = model->kernels->vlen;
    size_t padded = (size_t)fr_layer_padded(model, layer);
    layer->w_rec[direction] = alloc_weights(model, padded * H * gates);
    layer->b_rec[direction] = fr_alloc_floats(padded);
    void *w = layer->w_rec[direction];
    if (w == NULL || layer->b_rec[direction] == NULL) return FR_ERR_NOMEM;
    const int reset_after = layer->kind == LAYER_GRU && layer->reset_after;
    fr_pack_bias(layer->b_rec[direction], reset_after && b_hh ? b_hh + 2 * H : NULL, 1, H, vlen);
    if (layer->kind != LAYER_GRU || reset_after)
        return store_panels(model, w, 0, w_hh, gates, H, H);
    fr_status status = store_panels(model, w, 0, w_hh, 2, H, H);
    return status != FR_OK ? status
                           : store_panels(model, w, padded * H * 2, w_hh + (size_t)2 * H * H,
                                          1, H, H);
}

/* A layer's input projection and, if recurrent, its recurrent weights. */
static fr_status pack_layer(fr_model *model, fr_layer *layer, const float *w_ih,
                            const float *w_hh, const float *b_ih, const float *b_hh)
{
    size_t padded = (size_t)fr_layer_padded(model, layer);
    layer->w_in = alloc_weights(model, padded * layer->input_size * layer->gates);
    layer->b_in = fr_alloc_floats(padded * layer->gates);
    if (layer->w_in == NULL || layer->b_in == NULL) return FR_ERR_NOMEM;
    fr_status status = pack_projection(model, layer, 0, w_ih, b_ih, b_hh);
    if (status == FR_OK && layer->kind != LAYER_DENSE)
        status = pack_recurrent(model, layer, 0, w_hh, b_hh);
    return status;
}

static fr_status add_recurrent(fr_model *model, layer_kind kind, int gates, int hidden_size,
                               const float *w_ih, const float *w_hh, const float *b_ih,
                               const float *b_hh, int reset_after, fr_activation activation,
                               unsigned flags)
{
    if (flags & ~(FR_RETURN_SEQUENCES | FR_GO_BACKWARDS)) return FR_ERR_ARG;
    fr_layer *layer;
    fr_status status = w_hh == NULL ? FR_ERR_ARG
                                    : new_layer(model, kind, hidden_size, w_ih, &layer);
    if (status != FR_OK) return status;
    layer->gates = gates;
    layer->reset_after = reset_after != 0;
    layer->activation = activation;
    layer->return_sequences = (flags & FR_RETURN_SEQUENCES) != 0;
    layer->go_backwards = (flags & FR_GO_BACKWARDS) != 0;
    return finish_layer(model, layer, pack_layer(model, layer, w_ih, w_hh, b_ih, b_hh));
}

fr_status fr_model_add_lstm(fr_model *model, int hidden_size, const float *w_ih,
                            const float *w_hh, const float *b_ih, const float *b_hh,
                            unsigned flags)
{
    return add_recurrent(model, LAYER_LSTM, 4, hidden_size, w_ih, w_hh, b_ih, b_hh, 0,
                         FR_ACT_LINEAR, flags);
}

fr_status fr_model_add_gru(fr_model *model, int hidden_size, const float *w_ih,
                           const float *w_hh, const float *b_ih, const float *b_hh,
                           int reset_after, unsigned flags)
{
    return add_recurrent(model, LAYER_GRU, 3, hidden_size, w_ih, w_hh, b_ih, b_hh, reset_after,
                         FR_ACT_LINEAR, flags);
}

fr_status fr_model_add_rnn(fr_model *model, int hidden_size, const float *w_ih,
                           const float *w_hh, const float *b_ih, const float *b_hh,
                           fr_activation activation, unsigned flags)
{
    if (activation != FR_ACT_TANH && activation != FR_ACT_RELU) return FR_ERR_ARG;
    return add_recurrent(model, LAYER_RNN, 1, hidden_size, w_ih, w_hh, b_ih, b_hh, 0,
                         activation, flags);
}

fr_status fr_model_add_dense(fr_model *model, int output_size, const float *w,
                             const float *b, fr_activation activation)
{
    if (activation < FR_ACT_LINEAR || activation > FR_ACT_SOFTMAX) return FR_ERR_ARG;
    fr_layer *layer;
    fr_status status = new_layer(model, LAYER_DENSE, output_size, w, &layer);
    if (status != FR_OK) return status;
    layer->gates = 1;
    layer->activation = activation;
    return finish_layer(model, layer, pack_layer(model, layer, w, NULL, b, NULL));
}

fr_status fr_model_make_bidirectional(fr_model *model, const float *w_ih, const float *w_hh,
                                      const float *b_ih, const float *b_hh, fr_merge merge)
{
    if (model == NULL || model->num_layers == 0 || w_ih == NULL || w_hh == NULL
        || merge < FR_MERGE_CONCAT || merge > FR_MERGE_AVE)
        return FR_ERR_ARG;
    fr_layer *layer = &model->layers[model->num_layers - 1];
    if (layer->kind == LAYER_DENSE || layer->directions != 1 || layer->go_backwards)
        return FR_ERR_ARG;
    /* Both directions' input projections side by side, for one gemm. */
    size_t padded = (size_t)fr_layer_padded(model, layer);
    size_t w_count = padded * layer->input_size * layer->gates, b_count = padded * layer->gates;
    void *w_in = alloc_weights(model, 2 * w_count);
    float *b_in = fr_alloc_floats(2 * b_count);
    if (w_in == NULL || b_in == NULL) {
        fr_free_floats(w_in);
        fr_free_floats(b_in);
        return FR_ERR_NOMEM;
    }
    memcpy(w_in, layer->w_in, w_count * weight_bytes(model));
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
    *layer = bidirectional;
    return FR_OK;
}

int fr_layer_state_parts(const fr_layer *layer)
{
    return (layer->kind == LAYER_LSTM ? 2 : layer->kind == LAYER_DENSE ? 0 : 1)
           * layer->directions;
}

size_t fr_model_weight_bytes(const fr_model *model)
{
    size_t bytes = 0;
    for (int l = 0; model != NULL && l < model->num_layers; l++) {
        const fr_layer *layer = &model->layers[l];
        size_t padded = (size_t)fr_layer_padded(model, layer), gates = layer->gates;
        size_t directions = layer->directions;
        bytes += directions * padded * gates * (layer->input_size * weight_bytes(model)
                                                + sizeof(float));
        if (layer->kind != LAYER_DENSE)
            bytes += directions * padded * (gates * layer->units * weight_bytes(model)
                                            + sizeof(float));
    }
    return bytes;
}

/* Floats of every layer's state before layer `layer`'s, per sequence. */
static size_t state_floats_before(const fr_model *model, int layer)
{
    size_t per_row = 0;
    for (int l = 0; l < layer; l++)
        per_row += (size_t)fr_layer_state_parts(&model->layers[l])
                   * fr_layer_padded(model, &model->layers[l]);
    return per_row;
}

size_t fr_model_state_size(const fr_model *model, int batch)
{
    if (model == NULL || batch < 0) return 0;
    return state_floats_before(model, model->num_layers) * (size_t)batch;
}

float *fr_state_part(const fr_model *model, float *state, int batch, int layer, int part)
{
    if (layer < 0 || layer >= model->num_layers || part < 0
        || part >= fr_layer_state_parts(&model->layers[layer]))
        return NULL;
    size_t padded = (size_t)fr_layer_padded(model, &model->layers[layer]);
    return state + (state_floats_before(model, layer) + part * padded) * (size_t)batch;
}

fr_status fr_model_get_state(const fr_model *model, const float *state, int batch, int layer,
                             int part, float *dst)
{
    if (model == NULL || state == NULL || dst == NULL || batch < 1) return FR_ERR_ARG;
    const float *src = fr_state_part(model, (float *)state, batch, layer, part);
    if (src == NULL) return FR_ERR_ARG;
    const size_t units = model->layers[layer].units;
    const size_t padded = fr_layer_padded(model, &model->layers[layer]);
    for (int b = 0; b < batch; b++)
        memcpy(dst + b * units, src + b * padded, units * sizeof(float));
    return FR_OK;
}

fr_status fr_model_set_state(const fr_model *model, float *state, int batch, int layer,
                             int part, const float *src)
{
    if (model == NULL || state == NULL || src == NULL || batch < 1) return FR_ERR_ARG;
    float *dst = fr_state_part(model, state, batch, layer, part);
    if (dst == NULL) return FR_ERR_ARG;
    const size_t units = model->layers[layer].units;
    const size_t padded = fr_layer_padded(model, &model->layers[layer]);
    for (int b = 0; b < batch; b++) {
        memcpy(dst + b * padded, src + b * units, units * sizeof(float));
        memset(dst + b * padded + units, 0, (padded - units) * sizeof(float));
    }
    return FR_OK;
}

int fr_model_num_layers(const fr_model *model) { return model ? model->num_layers : 0; }

int fr_model_layer_units(const fr_model *model, int layer)
{
    if (model == NULL || layer < 0 || layer >= model->num_layers) return 0;
    return model->layers[layer].units;
}

int fr_model_layer_state_parts(const fr_model *model, int layer)
{
    if (model == NULL || layer < 0 || layer >= model->num_layers) return 0;
    return fr_layer_state_parts(&model->layers[layer]);
}

int fr_model_layer_gates(const fr_model *model, int layer)
{
    if (model == NULL || layer < 0 || layer >= model->num_layers) return 0;
    return model->layers[layer].gates;
}

/* Largest per-row sizes of the workspace buffers, over all layers. */
typedef struct {
    size_t xproj, activations, directions, scratch;
} workspace_widths;

static workspace_widths widths_of(const fr_model *model)
{
    workspace_widths w = {0, 0, 0, 0};
    for (int l = 0; l < model->num_layers; l++) {
        const fr_layer *layer = &model->layers[l];
        size_t padded = (size_t)fr_layer_padded(model, layer);
        size_t out = (size_t)fr_layer_output_padded(model, layer);
        if (out > w.activations) w.activations = out;
        if (layer->kind != LAYER_DENSE && padded * layer->gates * layer->directions > w.xproj)
            w.xproj = padded * layer->gates * layer->directions;
        if ((layer->directions == 2 || layer->go_backwards) && padded > w.directions)
            w.directions = padded;
        if (layer->kind == LAYER_GRU && 2 * padded > w.scratch) w.scratch = 2 * padded;
    }
    return w;
}

/*
 * The workspace of a run, one table for its size and its layout: each
 * buffer starts on an FR_ALIGN boundary. Per (sequence, step) row of a block:
 * the block's input, the input projection of a layer (both directions), the
 * two buffers layer outputs alternate between, and the two directions of a
 * bidirectional layer (the first also holds a go_backwards layer's outputs
 * in time order); per sequence: a GRU's scratch (reset_after = 0).
 */
enum { WS_X, WS_XPROJ, WS_OUTPUT_A, WS_OUTPUT_B, WS_FORWARD, WS_BACKWARD, WS_SCRATCH,
       WS_BUFFERS };

static void workspace_sizes(const fr_model *model, int batch, int block,
                            size_t sizes[WS_BUFFERS])
{
    const workspace_widths w = widths_of(model);
    const size_t rows = (size_t)batch * block;
    sizes[WS_X] = rows * model->input_size;
    sizes[WS_XPROJ] = rows * w.xproj;
    sizes[WS_OUTPUT_A] = sizes[WS_OUTPUT_B] = rows * w.activations;
    sizes[WS_FORWARD] = sizes[WS_BACKWARD] = rows * w.directions;
    sizes[WS_SCRATCH] = (size_t)batch * w.scratch;
}

/* Floats per (sequence, step) row of the per-block buffers. */
static size_t row_floats(const fr_model *model)
{
    size_t sizes[WS_BUFFERS], total = 0;
    workspace_sizes(model, 1, 1, sizes);
    for (int i = 0; i < WS_BUFFERS; i++)
        if (i != WS_SCRATCH) total += sizes[i];
    return total;
}

/*
 * Steps per block: a run goes through the sequence in blocks of this many
 * steps (all layers on one block, state carried to the next), so that the
 * per-block buffers, dominated by the input projection, stay near FR_BLOCK_BYTES
 * and in cache. A bidirectional or go_backwards layer needs the whole
 * sequence: one block.
 */
#define FR_BLOCK_BYTES (4 << 20)

static int block_steps(const fr_model *model, int batch, int steps)
{
    if (fr_model_needs_sequences(model)) return steps;
    size_t row_bytes = row_floats(model) * sizeof(float);
    size_t block = FR_BLOCK_BYTES / (row_bytes * (size_t)(batch > 0 ? batch : 1));
    if (block < 1) block = 1;
    return block < (size_t)steps ? (int)block : steps;
}

size_t fr_model_workspace_size(const fr_model *model, int batch, int steps)
{
    if (model == NULL || batch < 0 || steps < 0) return 0;
    size_t sizes[WS_BUFFERS], total = WS_BUFFERS * FR_ALIGN_FLOATS;
    workspace_sizes(model, batch, block_steps(model, batch, steps), sizes);
    for (int i = 0; i < WS_BUFFERS; i++)
        total += sizes[i];
    return total;
}

typedef struct {
    float *x, *xproj, *buffers[2], *directions[2], *scratch;
} workspace_layout;

static workspace_layout layout_workspace(const fr_model *model, int batch, int block,
                                         float *workspace)
{
    size_t sizes[WS_BUFFERS];
    float *start[WS_BUFFERS];
    workspace_sizes(model, batch, block, sizes);
    for (int i = 0; i < WS_BUFFERS; i++) {
        start[i] = align_floats(workspace);
        workspace = start[i] + sizes[i];
    }
    workspace_layout ws = {start[WS_X], start[WS_XPROJ], {start[WS_OUTPUT_A], start[WS_OUTPUT_B]},
                           {start[WS_FORWARD], start[WS_BACKWARD]}, start[WS_SCRATCH]};
    return ws;
}

/* Which steps of a block run: mask (batch, stride) at the block's first step,
 * or NULL when they all do. */
typedef struct {
    const uint8_t *mask;
    ptrdiff_t stride;
} step_mask;

/* One direction's recurrence: h_seq gets h of every step (at its time index);
 * direction 1, and a go_backwards layer, run from the last step to the first. */
static void run_recurrence(const fr_model *model, const fr_layer *layer, int direction,
                           int batch, int steps, const workspace_layout *ws, step_mask mask,
                           float *h, float *c, float *h_seq, int num_threads)
{
    const fr_kernels *k = model->kernels;
    const ptrdiff_t padded = fr_layer_padded(model, layer);
    const ptrdiff_t x_stride = padded * layer->gates * layer->directions;
    const float *xproj = ws->xproj + direction * padded * layer->gates;
    const int reverse = direction == 1 || layer->go_backwards;
    if (layer->kind == LAYER_LSTM)
        k->lstm(batch, steps, layer->units, reverse, xproj, x_stride, layer->w_rec[direction], h,
                c, h_seq, mask.mask, mask.stride, num_threads);
    else if (layer->kind == LAYER_GRU)
        k->gru(batch, steps, layer->units, layer->reset_after, reverse, xproj, x_stride,
               layer->w_rec[direction], layer->b_rec[direction], h, h_seq, ws->scratch,
               mask.mask, mask.stride, num_threads);
    else
        k->rnn(batch, steps, layer->units, layer->activation == FR_ACT_RELU, reverse, xproj,
               x_stride, layer->w_rec[direction], h, h_seq, mask.mask, mask.stride,
               num_threads);
}

/*
 * out (batch, steps, output padded) = merge(forward, backward), both (batch,
 * steps, padded); with last_only, only the last step, from the forward
 * direction's last step and the backward direction's first (its final state).
 */
static void merge_directions(const fr_model *model, const fr_layer *layer, int batch,
                             int steps, const float *forward, const float *backward, float *out,
                             int last_only)
{
    const ptrdiff_t padded = fr_layer_padded(model, layer);
    const ptrdiff_t out_padded = fr_layer_output_padded(model, layer);
    const int units = layer->units;
    for (int b = 0; b < batch; b++)
        for (int t = last_only ? steps - 1 : 0; t < steps; t++) {
            const float *f = forward + ((ptrdiff_t)b * steps + t) * padded;
            const float *r = backward + ((ptrdiff_t)b * steps + (last_only ? 0 : t)) * padded;
            float *o = out + ((ptrdiff_t)b * steps + t) * out_padded;
            switch (layer->merge) {
            case FR_MERGE_CONCAT:
                memcpy(o, f, units * sizeof(float));
                memcpy(o + units, r, units * sizeof(float));
                memset(o + 2 * units, 0, (out_padded - 2 * units) * sizeof(float));
                break;
            case FR_MERGE_SUM:
                for (int j = 0; j < out_padded; j++) o[j] = f[j] + r[j];
                break;
            case FR_MERGE_MUL:
                for (int j = 0; j < out_padded; j++) o[j] = f[j] * r[j];
                break;
            default:
                for (int j = 0; j < out_padded; j++) o[j] = 0.5f * (f[j] + r[j]);
                break;
            }
        }
}

/* out (batch, steps, padded) = h_seq with its steps in reverse order. */
static void reverse_steps(int batch, int steps, ptrdiff_t padded, const float *h_seq,
                          float *out)
{
    for (int b = 0; b < batch; b++)
        for (int t = 0; t < steps; t++)
            memcpy(out + ((ptrdiff_t)b * steps + t) * padded,
                   h_seq + ((ptrdiff_t)b * steps + steps - 1 - t) * padded,
                   padded * sizeof(float));
}

/*
 * All layers over one block of `steps` steps, x (batch, steps, input_size)
 * contiguous, mask at the block's first step. Returns the rows of the last
 * layer's output in *out (row stride *ld_out; batch * steps rows, or batch
 * rows after return_sequences = 0), or sets *out to NULL when the block ends
 * at a return_sequences = 0 layer without being the last (the layers after it
 * only see the last step).
 */
static void run_block(const fr_model *model, int batch, int steps, int last_block,
                      int every_step, const workspace_layout *ws, step_mask mask, float *state,
                      const float **out, ptrdiff_t *ld_out, int num_threads)
{
    const fr_kernels *k = model->kernels;
    const float *in = ws->x;
    ptrdiff_t ld_in = model->input_size;
    for (int l = 0; l < model->num_layers; l++) {
        const fr_layer *layer = &model->layers[l];
        const int padded = fr_layer_padded(model, layer), rows = batch * steps;
        const int out_padded = fr_layer_output_padded(model, layer);
        float *result = ws->buffers[l % 2];
        if (layer->kind == LAYER_DENSE) {
            k->gemm(rows, layer->input_size, layer->panels, 1, in, ld_in, layer->w_in,
                    layer->b_in, result, num_threads);
            k->dense_activation(rows, layer->units, padded, layer->activation, result);
            in = result;
            ld_in = padded;
            continue;
        }
        /* Both directions' input projections in one gemm. */
        k->gemm(rows, layer->input_size, layer->panels * layer->directions, layer->gates, in,
                ld_in, layer->w_in, layer->b_in, ws->xproj, num_threads);
        const int keep_sequence = layer->return_sequences || every_step;
        const int parts = fr_layer_state_parts(layer) / layer->directions;
        for (int d = 0; d < layer->directions; d++) {
            float *h = fr_state_part(model, state, batch, l, d * parts);
            float *c = parts == 2 ? fr_state_part(model, state, batch, l, d * parts + 1) : NULL;
            const int separate = layer->directions == 2 || layer->go_backwards;
            float *h_seq = separate ? ws->directions[d] : result;
            run_recurrence(model, layer, d, batch, steps, ws, mask, h, c, h_seq, num_threads);
            const int backward = d == 1 || layer->go_backwards;
            const float *final = h_seq + (ptrdiff_t)(backward ? 0 : steps - 1) * padded;
            for (int b = 0; b < batch; b++)
                memcpy(h + (size_t)b * padded, final + (ptrdiff_t)b * steps * padded,
                       padded * sizeof(float));
        }
        if (layer->directions == 2)
            merge_directions(model, layer, batch, steps, ws->directions[0], ws->directions[1],
                             result, !keep_sequence);
        else if (layer->go_backwards)
            reverse_steps(batch, steps, padded, ws->directions[0], result);
        if (keep_sequence) {
            in = result;
            ld_in = out_padded;
        } else if (!last_block) {
            *out = NULL;
            return;
        } else {
            in = result + (ptrdiff_t)(steps - 1) * out_padded;
            ld_in = (ptrdiff_t)steps * out_padded;
            steps = 1;
        }
    }
    *out = in;
    *ld_out = ld_in;
}

fr_status fr_model_run(const fr_model *model, int batch, int steps, const float *x,
                       const uint8_t *mask, float *y, float *state, float *workspace,
                       unsigned flags, int num_threads)
{
    if (model == NULL || model->num_layers == 0 || batch < 1 || steps < 1 || x == NULL
        || y == NULL || state == NULL || workspace == NULL)
        return FR_ERR_ARG;
    if (num_threads < 1) num_threads = 1;

    const int block = block_steps(model, batch, steps);
    const workspace_layout ws = layout_workspace(model, batch, block, workspace);
    const int input_size = model->input_size, output_size = fr_model_output_size(model);
    const int every_step = (flags & FR_RUN_EVERY_STEP) != 0;
    const int sequences_out = every_step || fr_model_returns_sequences(model);
    for (int t0 = 0; t0 < steps; t0 += block) {
        const int n = steps - t0 < block ? steps - t0 : block;
        const int last_block = t0 + n == steps;
        for (int b = 0; b < batch; b++)
            memcpy(ws.x + (size_t)b * n * input_size, x + ((size_t)b * steps + t0) * input_size,
                   (size_t)n * input_size * sizeof(float));
        const step_mask block_mask = {mask != NULL ? mask + t0 : NULL, steps};
        const float *out;
        ptrdiff_t ld_out;
        run_block(model, batch, n, last_block, every_step, &ws, block_mask, state, &out, &ld_out,
                  num_threads);
        if (out == NULL) continue;
        if (sequences_out) {
            for (int b = 0; b < batch; b++)
                for (int j = 0; j < n; j++) {
                    float *row = y + ((size_t)b * steps + t0 + j) * output_size;
                    if (mask != NULL && !mask[(size_t)b * steps + t0 + j])
                        memset(row, 0, output_size * sizeof(float));
                    else
                        memcpy(row, out + ((ptrdiff_t)b * n + j) * ld_out,
                               output_size * sizeof(float));
                }
        } else {
            for (int b = 0; b < batch; b++)
                memcpy(y + (size_t)b * output_size, out + b * ld_out,
                       output_size * sizeof(float));
        }
    }
    return FR_OK;
}
