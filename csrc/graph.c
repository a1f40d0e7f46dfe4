/*
 * graph.c - running a model: every layer in order over a block of frames,
 * then the next block, the state carried between them (see fastrnn.h).
 *
 * A block holds, for every tensor, a buffer of `batch` sequences x `frames`
 * frames (rows of the tensor's padded width) and each sequence's count of
 * frames in it: sequences may have fewer (lengths; a stride's phase; a
 * window still filling). Frames past a sequence's count are zero. Layers:
 *   recurrent: one gemm projects every frame, then the fused recurrence
 *              (one sequence of one input feature: projected in the step),
 *              frames past a sequence's count masked (the state carries);
 *   window:    convolution and pooling assemble each output frame's window
 *              (left padding, the frames kept from earlier blocks, this
 *              block's frames, right padding at the end) as one im2col row,
 *              then one gemm (or the depthwise or pool kernel) over all rows;
 *   merges:    frames of an input that comes first wait in a queue for the
 *              others';
 *   the rest:  one kernel call over every frame.
 * Tensor buffers are placed by liveness (plan_buffers): a buffer is reused
 * once the last layer reading its tensor has run. Each frame's result
 * depends only on that sequence's frames, in a fixed order: any blocking
 * gives the same bits.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastrnn.h"
#include "kernels.h"
#include "model.h"

/* Frames of the tensors of one block. */
typedef struct {
    float *data;      /* frame f of sequence b at data + (b * frames + f) * ld */
    ptrdiff_t ld;
    int frames;       /* the most frames any sequence has in this block */
    int *counts;      /* each sequence's frames (batch) */
} view;

static float *frame_at(const view *v, int b, int f)
{
    return v->data + ((ptrdiff_t)b * v->frames + f) * v->ld;
}

/* Zero the frames past each sequence's count. */
static void zero_tails(const view *v, int batch)
{
    for (int b = 0; b < batch; b++)
        if (v->counts[b] < v->frames)
            memset(frame_at(v, b, v->counts[b]), 0,
                   (size_t)(v->frames - v->counts[b]) * v->ld * sizeof(float));
}

static size_t align_up(size_t floats)
{
    return (floats + FR_ALIGN_FLOATS - 1) / FR_ALIGN_FLOATS * FR_ALIGN_FLOATS;
}

/* --- the workspace -------------------------------------------------------------- */

/*
 * The workspace: bookkeeping (a view, counts and a buffer offset per tensor,
 * and each tensor's frame bound while planning), the tensors' buffers, and
 * one scratch region that each layer uses while it runs.
 */
static size_t floats_for(size_t n, size_t bytes)
{
    return align_up((n * bytes + sizeof(float) - 1) / sizeof(float));
}

typedef struct {
    view *views;
    int *counts;      /* (num_tensors, batch) */
    size_t *offsets;  /* of each tensor's buffer, from `buffers` */
    int *frames;      /* each tensor's frame bound */
    float *buffers;
} bookkeeping;

static bookkeeping carve(const fr_model *model, int batch, float *workspace)
{
    bookkeeping books;
    float *at = fr_align_floats(workspace);
    books.views = (view *)at;
    at += floats_for(model->num_tensors, sizeof(view));
    books.counts = (int *)at;
    at += floats_for((size_t)model->num_tensors * batch, sizeof(int));
    books.offsets = (size_t *)at;
    at += floats_for(model->num_tensors, sizeof(size_t));
    books.frames = (int *)at;
    at += floats_for(model->num_tensors, sizeof(int));
    books.buffers = at;
    return books;
}

static size_t bookkeeping_floats(const fr_model *model, int batch)
{
    return floats_for(model->num_tensors, sizeof(view))
           + floats_for((size_t)model->num_tensors * batch, sizeof(int))
           + floats_for(model->num_tensors, sizeof(size_t))
           + floats_for(model->num_tensors, sizeof(int)) + FR_ALIGN_FLOATS;
}

static size_t tensor_floats(const fr_model *model, const int *frames, int tensor, int batch)
{
    return align_up((size_t)batch * frames[tensor] * model->tensors[tensor].padded);
}

/* Scratch a layer needs while it runs (it is free again afterwards). */
static size_t scratch_floats(const fr_model *model, const int *frames, const fr_layer *layer,
                             int batch)
{
    const size_t rows = (size_t)batch * frames[layer->inputs[0]];
    switch (layer->kind) {
    case LAYER_LSTM: case LAYER_GRU: case LAYER_RNN: {
        size_t padded = (size_t)fr_layer_padded(model, layer);
        return align_up(rows * padded * layer->gates)
               + align_up(rows * padded * layer->directions)
               + align_up(2 * (size_t)batch * padded) + align_up((rows + 3) / 4);
    }
    case LAYER_CONV: case LAYER_POOL: {
        const int channels = model->tensors[layer->inputs[0]].features;
        const size_t out_rows = (size_t)batch * frames[layer->output];
        size_t col = align_up(out_rows * layer->window.kernel * channels);
        size_t extra = align_up(out_rows) + align_up((size_t)channels);   /* divisors, pad */
        if (layer->group_w != NULL)
            extra += align_up(out_rows * layer->window.kernel * (channels / layer->groups))
                     + align_up(out_rows * layer->group_panels * model->kernels->vlen);
        return col + extra;
    }
    default: return 0;
    }
}

/* Whether tensor u is still needed when layer `layer` runs (layer -1: while
 * the inputs are placed, every input is). */
