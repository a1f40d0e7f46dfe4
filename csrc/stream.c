/*
 * stream.c - a model fed a few steps at a time, state carried between calls
 * (see fastrnn.h).
 *
 * A run goes through its steps in blocks (fr_block_steps), so the workspace
 * never grows past what one block needs. With an active mask, the active
 * rows' state is gathered into a compact state, the blocks run over those
 * rows only (reading their rows of x, writing their rows of y), and the
 * state is scattered back, so idle rows cost only the copies. Every check
 * happens before the state is touched.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastrnn.h"
#include "model.h"

struct fr_stream {
    const fr_model *model;
    int batch, check_finite;
    float *state;            /* fr_model_state_size(model, batch) */
    float *compact_state;    /* the same size, for active rows */
    int *rows;               /* batch: indices of the active rows */
    const float **block_x;   /* the inputs at the current block */
    int longest_block;       /* fr_longest_block(model, batch) */
    int capacity_steps;      /* the workspace is planned for blocks this long */
    float *workspace;
};

void fr_stream_destroy(fr_stream *stream)
{
    if (stream == NULL) return;
    fr_free_floats(stream->state);
    fr_free_floats(stream->compact_state);
    fr_free_floats(stream->workspace);
    free(stream->rows);
    free(stream->block_x);
    free(stream);
}

/* A workspace planned for blocks of up to `steps` steps of every row. */
static fr_status reserve(fr_stream *stream, int steps)
{
    if (steps <= stream->capacity_steps && stream->workspace != NULL) return FR_OK;
    size_t size = fr_graph_workspace_size(stream->model, stream->batch, steps);
    float *workspace = size == SIZE_MAX ? NULL : fr_alloc_floats(size);
    if (workspace == NULL) return FR_ERR_NOMEM;
    fr_free_floats(stream->workspace);
    stream->workspace = workspace;
    stream->capacity_steps = steps;
    fr_graph_plan(stream->model, stream->batch, steps, workspace);
    return FR_OK;
}

fr_status fr_stream_create(fr_stream **created, const fr_model *model, int batch,
                           int check_finite)
{
    if (created == NULL) return FR_ERR_ARG;
    *created = NULL;
    if (model == NULL || fr_model_num_outputs(model) == 0 || batch < 1) return FR_ERR_ARG;
    if (fr_model_needs_sequences(model)) return FR_ERR_SEQUENCE;
    fr_stream *stream = calloc(1, sizeof *stream);
    if (stream == NULL) return FR_ERR_NOMEM;
    stream->model = model;
    stream->batch = batch;
    stream->check_finite = check_finite != 0;
    stream->longest_block = fr_longest_block(model, batch);
    size_t state = fr_model_state_size(model, batch);
    stream->state = fr_alloc_floats(state);
    stream->compact_state = fr_alloc_floats(state);
    stream->rows = malloc((size_t)batch * sizeof(int));
    stream->block_x = malloc((size_t)(model->num_inputs + 1) * sizeof(float *));
    if (stream->state == NULL || stream->compact_state == NULL || stream->rows == NULL
        || stream->block_x == NULL || reserve(stream, 1) != FR_OK) {
        fr_stream_destroy(stream);
        return FR_ERR_NOMEM;
    }
    memset(stream->state, 0, state * sizeof(float));
    *created = stream;
    return FR_OK;
}

/*
 * Copy the state rows listed in `rows` between the full state (stream->batch
 * rows) and a compact one (count rows), part by part.
 */
static void move_state_rows(const fr_stream *stream, const int *rows, int count,
                            float *compact, int to_compact)
{
    const fr_model *model = stream->model;
    for (int l = 0; l < model->num_layers; l++) {
        const fr_layer *layer = &model->layers[l];
        for (int part = 0; part < layer->num_parts; part++) {
            const size_t floats = fr_part_floats(layer, part);
            float *full = fr_state_part(model, stream->state, stream->batch, l, part);
            float *packed = fr_state_part(model, compact, count, l, part);
            for (int i = 0; i < count; i++) {
                float *full_row = full + rows[i] * floats, *compact_row = packed + i * floats;
                if (to_compact)
                    memcpy(compact_row, full_row, floats * sizeof(float));
                else
                    memcpy(full_row, compact_row, floats * sizeof(float));
            }
        }
    }
}

