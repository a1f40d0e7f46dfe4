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
 * step of the last block goes on, as a sequence of one step.
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
    case FR_ERR_ARG: return "invalid argument (size out of range, NULL pointer, or a weight "
                            "beyond float16's range in a float16 model)";
    case FR_ERR_SHAPE: return "layer input size does not match the previous output size";
    case FR_ERR_ISA: return "instruction set not available";
    case FR_ERR_NOMEM: return "out of memory";
    case FR_ERR_LAYOUT: return "a recurrent layer cannot follow return_sequences = 0";
    case FR_ERR_NONFINITE: return "input holds NaN or infinity";
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

fr_model *fr_model_create(fr_isa isa, fr_precision precision, int input_size)
{
    const fr_kernels *kernels = fr_kernels_for(isa, precision);
    if (kernels == NULL || input_size < 1 || input_size > FR_MAX_SIZE) return NULL;
    fr_model *model = calloc(1, sizeof *model);
    if (model == NULL) return NULL;
    model->precision = precision;
    model->kernels = kernels;
    model->input_size = input_size;
    return model;
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
    return model->num_layers ? model->layers[model->num_layers - 1].units : model->input_size;
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
    *slot = layer;
    return FR_OK;
}

static void free_layer(fr_layer *layer)
{
    fr_free_floats(layer->w_in);
    fr_free_floats(layer->b_in);
    fr_free_floats(layer->w_rec);
    fr_free_floats(layer->b_rec);
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

/* Room for `count` packed weights in the model's precision. */
static void *alloc_weights(const fr_model *model, size_t count)
{
    size_t bytes = count * (model->precision == FR_PRECISION_FLOAT16 ? 2 : 4);
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
        if (fabsf(packed[i]) > 65504.0f) status = FR_ERR_ARG; /* beyond float16 */
        half[i] = fr_float_to_half(packed[i]);
    }
    free(packed);
    return status;
}

/*
 * Input projection of a layer with G gates: w_in and b_in packed with G
 * gates; b_in = b_ih + b_hh, except that the gates at and after
 * `first_unfolded_gate` take only b_ih (their b_hh is applied elsewhere).
 */
static fr_status pack_input_projection(fr_model *model, fr_layer *layer, const float *w_ih,
                                       const float *b_ih, const float *b_hh,
                                       int first_unfolded_gate)
{
    int gates = layer->gates, units = layer->units;
    size_t padded = (size_t)fr_layer_padded(model, layer);
    layer->w_in = alloc_weights(model, padded * layer->input_size * gates);
    layer->b_in = fr_alloc_floats(padded * gates);
    float *bias = malloc((size_t)gates * units * sizeof(float));
    fr_status status = FR_ERR_NOMEM;
    if (layer->w_in != NULL && layer->b_in != NULL && bias != NULL) {
        for (int i = 0; i < gates * units; i++) {
            float folded = b_hh != NULL && i < first_unfolded_gate * units ? b_hh[i] : 0.0f;
            bias[i] = (b_ih != NULL ? b_ih[i] : 0.0f) + folded;
        }
        fr_pack_bias(layer->b_in, bias, gates, units, model->kernels->vlen);
        status = store_panels(model, layer->w_in, 0, w_ih, gates, units, layer->input_size);
    }
    free(bias);
    return status;
}

fr_status fr_model_add_lstm(fr_model *model, int hidden_size, const float *w_ih,
                            const float *w_hh, const float *b_ih, const float *b_hh,
                            int return_sequences)
{
    fr_layer *layer;
    fr_status status = w_hh == NULL ? FR_ERR_ARG
                                    : new_layer(model, LAYER_LSTM, hidden_size, w_ih, &layer);
    if (status != FR_OK) return status;
    const int H = hidden_size;
    layer->gates = 4;
    layer->return_sequences = return_sequences != 0;
    status = pack_input_projection(model, layer, w_ih, b_ih, b_hh, 4);
    layer->w_rec = alloc_weights(model, (size_t)fr_layer_padded(model, layer) * H * 4);
    if (status == FR_OK)
        status = layer->w_rec == NULL ? FR_ERR_NOMEM
                                      : store_panels(model, layer->w_rec, 0, w_hh, 4, H, H);
    return finish_layer(model, layer, status);
}