static int live_at(const fr_model *model, int u, int layer)
{
    const fr_tensor *tensor = &model->tensors[u];
    if (layer < 0) return 1;
    return tensor->producer < layer && (tensor->last_reader >= layer || tensor->is_output);
}

/*
 * Each tensor's buffer offset, first fit among the buffers still live when
 * it is made; returns the floats of all buffers.
 */
static size_t plan_buffers(const fr_model *model, int batch, const int *frames,
                           size_t *offsets)
{
    size_t top = 0;
    for (int t = 0; t < model->num_tensors; t++) {
        const int layer = model->tensors[t].producer;
        const size_t size = tensor_floats(model, frames, t, batch);
        size_t at = 0;
        for (int moved = 1; moved;) {
            moved = 0;
            for (int u = 0; u < t; u++) {
                if (!live_at(model, u, layer)) continue;
                size_t end = offsets[u] + tensor_floats(model, frames, u, batch);
                if (offsets[u] < at + size && at < end) {
                    at = end;
                    moved = 1;
                }
            }
        }
        offsets[t] = at;
        if (at + size > top) top = at + size;
    }
    return top;
}

static size_t largest_scratch(const fr_model *model, const int *frames, int batch)
{
    size_t largest = 0;
    for (int l = 0; l < model->num_layers; l++) {
        size_t size = scratch_floats(model, frames, &model->layers[l], batch);
        largest = size > largest ? size : largest;
    }
    return largest;
}

size_t fr_graph_workspace_size(const fr_model *model, int batch, int steps)
{
    int *frames = malloc((model->num_tensors + 1) * sizeof(int));
    size_t *offsets = malloc((model->num_tensors + 1) * sizeof(size_t));
    size_t total = SIZE_MAX;                  /* fails the caller's allocation */
    if (frames != NULL && offsets != NULL) {
        fr_frame_bounds(model, steps, frames);
        total = bookkeeping_floats(model, batch) + plan_buffers(model, batch, frames, offsets)
                + largest_scratch(model, frames, batch);
    }
    free(frames);
    free(offsets);
    return total;
}

void fr_graph_plan(const fr_model *model, int batch, int steps, float *workspace)
{
    bookkeeping books = carve(model, batch, workspace);
    fr_frame_bounds(model, steps, books.frames);
    plan_buffers(model, batch, books.frames, books.offsets);
}

/* --- recurrent layers ------------------------------------------------------------ */

/* One merged frame: out = merge(forward, backward) over a layer's units. */
static void merge_frame(const fr_layer *layer, int padded, int out_padded, const float *f,
                        const float *r, float *o)
{
    const int units = layer->units;
    switch (layer->merge) {
    case FR_MERGE_CONCAT:
        memcpy(o, f, units * sizeof(float));
        memcpy(o + units, r, units * sizeof(float));
        memset(o + 2 * units, 0, (out_padded - 2 * units) * sizeof(float));
        break;
    case FR_MERGE_SUM:
        for (int j = 0; j < padded; j++) o[j] = f[j] + r[j];
        break;
    case FR_MERGE_MUL:
        for (int j = 0; j < padded; j++) o[j] = f[j] * r[j];
        break;
    default:
        for (int j = 0; j < padded; j++) o[j] = 0.5f * (f[j] + r[j]);
        break;
    }
}

/* Sequence b's answer from a recurrent layer's state: h, both directions merged. */
static void final_state(const fr_model *model, int index, int batch, float *state, int b,
                        float *o)
{
    const fr_layer *layer = &model->layers[index];
    const int padded = fr_layer_padded(model, layer);
    const int out_padded = model->tensors[layer->output].padded;
    const int parts = layer->num_parts / layer->directions;
    const float *h = fr_state_part(model, state, batch, index, 0) + (size_t)b * padded;
    if (layer->directions == 2)          /* the backward direction's state: its step at 0 */
        merge_frame(layer, padded, out_padded, h,
                    fr_state_part(model, state, batch, index, parts) + (size_t)b * padded, o);
    else
        memcpy(o, h, padded * sizeof(float));
}

/*
 * One direction of a recurrent layer over `steps` steps of each sequence of
 * `in`: the input projected by one gemm into xproj (batch * steps, P, G, V),
 * then the recurrence. A single sequence into a layer of one input feature
 * projects in the step instead (lstm_one_input, gru_one_input: the same
 * bits, no pass over xproj) where the kernels take the layer, and so does
 * one step of every sequence (a stream's frame: lstm_step_input,
 * gru_step_input, the same bits) where the kernels have that path.
 */