int fr_all_finite(const float *x, size_t n)
{
    const uint32_t exponent = 0x7f800000u;
    uint32_t nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, x + i, sizeof bits);
        nonfinite |= (bits & exponent) == exponent;
    }
    return nonfinite == 0;
}

fr_status fr_stream_run(fr_stream *stream, int steps, const float *const *x, float *const *y,
                        const int *frames, int *y_counts, const unsigned char *active,
                        unsigned flags, int num_threads)
{
    if (stream == NULL || steps < 0 || y == NULL || frames == NULL || y_counts == NULL
        || (steps > 0 && x == NULL) || (flags & ~FR_RUN_FINAL))
        return FR_ERR_ARG;
    const fr_model *model = stream->model;
    for (int i = 0; steps > 0 && i < model->num_inputs; i++)
        if (x[i] == NULL) return FR_ERR_ARG;
    for (int o = 0; o < model->num_outputs; o++)
        if (y[o] == NULL || frames[o] < 0) return FR_ERR_ARG;
    int count = 0;
    for (int b = 0; b < stream->batch; b++)
        if (active == NULL || active[b]) stream->rows[count++] = b;
    for (int i = 0; stream->check_finite && i < model->num_inputs && steps > 0; i++) {
        const size_t row = (size_t)steps * model->tensors[i].features;
        for (int r = 0; r < count; r++)
            if (!fr_all_finite(x[i] + stream->rows[r] * row, row)) return FR_ERR_NONFINITE;
    }
    const int block = steps < stream->longest_block ? (steps > 0 ? steps : 1)
                                                    : stream->longest_block;
    fr_status status = reserve(stream, block);
    if (status != FR_OK) return status;

    for (int o = 0; o < model->num_outputs; o++) {
        memset(y[o], 0, (size_t)stream->batch * frames[o]
                        * model->tensors[model->outputs[o]].features * sizeof(float));
        memset(y_counts + (size_t)o * stream->batch, 0, stream->batch * sizeof(int));
    }
    if (count == 0) return FR_OK;
    const int compact = count < stream->batch;
    float *state = compact ? stream->compact_state : stream->state;
    if (compact) move_state_rows(stream, stream->rows, count, state, 1);
    for (int t0 = 0; t0 < steps || t0 == 0; t0 += block) {
        const int n = steps - t0 < block ? steps - t0 : block;
        for (int i = 0; i < model->num_inputs; i++)
            stream->block_x[i] = steps > 0 ? x[i] + (size_t)t0 * model->tensors[i].features
                                           : NULL;
        const int last = t0 + n >= steps;
        fr_run run = {count, n, compact ? stream->rows : NULL, stream->block_x, steps, NULL,
                      NULL, 0, y, frames, y_counts, stream->batch,
                      FR_RUN_EVERY_STEP | (last ? flags & FR_RUN_FINAL : 0), num_threads};
        fr_graph_run(model, &run, stream->batch, state, stream->workspace);
        if (steps == 0) break;
    }
    /* FR_RUN_FINAL: the graph left the state as at the sequences' end (recurrent
     * states final, windows, queues and pools empty), where the next run starts. */
    if (compact) move_state_rows(stream, stream->rows, count, state, 0);
    return FR_OK;
}

fr_status fr_stream_reset(fr_stream *stream, const int *rows, int count)
{
    if (stream == NULL || (rows != NULL && (count < 0 || count > stream->batch)))
        return FR_ERR_ARG;
    const size_t total = fr_model_state_size(stream->model, stream->batch);
    if (rows == NULL) {
        memset(stream->state, 0, total * sizeof(float));
        return FR_OK;
    }
    for (int i = 0; i < count; i++)
        if (rows[i] < 0 || rows[i] >= stream->batch) return FR_ERR_ARG;
    /* Zero the rows through the compact path: gather nothing, scatter zeros. */
    memset(stream->compact_state, 0, total * sizeof(float));
    move_state_rows(stream, rows, count, stream->compact_state, 0);
    return FR_OK;
}

fr_status fr_stream_get_state(const fr_stream *stream, int layer, int part, float *dst)
{
    if (stream == NULL) return FR_ERR_ARG;
    return fr_model_get_state(stream->model, stream->state, stream->batch, layer, part, dst);
}

fr_status fr_stream_set_state(fr_stream *stream, int layer, int part, const float *src)
{
    if (stream == NULL) return FR_ERR_ARG;
    return fr_model_set_state(stream->model, stream->state, stream->batch, layer, part, src);
}
