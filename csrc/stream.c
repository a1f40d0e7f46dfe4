/*
 * stream.c - a model fed a few steps at a time, state carried between calls
 * (see fastrnn.h).
 *
 * A run with every row active goes straight to fr_model_run on the stream's
 * state. With an active mask, the active rows of x and of the state are
 * gathered into compact buffers, run as a smaller batch, and scattered back,
 * so idle rows cost only the copies. Every check happens before the state is
 * touched.
 */
#include <math.h>
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
    /* Grown to the largest `steps` seen: */
    int capacity_steps;
    float *workspace, *compact_x, *compact_y;
};

void fr_stream_destroy(fr_stream *stream)
{
    if (stream == NULL) return;
    fr_free_floats(stream->state);
    fr_free_floats(stream->compact_state);
    fr_free_floats(stream->workspace);
    fr_free_floats(stream->compact_x);
    fr_free_floats(stream->compact_y);
    free(stream->rows);
    free(stream);
}

/* Buffers for runs of up to `steps` steps of up to `batch` rows. */
static fr_status reserve(fr_stream *stream, int steps)
{
    if (steps <= stream->capacity_steps) return FR_OK;
    const fr_model *model = stream->model;
    size_t workspace = 0;
    for (int n = 1; n <= stream->batch; n++) {  /* not monotonic in n: block sizes round */
        size_t size = fr_model_workspace_size(model, n, steps);
        workspace = size > workspace ? size : workspace;
    }
    size_t rows = (size_t)stream->batch * steps;
    float *new_workspace = fr_alloc_floats(workspace);
    float *new_x = fr_alloc_floats(rows * model->input_size);
    float *new_y = fr_alloc_floats(rows * fr_model_output_size(model));
    if (new_workspace == NULL || new_x == NULL || new_y == NULL) {
        fr_free_floats(new_workspace);
        fr_free_floats(new_x);
        fr_free_floats(new_y);
        return FR_ERR_NOMEM;
    }
    fr_free_floats(stream->workspace);
    fr_free_floats(stream->compact_x);
    fr_free_floats(stream->compact_y);
    stream->workspace = new_workspace;
    stream->compact_x = new_x;
    stream->compact_y = new_y;
    stream->capacity_steps = steps;
    return FR_OK;
}

fr_status fr_stream_create(fr_stream **created, const fr_model *model, int batch,
                           int check_finite)
{
    if (created == NULL) return FR_ERR_ARG;
    *created = NULL;
    if (model == NULL || fr_model_num_layers(model) == 0 || batch < 1) return FR_ERR_ARG;
    if (fr_model_needs_sequences(model)) return FR_ERR_SEQUENCE;
    fr_stream *stream = calloc(1, sizeof *stream);
    if (stream == NULL) return FR_ERR_NOMEM;
    stream->model = model;
    stream->batch = batch;
    stream->check_finite = check_finite != 0;
    size_t state = fr_model_state_size(model, batch);
    stream->state = fr_alloc_floats(state);
    stream->compact_state = fr_alloc_floats(state);
    stream->rows = malloc((size_t)batch * sizeof(int));
    if (stream->state == NULL || stream->compact_state == NULL || stream->rows == NULL
        || reserve(stream, 1) != FR_OK) {
        fr_stream_destroy(stream);
        return FR_ERR_NOMEM;
    }
    memset(stream->state, 0, state * sizeof(float));
    *created = stream;
    return FR_OK;
}

/*
 * Copy the state rows listed in `rows` between the full state (stream->batch
 * rows) and a compact one (count rows), layer part by layer part.
 */
static void move_state_rows(const fr_stream *stream, const int *rows, int count,
                            float *compact, int to_compact)
{
    const fr_model *model = stream->model;
    for (int l = 0; l < model->num_layers; l++) {
        const fr_layer *layer = &model->layers[l];
        const size_t padded = (size_t)fr_layer_padded(model, layer);
        for (int part = 0; part < fr_layer_state_parts(layer); part++) {
            float *full = fr_state_part(model, stream->state, stream->batch, l, part);
            float *packed = fr_state_part(model, compact, count, l, part);
            for (int i = 0; i < count; i++) {
                float *full_row = full + rows[i] * padded, *compact_row = packed + i * padded;
                if (to_compact)
                    memcpy(compact_row, full_row, padded * sizeof(float));
                else
                    memcpy(full_row, compact_row, padded * sizeof(float));
            }
        }
    }
}

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

fr_status fr_stream_run(fr_stream *stream, int steps, const float *x, float *y,
                        const unsigned char *active, int num_threads)
{
    if (stream == NULL || steps < 0 || (steps > 0 && (x == NULL || y == NULL)))
        return FR_ERR_ARG;
    if (steps == 0) return FR_OK;
    const fr_model *model = stream->model;
    const size_t x_row = (size_t)steps * model->input_size;
    const size_t y_row = (size_t)steps * fr_model_output_size(model);
    int count = 0;
    for (int b = 0; b < stream->batch; b++)
        if (active == NULL || active[b]) stream->rows[count++] = b;
    if (stream->check_finite)
        for (int i = 0; i < count; i++)
            if (!all_finite(x + stream->rows[i] * x_row, x_row)) return FR_ERR_NONFINITE;
    fr_status status = reserve(stream, steps);
    if (status != FR_OK) return status;

    if (count == stream->batch)
        return fr_model_run(model, count, steps, x, NULL, y, stream->state, stream->workspace,
                            FR_RUN_EVERY_STEP, num_threads);

    memset(y, 0, stream->batch * y_row * sizeof(float));
    if (count == 0) return FR_OK;
    for (int i = 0; i < count; i++)
        memcpy(stream->compact_x + i * x_row, x + stream->rows[i] * x_row, x_row * sizeof(float));
    move_state_rows(stream, stream->rows, count, stream->compact_state, 1);
    status = fr_model_run(model, count, steps, stream->compact_x, NULL, stream->compact_y,
                          stream->compact_state, stream->workspace, FR_RUN_EVERY_STEP,
                          num_threads);
    if (status != FR_OK) return status;
    move_state_rows(stream, stream->rows, count, stream->compact_state, 0);
    for (int i = 0; i < count; i++)
        memcpy(y + stream->rows[i] * y_row, stream->compact_y + i * y_row, y_row * sizeof(float));
    return FR_OK;
}

fr_status fr_stream_reset(fr_stream *stream, const int *rows, int count)
{
    if (stream == NULL || (rows != NULL && count < 0)) return FR_ERR_ARG;
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