static void run_recurrence(const fr_model *model, const fr_layer *layer, int direction,
                           int batch, const view *in, int steps, float *xproj,
                           const uint8_t *mask, float *h, float *c, float *h_seq,
                           float *gru_scratch, int num_threads)
{
    const fr_kernels *k = model->kernels;
    const ptrdiff_t padded = fr_layer_padded(model, layer);
    const void *w_ih = (const unsigned char *)layer->w_in
                       + (size_t)direction * layer->panels
                         * fr_panel_bytes(k, layer->input_size, layer->gates);
    const float *b_ih = layer->b_in + direction * padded * layer->gates;
    const void *w_hh = layer->w_rec[direction];
    const int reverse = direction == 1 || layer->go_backwards;
    if (batch == 1 && layer->input_size == 1) {
        if (layer->kind == LAYER_LSTM && k->lstm_one_input != NULL
            && k->lstm_one_input(steps, layer->units, reverse, in->data, in->ld, w_ih, b_ih,
                                 w_hh, h, c, h_seq, mask) == FR_OK)
            return;
        if (layer->kind == LAYER_GRU && k->gru_one_input != NULL
            && k->gru_one_input(steps, layer->units, layer->reset_after, reverse, in->data,
                                in->ld, w_ih, b_ih, w_hh, layer->b_rec[direction], h, h_seq,
                                mask) == FR_OK)
            return;
    }
    if (steps == 1 && mask == NULL) {
        if (layer->kind == LAYER_LSTM && k->lstm_step_input != NULL
            && k->lstm_step_input(batch, layer->input_size, layer->units, in->data, in->ld, w_ih,
                                  b_ih, w_hh, h, c, h_seq, num_threads) == FR_OK)
            return;
        if (layer->kind == LAYER_GRU && k->gru_step_input != NULL
            && k->gru_step_input(batch, layer->input_size, layer->units, layer->reset_after,
                                 in->data, in->ld, w_ih, b_ih, w_hh, layer->b_rec[direction], h,
                                 h_seq, num_threads) == FR_OK)
            return;
    }
    k->gemm(batch * steps, layer->input_size, layer->panels, layer->gates, in->data, in->ld,
            w_ih, b_ih, xproj, num_threads);
    const ptrdiff_t x_stride = padded * layer->gates;
    if (layer->kind == LAYER_LSTM)
        k->lstm(batch, steps, layer->units, reverse, xproj, x_stride, w_hh, h, c, h_seq, mask,
                steps, num_threads);
    else if (layer->kind == LAYER_GRU)
        k->gru(batch, steps, layer->units, layer->reset_after, reverse, xproj, x_stride, w_hh,
               layer->b_rec[direction], h, h_seq, gru_scratch, mask, steps, num_threads);
    else
        k->rnn(batch, steps, layer->units, layer->activation == FR_ACT_RELU, reverse, xproj,
               x_stride, w_hh, h, h_seq, mask, steps, num_threads);
}

/*
 * A recurrent layer over the block: outputs every step, or (a layer that
 * ends the sequence, not answering every step) one frame at the end: the
 * final state, both directions merged. step_mask: the run's mask when the
 * layer's input keeps the model input's timing, else NULL.
 */
static void run_recurrent(const fr_model *model, int index, int batch, const view *in,
                          view *out, float *state, float *scratch, const uint8_t *step_mask,
                          int mask_steps, unsigned flags, int num_threads)
{
    const fr_layer *layer = &model->layers[index];
    const int T = in->frames, padded = fr_layer_padded(model, layer);
    const int out_padded = model->tensors[layer->output].padded;
    const int keep = layer->return_sequences || (flags & FR_RUN_EVERY_STEP);
    const size_t rows = (size_t)batch * T;
    float *xproj = scratch;
    float *directions = xproj + align_up(rows * padded * layer->gates);
    float *gru_scratch = directions + align_up(rows * padded * layer->directions);
    uint8_t *mask = (uint8_t *)(gru_scratch + align_up(2 * (size_t)batch * padded));
    const int parts = layer->num_parts / layer->directions;
    const int separate = layer->directions == 2 || layer->go_backwards || !keep;
    out->frames = keep ? T : 0;
    if (T > 0) {
        int ragged = step_mask != NULL;
        for (int b = 0; b < batch && !ragged; b++) ragged = in->counts[b] < T;
        if (ragged)
            for (int b = 0; b < batch; b++)
                for (int t = 0; t < T; t++)
                    mask[(size_t)b * T + t] = t < in->counts[b]
                                              && (step_mask == NULL || t >= mask_steps
                                                  || step_mask[(size_t)b * mask_steps + t]);
        for (int d = 0; d < layer->directions; d++) {
            float *h = fr_state_part(model, state, batch, index, d * parts);
            float *c = parts == 2 ? fr_state_part(model, state, batch, index, d * parts + 1)
                                  : NULL;
            float *h_seq = separate ? directions + (size_t)d * rows * padded : out->data;
            run_recurrence(model, layer, d, batch, in, T, xproj, ragged ? mask : NULL, h, c,
                           h_seq, gru_scratch, num_threads);
            const int backward = d == 1 || layer->go_backwards;
            for (int b = 0; b < batch; b++)
                memcpy(h + (size_t)b * padded,
                       h_seq + ((size_t)b * T + (backward ? 0 : T - 1)) * padded,
                       padded * sizeof(float));
        }
        if (keep && layer->directions == 2)         /* masked steps give zeros (Keras) */
            for (size_t r = 0; r < rows; r++) {
                float *o = out->data + r * out_padded;
                const size_t b = r / T, t = r % T;
                if (step_mask != NULL && t < (size_t)mask_steps && !step_mask[b * mask_steps + t])
                    memset(o, 0, out_padded * sizeof(float));
                else
                    merge_frame(layer, padded, out_padded, directions + r * padded,
                                directions + (rows + r) * padded, o);
            }
        if (keep && layer->go_backwards)     /* each sequence's steps in reading order */
            for (int b = 0; b < batch; b++)
                for (int p = 0; p < in->counts[b]; p++)
                    memcpy(out->data + ((size_t)b * T + p) * out_padded,
                           directions + ((size_t)b * T + in->counts[b] - 1 - p) * padded,
                           padded * sizeof(float));
    }
    const int last = (flags & FR_RUN_FINAL) != 0;
    if (keep) {
        memcpy(out->counts, in->counts, batch * sizeof(int));
        if (layer->return_sequences || !last) return;
        /* A stream's end: the final answer once more where the input gave no frame. */
        if (out->frames == 0) out->frames = 1;
        for (int b = 0; b < batch; b++) {
            if (in->counts[b] > 0) continue;
            out->counts[b] = 1;
            final_state(model, index, batch, state, b, frame_at(out, b, 0));
        }
        return;
    }
    out->frames = last;
    for (int b = 0; b < batch; b++) {
        out->counts[b] = last;
        if (last) final_state(model, index, batch, state, b, out->data + (size_t)b * out_padded);
    }
}