fr_status fr_model_add_gru(fr_model *model, int hidden_size, const float *w_ih,
                           const float *w_hh, const float *b_ih, const float *b_hh,
                           int reset_after, int return_sequences)
{
    fr_layer *layer;
    fr_status status = w_hh == NULL ? FR_ERR_ARG
                                    : new_layer(model, LAYER_GRU, hidden_size, w_ih, &layer);
    if (status != FR_OK) return status;
    const int H = hidden_size;
    layer->gates = 3;
    layer->reset_after = reset_after != 0;
    layer->return_sequences = return_sequences != 0;
    size_t padded = (size_t)fr_layer_padded(model, layer);
    /* reset_after: b_hn multiplies by r, so it stays out of the projection. */
    status = pack_input_projection(model, layer, w_ih, b_ih, b_hh, reset_after ? 2 : 3);
    layer->w_rec = alloc_weights(model, padded * H * 3);
    layer->b_rec = fr_alloc_floats(padded);
    if (status == FR_OK && (layer->w_rec == NULL || layer->b_rec == NULL))
        status = FR_ERR_NOMEM;
    if (status == FR_OK && reset_after) {
        status = store_panels(model, layer->w_rec, 0, w_hh, 3, H, H);
        fr_pack_bias(layer->b_rec, b_hh != NULL ? b_hh + 2 * H : NULL, 1, H,
                     model->kernels->vlen);
    } else if (status == FR_OK) {
        /* r and z panels, then n panels: the two phases of a step. */
        status = store_panels(model, layer->w_rec, 0, w_hh, 2, H, H);
        if (status == FR_OK)
            status = store_panels(model, layer->w_rec, padded * H * 2,
                                  w_hh + (size_t)2 * H * H, 1, H, H);
        fr_pack_bias(layer->b_rec, NULL, 1, H, model->kernels->vlen);
    }
    return finish_layer(model, layer, status);
}

fr_status fr_model_add_rnn(fr_model *model, int hidden_size, const float *w_ih,
                           const float *w_hh, const float *b_ih, const float *b_hh,
                           fr_activation activation, int return_sequences)
{
    if (activation != FR_ACT_TANH && activation != FR_ACT_RELU) return FR_ERR_ARG;
    fr_layer *layer;
    fr_status status = w_hh == NULL ? FR_ERR_ARG
                                    : new_layer(model, LAYER_RNN, hidden_size, w_ih, &layer);
    if (status != FR_OK) return status;
    const int H = hidden_size;
    layer->gates = 1;
    layer->activation = activation;
    layer->return_sequences = return_sequences != 0;
    status = pack_input_projection(model, layer, w_ih, b_ih, b_hh, 1);
    layer->w_rec = alloc_weights(model, (size_t)fr_layer_padded(model, layer) * H);
    if (status == FR_OK)
        status = layer->w_rec == NULL ? FR_ERR_NOMEM
                                      : store_panels(model, layer->w_rec, 0, w_hh, 1, H, H);
    return finish_layer(model, layer, status);
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
    layer->return_sequences = 1;
    return finish_layer(model, layer, pack_input_projection(model, layer, w, b, NULL, 0));
}

int fr_layer_state_parts(const fr_layer *layer)
{
    return layer->kind == LAYER_LSTM ? 2 : layer->kind == LAYER_DENSE ? 0 : 1;
}