/* --- convolution and pooling ----------------------------------------------------------- */

/* Where frames of one sequence's padded input come from: `lead` padding
 * frames, `held` frames kept in the state, `fresh` frames of this block (from
 * `first` on), `right` padding frames. */
typedef struct {
    int lead, held, fresh, right;
    int replicate;            /* the padding repeats the edge frames, counted as frames */
    const float *kept, *block, *pad_first, *pad_last;
    ptrdiff_t ld_block;
    int channels;
} window_sources;

static const float *window_frame(const window_sources *s, int position)
{
    if (position < s->lead) return s->pad_first;
    position -= s->lead;
    if (position < s->held) return s->kept + (ptrdiff_t)position * s->channels;
    position -= s->held;
    if (position < s->fresh) return s->block + position * s->ld_block;
    return s->pad_last;
}

/* A window's padding for sequence b of this block: (left, right), and
 * whether it repeats the edges. The right padding only comes at the end;
 * TensorFlow's "same" takes both from the length modulo the stride (a whole
 * sequence when the left varies), and so does replicating uneven padding
 * (before the end, from the length so far: no padding is used then). */
static void window_padding(const fr_window *w, const float *counters, int frames, int final,
                           int *left, int *right, int *replicate)
{
    *left = w->pad_left;
    *right = final ? w->pad_right : 0;
    *replicate = w->replicate;
    if (!w->same_length) return;
    int phase = ((int)counters[WINDOW_PHASE] + frames) % w->stride, same_left;
    fr_same_length_padding(w, phase, &same_left, right);
    if (w->replicate_uneven) *replicate = (same_left + *right) % 2;
    if (!w->fixed_left) *left = same_left;
    *right = final ? *right + same_left - *left : 0;
}

/*
 * Where sequence b's padded input stands in this block, `count` frames in
 * (s without its pointers; *dropped: frames of the block skipped before the
 * next window), and the output frames it completes:
 *     frames = floor((lead + held + fresh + right - span) / stride) + 1,
 * none until the sequence has given the window a frame (FED).
 */
static int window_row(const fr_window *w, const float *counters, int count, int final,
                      window_sources *s, int *dropped)
{
    int pad_left, pad_right;
    window_padding(w, counters, count, final, &pad_left, &pad_right, &s->replicate);
    const int skip = (int)counters[WINDOW_SKIP];
    *dropped = skip < count ? skip : count;
    s->lead = pad_left - (int)counters[WINDOW_LEAD_USED];
    s->held = (int)counters[WINDOW_HELD];
    s->fresh = count - *dropped;
    s->right = pad_right;
    if (counters[WINDOW_FED] == 0.0f && count == 0) return 0;
    const int length = s->lead + s->held + s->fresh + s->right;
    return length >= w->span ? (length - w->span) / w->stride + 1 : 0;
}

static void run_window(const fr_model *model, int index, int batch, const view *in, view *out,
                       float *state, float *scratch, unsigned flags, int num_threads)
{
    const fr_layer *layer = &model->layers[index];
    const fr_window *w = &layer->window;
    const int channels = model->tensors[layer->inputs[0]].features;
    const int final = (flags & FR_RUN_FINAL) != 0, kernel = w->kernel;
    float *kept_all = fr_state_part(model, state, batch, index, 0);
    float *counters_all = fr_state_part(model, state, batch, index, 1);
    const size_t kept_floats = (size_t)(w->span - 1) * channels;

    /* How many output frames each sequence completes. */
    int frames = 0;
    for (int b = 0; b < batch; b++) {
        window_sources s;
        int dropped;
        out->counts[b] = window_row(w, counters_all + (size_t)b * WINDOW_COUNTERS,
                                    in->counts[b], final, &s, &dropped);
        frames = out->counts[b] > frames ? out->counts[b] : frames;
    }
    out->frames = frames;
    const size_t out_rows = (size_t)batch * frames, row_floats = (size_t)kernel * channels;
    float *col = scratch, *divisors = col + align_up(out_rows * row_floats);
    float *pad = divisors + align_up(out_rows);
    for (int c = 0; c < channels; c++) pad[c] = w->pad_value;

    for (int b = 0; b < batch; b++) {
        float *counters = counters_all + (size_t)b * WINDOW_COUNTERS;
        float *kept = kept_all + (size_t)b * kept_floats;
        window_sources s;
        int dropped;
        window_row(w, counters, in->counts[b], final, &s, &dropped);
        const int skip = (int)counters[WINDOW_SKIP];
        s.kept = kept;
        s.block = frame_at(in, b, dropped);
        s.pad_first = s.pad_last = pad;
        s.ld_block = in->ld;
        s.channels = channels;
        const int real = s.held + s.fresh;
        if (s.replicate && real > 0) {
            s.pad_first = window_frame(&s, s.lead);
            s.pad_last = window_frame(&s, s.lead + real - 1);
        }
        for (int j = 0; j < frames; j++) {
            float *row = col + ((size_t)b * frames + j) * row_floats;
            if (j >= out->counts[b]) {
                memset(row, 0, row_floats * sizeof(float));
                divisors[(size_t)b * frames + j] = 1.0f;
                continue;
            }
            int inside = 0;
            for (int k = 0; k < kernel; k++) {
                int position = j * w->stride + k * w->dilation;
                memcpy(row + (size_t)k * channels, window_frame(&s, position),
                       channels * sizeof(float));
                inside += position >= s.lead && position < s.lead + real;
            }
            divisors[(size_t)b * frames + j] = w->count_padding || s.replicate ? (float)kernel
                                                                                : (float)inside;
        }
        /* What the next block needs: drop the frames behind the next window;
         * the rest of the frames part is zero (the state is canonical), and all
         * of it at the sequence's end. */
        int consumed = out->counts[b] * w->stride;
        int lead_gone = consumed < s.lead ? consumed : s.lead;
        consumed -= lead_gone;
        if (final) {
            memset(counters, 0, WINDOW_COUNTERS * sizeof(float));
            memset(kept, 0, kept_floats * sizeof(float));
            continue;
        }
        counters[WINDOW_PHASE] = (float)(((int)counters[WINDOW_PHASE] + in->counts[b])
                                         % w->stride);
        counters[WINDOW_LEAD_USED] += (float)lead_gone;
        if (in->counts[b] > 0) counters[WINDOW_FED] = 1.0f;
        int held = 0;
        if (consumed >= real) {
            counters[WINDOW_SKIP] = (float)(skip - dropped + consumed - real);
        } else {
            for (int q = consumed; q < real; q++)   /* moves down: safe in place */
                memmove(kept + (size_t)(q - consumed) * channels, window_frame(&s, s.lead + q),
                        channels * sizeof(float));
            held = real - consumed;
            counters[WINDOW_SKIP] = 0.0f;
        }
        counters[WINDOW_HELD] = (float)held;
        memset(kept + (size_t)held * channels, 0,
               (kept_floats - (size_t)held * channels) * sizeof(float));
    }
    if (frames == 0) return;

    const fr_kernels *k = model->kernels;
    if (layer->kind == LAYER_POOL) {
        k->pool((int)out_rows, kernel, channels, col, row_floats,
                layer->pool == FR_POOL_AVG ? divisors : NULL, out->data, out->ld);
    } else if (layer->groups == 1) {
        k->gemm((int)out_rows, layer->input_size, layer->panels, 1, col, row_floats, layer->w_in,
                layer->b_in, out->data, num_threads);
    } else if (layer->taps != NULL) {
        k->depthwise((int)out_rows, kernel, channels, layer->units / channels, col, row_floats,
                     layer->taps, fr_layer_padded(model, layer), layer->b_in, out->data, out->ld);
    } else {                                    /* groups of channels: one gemm each */
        const int groups = layer->groups, group_in = channels / groups;
        const int group_out = layer->units / groups, vlen = k->vlen;
        float *group_col = pad + align_up((size_t)channels);
        float *group_y = group_col + align_up(out_rows * kernel * group_in);
        const size_t group_weights = fr_panels_bytes(model, layer->group_panels,
                                                     kernel * group_in, 1);
        for (int g = 0; g < groups; g++) {
            for (size_t r = 0; r < out_rows; r++)
                for (int tap = 0; tap < kernel; tap++)
                    memcpy(group_col + (r * kernel + tap) * group_in,
                           col + r * row_floats + (size_t)tap * channels + g * group_in,
                           group_in * sizeof(float));
            k->gemm((int)out_rows, kernel * group_in, layer->group_panels, 1, group_col,
                    kernel * group_in,
                    (const char *)layer->group_w + g * group_weights,
                    layer->group_b + (size_t)g * layer->group_panels * vlen, group_y,
                    num_threads);
            for (size_t r = 0; r < out_rows; r++)
                memcpy(out->data + r * out->ld + g * group_out,
                       group_y + r * layer->group_panels * vlen, group_out * sizeof(float));
        }
    }
}

/* --- the global pool -------------------------------------------------------------------- */

/* The pool so far of one sequence: mean = sum / seen, or the max. */
static void pool_answer(const fr_layer *layer, const float *value, float seen, float *o)
{
    for (int j = 0; j < layer->units; j++)
        o[j] = layer->op == FR_REDUCE_MEAN ? value[j] / seen : value[j];
}

/*
 * The mean or max of every frame of each sequence, running in `values`
 * (sum or max) and `seen` (frames). Whole sequences: one frame at the end.
 * Streams (every step): the pool so far after each frame of the input, and
 * at the end the final pool once more if the input gave no frame then. The
 * end empties the state.
 */
static void run_global_pool(const fr_model *model, int index, int batch, const view *in,
                            view *out, float *state, unsigned flags)
{
    const fr_layer *layer = &model->layers[index];
    const int features = layer->units, every = (flags & FR_RUN_EVERY_STEP) != 0;
    const int final = (flags & FR_RUN_FINAL) != 0;
    float *values = fr_state_part(model, state, batch, index, 0);
    float *seen = fr_state_part(model, state, batch, index, 1);
    out->frames = every ? (final && in->frames == 0 ? 1 : in->frames) : final;
    for (int b = 0; b < batch; b++) {
        float *value = values + (size_t)b * features;
        int made = 0;
        for (int f = 0; f < in->counts[b]; f++) {
            const float *x = frame_at(in, b, f);
            for (int j = 0; j < features; j++) {
                if (seen[b] == 0.0f) value[j] = x[j];
                else if (layer->op == FR_REDUCE_MEAN) value[j] += x[j];
                else value[j] = x[j] > value[j] || x[j] != x[j] ? x[j] : value[j];
            }
            seen[b] += 1.0f;
            if (every) pool_answer(layer, value, seen[b], frame_at(out, b, made++));
        }
        if (final && made == 0 && seen[b] > 0.0f)
            pool_answer(layer, value, seen[b], frame_at(out, b, made++));
        out->counts[b] = made;
        if (final) {
            memset(value, 0, features * sizeof(float));
            seen[b] = 0.0f;
        }
    }
}