size_t fr_model_state_size(const fr_model *model, int batch)
{
    if (model == NULL || batch < 0) return 0;
    size_t per_row = 0;
    for (int l = 0; l < model->num_layers; l++)
        per_row += (size_t)fr_layer_state_parts(&model->layers[l])
                   * fr_layer_padded(model, &model->layers[l]);
    return per_row * (size_t)batch;
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

/* Largest per-row sizes of the workspace buffers, over all layers. */
static void workspace_widths(const fr_model *model, size_t *xproj, size_t *activations,
                             size_t *scratch)
{
    *xproj = *activations = *scratch = 0;
    for (int l = 0; l < model->num_layers; l++) {
        const fr_layer *layer = &model->layers[l];
        size_t padded = (size_t)fr_layer_padded(model, layer);
        if (padded > *activations) *activations = padded;
        if (layer->kind != LAYER_DENSE && padded * layer->gates > *xproj)
            *xproj = padded * layer->gates;
        if (layer->kind == LAYER_GRU && 2 * padded > *scratch) *scratch = 2 * padded;
    }
}

/*
 * Steps per block: a run goes through the sequence in blocks of this many
 * steps (all layers on one block, state carried to the next), so that the
 * per-block buffers, dominated by the input projection, stay near FR_BLOCK_BYTES
 * and in cache.
 */
#define FR_BLOCK_BYTES (4 << 20)

static int block_steps(const fr_model *model, int batch, int steps)
{
    size_t xproj, activations, scratch;
    workspace_widths(model, &xproj, &activations, &scratch);
    size_t row_bytes = (xproj + 2 * activations + model->input_size) * sizeof(float);
    size_t block = FR_BLOCK_BYTES / (row_bytes * (size_t)(batch > 0 ? batch : 1));
    if (block < 1) block = 1;
    return block < (size_t)steps ? (int)block : steps;
}

size_t fr_model_workspace_size(const fr_model *model, int batch, int steps)
{
    if (model == NULL || batch < 0 || steps < 0) return 0;
    size_t xproj, activations, scratch;
    workspace_widths(model, &xproj, &activations, &scratch);
    size_t rows = (size_t)batch * block_steps(model, batch, steps);
    return rows * (model->input_size + xproj + 2 * activations) + (size_t)batch * scratch
           + 5 * FR_ALIGN_FLOATS;
}

typedef struct {
    float *x, *xproj, *buffers[2], *scratch;
} workspace_layout;

/*
 * All layers over one block of `steps` steps, x (batch, steps, input_size)
 * contiguous. Returns the rows of the last layer's output in *out (row stride
 * *ld_out; batch * steps rows, or batch rows after return_sequences = 0), or
 * sets *out to NULL when the block ends at a return_sequences = 0 layer
 * without being the last (the layers after it only see the last step).
 */
static void run_block(const fr_model *model, int batch, int steps, int last_block,
                      int every_step, const workspace_layout *ws, float *state,
                      const float **out, ptrdiff_t *ld_out, int num_threads)
{
    const fr_kernels *k = model->kernels;
    const float *in = ws->x;
    ptrdiff_t ld_in = model->input_size;
    for (int l = 0; l < model->num_layers; l++) {
        const fr_layer *layer = &model->layers[l];
        const int padded = fr_layer_padded(model, layer), rows = batch * steps;
        float *result = ws->buffers[l % 2];
        if (layer->kind == LAYER_DENSE) {
            k->gemm(rows, layer->input_size, layer->panels, 1, in, ld_in, layer->w_in,
                    layer->b_in, result, num_threads);
            k->dense_activation(rows, layer->units, padded, layer->activation, result);
            in = result;
            ld_in = padded;
            continue;
        }
        k->gemm(rows, layer->input_size, layer->panels, layer->gates, in, ld_in, layer->w_in,
                layer->b_in, ws->xproj, num_threads);
        float *h = state;
        state += (size_t)batch * padded;
        if (layer->kind == LAYER_LSTM) {
            float *c = state;
            state += (size_t)batch * padded;
            k->lstm(batch, steps, layer->units, ws->xproj, layer->w_rec, h, c, result,
                    num_threads);
        } else if (layer->kind == LAYER_GRU) {
            k->gru(batch, steps, layer->units, layer->reset_after, ws->xproj, layer->w_rec,
                   layer->b_rec, h, result, ws->scratch, num_threads);
        } else {
            k->rnn(batch, steps, layer->units, layer->activation == FR_ACT_RELU, ws->xproj,
                   layer->w_rec, h, result, num_threads);
        }
        const float *last = result + (ptrdiff_t)(steps - 1) * padded;
        for (int b = 0; b < batch; b++)
            memcpy(h + (size_t)b * padded, last + (ptrdiff_t)b * steps * padded,
                   padded * sizeof(float));
        if (layer->return_sequences || every_step) {
            in = result;
            ld_in = padded;
        } else if (!last_block) {
            *out = NULL;
            return;
        } else {
            in = last;
            ld_in = (ptrdiff_t)steps * padded;
            steps = 1;
        }
    }
    *out = in;
    *ld_out = ld_in;
}

fr_status fr_model_run(const fr_model *model, int batch, int steps, const float *x,
                       float *y, float *state, float *workspace, unsigned flags,
                       int num_threads)
{
    if (model == NULL || model->num_layers == 0 || batch < 1 || steps < 1 || x == NULL
        || y == NULL || state == NULL || workspace == NULL)
        return FR_ERR_ARG;
    if (num_threads < 1) num_threads = 1;

    const int block = block_steps(model, batch, steps);
    const size_t rows = (size_t)batch * block;
    size_t xproj_width, act_width, scratch_width;
    workspace_widths(model, &xproj_width, &act_width, &scratch_width);
    workspace_layout ws;
    ws.x = align_floats(workspace);
    ws.xproj = align_floats(ws.x + rows * model->input_size);
    ws.buffers[0] = align_floats(ws.xproj + rows * xproj_width);
    ws.buffers[1] = align_floats(ws.buffers[0] + rows * act_width);
    ws.scratch = align_floats(ws.buffers[1] + rows * act_width);

    const int input_size = model->input_size, output_size = fr_model_output_size(model);
    const int every_step = (flags & FR_RUN_EVERY_STEP) != 0;
    const int sequences_out = every_step || fr_model_returns_sequences(model);
    for (int t0 = 0; t0 < steps; t0 += block) {
        const int n = steps - t0 < block ? steps - t0 : block;
        const int last_block = t0 + n == steps;
        for (int b = 0; b < batch; b++)
            memcpy(ws.x + (size_t)b * n * input_size, x + ((size_t)b * steps + t0) * input_size,
                   (size_t)n * input_size * sizeof(float));
        const float *out;
        ptrdiff_t ld_out;
        run_block(model, batch, n, last_block, every_step, &ws, state, &out, &ld_out,
                  num_threads);
        if (out == NULL) continue;
        if (sequences_out) {
            for (int b = 0; b < batch; b++)
                for (int j = 0; j < n; j++)
                    memcpy(y + ((size_t)b * steps + t0 + j) * output_size,
                           out + ((ptrdiff_t)b * n + j) * ld_out, output_size * sizeof(float));
        } else {
            for (int b = 0; b < batch; b++)
                memcpy(y + (size_t)b * output_size, out + b * ld_out,
                       output_size * sizeof(float));
        }
    }
    return FR_OK;
}