/* --- merges -------------------------------------------------------------------------- */

/* One output frame of a binary or concat layer from its inputs' frames. */
static void merge_one(const fr_model *model, const fr_layer *layer, const float *const *frames,
                      float *o)
{
    if (layer->kind == LAYER_CONCAT) {
        size_t at = 0;
        for (int i = 0; i < layer->num_inputs; i++) {
            const int features = model->tensors[layer->inputs[i]].features;
            memcpy(o + at, frames[i], features * sizeof(float));
            at += features;
        }
        return;
    }
    model->kernels->binary(layer->op, 1, layer->units, frames[0], 0, frames[1], 0,
                           model->tensors[layer->inputs[1]].features, 0, o, 0);
}

/*
 * A binary or concat layer. Inputs in step (no queues, equal frames): one
 * pass. Otherwise sequence by sequence: each input's waiting frames, then
 * this block's; as many frames out as the input with the fewest has; the
 * rest wait (dropped at the sequence's end). Of tensors with one frame per
 * sequence (answers so far, in a stream), the last frame at the end pairs
 * each input's last: the final answers.
 */
static void run_merge(const fr_model *model, int index, int batch, const view *views,
                      view *out, float *state, unsigned flags)
{
    const fr_layer *layer = &model->layers[index];
    const view *in[FR_MAX_INPUTS] = {&views[layer->inputs[0]]};
    int queued = 0, same_frames = 1;
    for (int i = 0; i < layer->num_inputs; i++) {
        in[i] = &views[layer->inputs[i]];
        queued |= layer->queue_frames[i] > 0;
        same_frames &= in[i]->frames == in[0]->frames;
    }
    const int final = (flags & FR_RUN_FINAL) != 0;
    const int answers = final && model->tensors[layer->output].rate == 0;
    if (!queued && same_frames && !answers) {
        out->frames = in[0]->frames;
        for (int b = 0; b < batch; b++) {
            out->counts[b] = in[0]->counts[b];
            for (int i = 1; i < layer->num_inputs; i++)
                if (in[i]->counts[b] < out->counts[b]) out->counts[b] = in[i]->counts[b];
        }
        const int rows = batch * out->frames;
        if (layer->kind == LAYER_BINARY) {
            model->kernels->binary(layer->op, rows, layer->units, in[0]->data, in[0]->ld,
                                   in[1]->data, in[1]->ld,
                                   model->tensors[layer->inputs[1]].features, 0, out->data,
                                   out->ld);
            return;
        }
        for (int r = 0; r < rows; r++) {
            const float *frames[FR_MAX_INPUTS];
            for (int i = 0; i < layer->num_inputs; i++) frames[i] = in[i]->data + r * in[i]->ld;
            merge_one(model, layer, frames, out->data + r * out->ld);
        }
        return;
    }
    /* queues: part 2q holds input i's waiting frames, part 2q + 1 their count */
    float *queues[FR_MAX_INPUTS], *counts[FR_MAX_INPUTS];
    for (int i = 0, part = 0; i < layer->num_inputs; i++) {
        queues[i] = counts[i] = NULL;
        if (layer->queue_frames[i] == 0) continue;
        queues[i] = fr_state_part(model, state, batch, index, part++);
        counts[i] = fr_state_part(model, state, batch, index, part++);
    }
    int frames = 0;
    for (int b = 0; b < batch; b++) {
        int fewest = -1;
        for (int i = 0; i < layer->num_inputs; i++) {
            int available = in[i]->counts[b] + (counts[i] ? (int)counts[i][b] : 0);
            fewest = fewest < 0 || available < fewest ? available : fewest;
        }
        out->counts[b] = fewest;
        frames = fewest > frames ? fewest : frames;
    }
    out->frames = frames;
    for (int b = 0; b < batch; b++) {
        for (int f = 0; f < out->counts[b]; f++) {
            const float *sources[FR_MAX_INPUTS];
            for (int i = 0; i < layer->num_inputs; i++) {
                const int features = model->tensors[layer->inputs[i]].features;
                const int waiting = counts[i] ? (int)counts[i][b] : 0;
                const int g = answers && f == out->counts[b] - 1
                              ? waiting + in[i]->counts[b] - 1 : f;
                sources[i] = g < waiting
                             ? queues[i] + ((size_t)b * layer->queue_frames[i] + g) * features
                             : frame_at(in[i], b, g - waiting);
            }
            merge_one(model, layer, sources, frame_at(out, b, f));
        }
        for (int i = 0; i < layer->num_inputs; i++) {    /* what is left waits */
            if (!queues[i]) continue;
            const int features = model->tensors[layer->inputs[i]].features;
            const int capacity = layer->queue_frames[i];
            float *queue = queues[i] + (size_t)b * capacity * features;
            const int waiting = (int)counts[i][b];
            int left = final ? 0 : waiting + in[i]->counts[b] - out->counts[b];
            left = left < capacity ? left : capacity;
            for (int q = 0; q < left; q++) {
                int f = out->counts[b] + q;
                const float *src = f < waiting ? queue + (size_t)f * features
                                               : frame_at(in[i], b, f - waiting);
                memmove(queue + (size_t)q * features, src, features * sizeof(float));
            }
            /* the rest of the queue is zero: the state is canonical */
            memset(queue + (size_t)left * features, 0,
                   (size_t)(capacity - left) * features * sizeof(float));
            counts[i][b] = (float)left;
        }
    }
}

/* --- one block ------------------------------------------------------------------------- */

static void run_frames(const fr_model *model, const fr_layer *layer, int batch, const view *in,
                       view *out)
{
    const fr_kernels *k = model->kernels;
    const int rows = batch * in->frames, features = model->tensors[layer->inputs[0]].features;
    out->frames = in->frames;
    memcpy(out->counts, in->counts, batch * sizeof(int));
    if (rows == 0) return;
    switch (layer->kind) {
    case LAYER_DENSE:
        if (layer->w_unit != NULL)
            k->dense_unit(rows, layer->input_size, in->data, in->ld, layer->w_unit,
                          layer->b_in[0], out->data, out->ld);
        else
            k->gemm(rows, layer->input_size, layer->panels, 1, in->data, in->ld, layer->w_in,
                    layer->b_in, out->data, 1);
        k->dense_activation(rows, layer->units, (int)out->ld, layer->activation, out->data);
        break;
    case LAYER_UNARY:
        k->unary(layer->op, layer->alpha, layer->beta, layer->vectors[0], layer->num_values,
                 rows, features, in->data, in->ld, out->data, out->ld);
        break;
    case LAYER_AFFINE:
        k->affine(rows, features, in->data, in->ld, layer->vectors[0], layer->vectors[1],
                  out->data, out->ld);
        break;
    case LAYER_LAYER_NORM:
        k->layer_norm(rows, features, in->data, in->ld, layer->vectors[0], layer->vectors[1],
                      layer->eps, out->data, out->ld);
        break;
    case LAYER_REDUCE:
        k->reduce(layer->op, rows, features, in->data, in->ld, out->data, out->ld);
        break;
    case LAYER_SLICE:
        for (int r = 0; r < rows; r++)
            memcpy(out->data + r * out->ld, in->data + r * in->ld + layer->begin,
                   layer->units * sizeof(float));
        break;
    default:                                    /* a binary layer with a constant */
        k->binary(layer->op, rows, features, in->data, in->ld, layer->vectors[0], 0,
                  layer->num_values, layer->constant_first, out->data, out->ld);
        break;
    }
}

void fr_graph_run(const fr_model *model, const fr_run *run, int planned_batch, float *state,
                  float *workspace)
{
    const int batch = run->batch, steps = run->steps;
    bookkeeping books = carve(model, planned_batch, workspace);
    view *views = books.views;
    float *scratch = books.buffers;
    for (int t = 0; t < model->num_tensors; t++) {
        const size_t end = books.offsets[t] + tensor_floats(model, books.frames, t,
                                                            planned_batch);
        scratch = books.buffers + end > scratch ? books.buffers + end : scratch;
        views[t].data = books.buffers + books.offsets[t];
        views[t].ld = model->tensors[t].padded;
        views[t].counts = books.counts + (size_t)t * planned_batch;
        views[t].frames = 0;
    }
    /* Model inputs: each sequence's frames of this block, then zeros. */
    for (int i = 0; i < model->num_inputs; i++) {
        view *v = &views[i];
        const int features = model->tensors[i].features;
        v->frames = steps;
        for (int b = 0; b < batch; b++) {
            const int row = run->rows ? run->rows[b] : b;
            v->counts[b] = run->counts ? run->counts[b] : steps;
            if (v->counts[b] > 0)               /* (a flush has no input frames, nor x) */
                memcpy(frame_at(v, b, 0), run->x[i] + (size_t)row * run->x_steps * features,
                       (size_t)v->counts[b] * features * sizeof(float));
        }
        zero_tails(v, batch);
    }
    for (int l = 0; l < model->num_layers; l++) {
        const fr_layer *layer = &model->layers[l];
        const view *in = &views[layer->inputs[0]];
        view *out = &views[layer->output];
        const fr_tensor *source = &model->tensors[layer->inputs[0]];
        switch (layer->kind) {
        case LAYER_LSTM: case LAYER_GRU: case LAYER_RNN: {
            const int timed = source->in_step;
            run_recurrent(model, l, batch, in, out, state, scratch, timed ? run->mask : NULL,
                          run->mask_steps, run->flags, run->num_threads);
            break;
        }
        case LAYER_CONV: case LAYER_POOL:
            run_window(model, l, batch, in, out, state, scratch, run->flags, run->num_threads);
            break;
        case LAYER_GLOBAL_POOL:
            run_global_pool(model, l, batch, in, out, state, run->flags);
            break;
        case LAYER_CONCAT:
            run_merge(model, l, batch, views, out, state, run->flags);
            break;
        case LAYER_BINARY:
            if (layer->num_inputs == 2) {
                run_merge(model, l, batch, views, out, state, run->flags);
                break;
            }
            run_frames(model, layer, batch, in, out);
            break;
        default:
            run_frames(model, layer, batch, in, out);
            break;
        }
        zero_tails(out, batch);
    }
    /* Outputs: each sequence's frames after those earlier blocks wrote. */
    for (int o = 0; o < model->num_outputs; o++) {
        const view *v = &views[model->outputs[o]];
        const int features = model->tensors[model->outputs[o]].features;
        for (int b = 0; b < batch; b++) {
            const int row = run->rows ? run->rows[b] : b;
            int *written = &run->y_offset[(size_t)o * run->y_batch + row];
            int n = v->counts[b];
            if (*written + n > run->frames[o]) n = run->frames[o] - *written;
            const float *from = frame_at(v, b, 0);
            float *to = run->y[o] + ((size_t)row * run->frames[o] + *written) * features;
            for (int f = 0; f < n; f++)         /* (a loop: a frame may be one float) */
                for (int j = 0; j < features; j++)
                    to[(size_t)f * features + j] = from[f * v->ld + j];
            *written += n;
        }
    }
}

/* --- whole runs: blocks ------------------------------------------------------------- */

/* Blocks keep the workspace near this size, so that it stays in cache. */
#define FR_BLOCK_BYTES (4 << 20)

/* The longest block (up to 2^16 steps) whose workspace stays near FR_BLOCK_BYTES. */
int fr_longest_block(const fr_model *model, int batch)
{
    const size_t target = FR_BLOCK_BYTES / sizeof(float);
    int low = 1, high = 1 << 16;                /* workspace(low) fits, or low = 1 */
    if (fr_graph_workspace_size(model, batch, high) <= target) return high;
    while (high - low > 1) {
        int middle = low + (high - low) / 2;
        if (fr_graph_workspace_size(model, batch, middle) <= target) low = middle;
        else high = middle;
    }
    return low;
}

int fr_block_steps(const fr_model *model, int batch, int steps)
{
    if (steps <= 1 || fr_model_needs_sequences(model)) return steps;
    const int longest = fr_longest_block(model, batch);
    return steps < longest ? steps : longest;
}

/* Before the graph's workspace: each sequence's steps in the block, and the
 * inputs' pointers at the block. */
static size_t run_extras_floats(const fr_model *model, int batch)
{
    return floats_for(batch, sizeof(int)) + floats_for(model->num_inputs, sizeof(float *));
}

size_t fr_model_workspace_size(const fr_model *model, int batch, int steps)
{
    if (model == NULL || batch < 0 || steps < 0) return 0;
    size_t graph = fr_graph_workspace_size(model, batch, fr_block_steps(model, batch, steps));
    return graph == SIZE_MAX ? graph : graph + run_extras_floats(model, batch);
}

fr_status fr_model_run(const fr_model *model, int batch, int steps, const float *const *x,
                       const int *counts, const uint8_t *mask, float *const *y,
                       const int *frames, int *y_counts, float *state, float *workspace,
                       unsigned flags, int num_threads)
{
    if (model == NULL || model->num_outputs == 0 || batch < 1 || steps < 0 || x == NULL
        || y == NULL || frames == NULL || y_counts == NULL || state == NULL || workspace == NULL
        || (flags & ~(FR_RUN_EVERY_STEP | FR_RUN_FINAL)))
        return FR_ERR_ARG;
    for (int i = 0; i < model->num_inputs; i++)
        if (x[i] == NULL) return FR_ERR_ARG;
    for (int o = 0; o < model->num_outputs; o++)
        if (y[o] == NULL || frames[o] < 0) return FR_ERR_ARG;
    for (int b = 0; counts != NULL && b < batch; b++)
        if (counts[b] < 0 || counts[b] > steps) return FR_ERR_ARG;
    if (mask != NULL)
        for (int o = 0; o < model->num_outputs; o++) {
            const fr_tensor *out = &model->tensors[model->outputs[o]];
            if (out->rate != 0 && !out->in_step) return FR_ERR_LAYOUT;
        }
    if (num_threads < 1) num_threads = 1;

    for (int o = 0; o < model->num_outputs; o++) {
        memset(y[o], 0, (size_t)batch * frames[o] * model->tensors[model->outputs[o]].features
                        * sizeof(float));
        memset(y_counts + (size_t)o * batch, 0, batch * sizeof(int));
    }
    const int block = steps > 0 ? fr_block_steps(model, batch, steps) : 0;
    int *block_counts = (int *)workspace;
    const float **block_x = (const float **)(workspace + floats_for(batch, sizeof(int)));
    workspace += run_extras_floats(model, batch);
    fr_graph_plan(model, batch, block, workspace);
    for (int t0 = 0; t0 < steps || (t0 == 0 && steps == 0); t0 += block) {
        const int n = steps - t0 < block ? steps - t0 : block;
        for (int b = 0; b < batch; b++) {
            int left = (counts != NULL ? counts[b] : steps) - t0;
            block_counts[b] = left < 0 ? 0 : left < n ? left : n;
        }
        for (int i = 0; i < model->num_inputs; i++)
            block_x[i] = x[i] + (size_t)t0 * model->tensors[i].features;
        const int last = t0 + n >= steps;
        fr_run run = {batch, n, NULL, block_x, steps, block_counts,
                      mask != NULL ? mask + t0 : NULL, steps, y, frames, y_counts, batch,
                      (flags & FR_RUN_EVERY_STEP) | (last ? flags & FR_RUN_FINAL : 0),
                      num_threads};
        fr_graph_run(model, &run, batch, state, workspace);
        if (steps == 0) break;
    }
    return FR_OK;
}
