/*
 * model.h - the graph inside an fr_model (internal: model.c builds it,
 * graph.c runs it, stream.c moves rows of its state).
 *
 * Tensors: the model's inputs, then one per layer (its output). Layers are
 * kept in the order they were added, a topological order.
 *
 * State layout for `batch` sequences: for each layer in order, its parts
 * (fastrnn.h, fr_model_layer_state_parts), each (batch, frames * width)
 * floats, `width` the part's row width (a recurrent state's padded units,
 * zero beyond the units). fr_state_part() is the one place that walks it.
 */
#ifndef FASTRNN_MODEL_H
#define FASTRNN_MODEL_H

#include "fastrnn.h"
#include "kernels.h"

#define FR_ALIGN 64 /* bytes: one cache line, one zmm register */
#define FR_ALIGN_FLOATS (FR_ALIGN / sizeof(float))
#define FR_MAX_INPUTS 16                      /* tensors one layer reads (a concat) */
#define FR_MAX_PARTS (2 * FR_MAX_INPUTS)      /* state parts of one layer */

typedef enum {
    LAYER_LSTM, LAYER_GRU, LAYER_RNN, LAYER_DENSE, LAYER_CONV, LAYER_POOL, LAYER_GLOBAL_POOL,
    LAYER_UNARY, LAYER_AFFINE, LAYER_LAYER_NORM, LAYER_BINARY, LAYER_CONCAT, LAYER_SLICE,
    LAYER_REDUCE
} layer_kind;

typedef struct {
    int features;
    int padded;            /* floats per frame in a buffer: features rounded up to whole
                              vectors (a model input: features) */
    int rate, delay;       /* see fastrnn.h; rate 0: one frame per sequence */
    int stream_rate, stream_delay, in_step;   /* fr_model_stream_timing: the frames a
                                                 stream gives (an ending layer's follow
                                                 its input's) */
    int producer;          /* the layer that makes it, -1 for a model input */
    int last_reader;       /* the last layer that reads it, -1 if none */
    int is_output;
} fr_tensor;

/* The window a convolution or pooling slides over time. */
typedef struct {
    int kernel, stride, dilation;
    int pad_left, pad_right;   /* same_length: pad_left if fixed_left, pad_right unused */
    int same_length;           /* FR_PAD_SAME_LENGTH: padding from each sequence's length */
    int fixed_left;            /* same_length, and the left padding is the same for every
                                  length: the window streams (the right padding comes from
                                  the length modulo the stride, the position's PHASE) */
    int span;                  /* (kernel - 1) dilation + 1 frames */
    float pad_value;           /* 0, or -inf for a max pool */
    int replicate;             /* pad with copies of the first and last frames */
    int replicate_uneven;      /* same_length: replicate when the total padding is odd */
    int count_padding;         /* average: divide by the kernel */
} fr_window;

/* What a state part holds (fastrnn.h, fr_part_kind): any floats, or counters
 * set_state checks. */
typedef enum {
    PART_VALUES = FR_PART_VALUES,            /* states, frames, running sums */
    PART_WINDOW_POSITION = FR_PART_POSITION, /* a window's WINDOW_COUNTERS */
    PART_COUNT = FR_PART_COUNT               /* frames seen (global pool) or waiting (merge
                                                queue) */
} part_kind;

typedef struct {
    layer_kind kind;
    int inputs[FR_MAX_INPUTS], num_inputs;
    int output;                /* tensor */

    /* LSTM, GRU, RNN, DENSE; CONV with groups == 1 (w_in panels over kernel x
     * channels inputs). units: hidden size or output features. */
    int input_size, units, gates, panels;
    int reset_after, return_sequences, go_backwards, directions;
    fr_merge merge;
    fr_activation activation;  /* Dense; SimpleRNN: tanh or relu */
    void *w_in;                /* (directions * P, input_size, gates, V), model's precision */
    float *b_in;               /* (directions * P, gates, V) */
    float *w_unit;             /* DENSE of one unit: its weights (input_size), float32 in
                                  every precision (dense_unit's dot product) */
    void *w_rec[2];            /* recurrent panels of each direction, model's precision */
    float *b_rec[2];           /* b_hn (P, V) of each direction for GRU reset_after */

    /* CONV, POOL */
    fr_window window;
    fr_pool pool;
    int groups;                /* CONV: 1 (gemm), in_channels (depthwise) or between */
    float *taps;               /* depthwise: w as (kernel, padded out channels) */
    void *group_w;             /* groups between: per group, panels over kernel x group inputs */
    float *group_b;            /* per group (group panels, V) */
    int group_panels;          /* panels of one group's outputs */

    /* UNARY, BINARY, AFFINE, LAYER_NORM, REDUCE, SLICE, GLOBAL_POOL */
    int op;                    /* fr_unary, fr_binary or fr_reduce */
    float alpha, beta, eps;
    float *vectors[2];         /* PReLU slopes; affine scale, shift; layer norm gamma,
                                  beta; a binary constant (vectors[0]) */
    int num_values;            /* of vectors[0] (PReLU slopes, a binary constant) */
    int constant_first;        /* binary constant: v op a */
    int begin;                 /* SLICE: first feature */

    /* BINARY, CONCAT: frames input i may wait in a queue (0: it never runs
     * ahead of the others) */
    int queue_frames[FR_MAX_INPUTS];

    /* state: parts of one sequence, frames x width floats each */
    int num_parts;
    int part_frames[FR_MAX_PARTS], part_width[FR_MAX_PARTS], part_features[FR_MAX_PARTS];
    part_kind part_kinds[FR_MAX_PARTS];
    int part_inputs[FR_MAX_PARTS];   /* the input a merge queue part holds frames of, or -1 */
} fr_layer;

struct fr_model {
    fr_precision precision;
    const fr_kernels *kernels;
    int num_inputs, num_outputs;
    int *outputs;
    int num_tensors, tensor_capacity;
    fr_tensor *tensors;
    int num_layers, layer_capacity;
    fr_layer *layers;
};

/* A window's position part: 5 whole numbers per sequence. LEAD_USED: left
 * padding frames already behind it (of pad_left); HELD: input frames kept
 * in its frames part (at most span - 1; the rest of the part is zero);
 * SKIP: input frames to drop before the next window starts (at most stride
 * - 1); PHASE: input frames seen, modulo the stride; FED: 1 once the
 * sequence has given it a frame (a window that has had none gives none, not
 * even padding). All zero: a fresh sequence, and a sequence's end leaves
 * them so. */
enum { WINDOW_LEAD_USED, WINDOW_HELD, WINDOW_SKIP, WINDOW_PHASE, WINDOW_FED, WINDOW_COUNTERS };

/* Bytes of `panels` packed panels of K inputs and `gates` gates (kernels.h). */
size_t fr_panels_bytes(const fr_model *model, int panels, int K, int gates);
/* Units of a recurrent or Dense layer (of one direction) rounded up to whole panels. */
int fr_layer_padded(const fr_model *model, const fr_layer *layer);
/* Floats of one sequence's state part. */
size_t fr_part_floats(const fr_layer *layer, int part);
/* Part `part` of layer `layer` in a state buffer of `batch` sequences:
 * (batch, fr_part_floats) floats; NULL if there is no such part. */
float *fr_state_part(const fr_model *model, float *state, int batch, int layer, int part);
/* frames[t]: the most frames tensor t holds after a block of `steps` steps,
 * whatever the state and flags (tensors in order, so each layer's inputs
 * come first). */
void fr_frame_bounds(const fr_model *model, int steps, int *frames);
/* Right padding of a window layer, at most (same_length: every length). */
int fr_window_pad_right(const fr_window *window);
/* Padding (left, right) of a same_length window for a sequence whose length
 * is `phase` modulo the stride. */
void fr_same_length_padding(const fr_window *window, int phase, int *left, int *right);

/* FR_ALIGN-aligned float arrays. */
float *fr_alloc_floats(size_t count);
void fr_free_floats(float *block);
float *fr_align_floats(float *p);

/* One block of a run (graph.c): `batch` sequences, `steps` steps. */
typedef struct {
    int batch, steps;
    const int *rows;          /* sequence b is row rows[b] of x and y; NULL: row b */
    const float *const *x;    /* input i: row r's steps at x[i] + r * x_steps * features */
    int x_steps;
    const int *counts;        /* steps of each sequence (batch), or NULL: all `steps` */
    const uint8_t *mask;      /* (batch, mask_steps) at the block's first step, or NULL */
    int mask_steps;
    float *const *y;          /* output o: row r's frames at y[o] + r * frames[o] * features */
    const int *frames;
    int *y_offset;            /* (num_outputs, y_batch): frames written so far, advanced */
    int y_batch;
    unsigned flags;
    int num_threads;
} fr_run;

/* Floats of the workspace fr_graph_run needs for `batch` sequences and
 * blocks of up to `steps` steps; SIZE_MAX if it cannot be computed. */
size_t fr_graph_workspace_size(const fr_model *model, int batch, int steps);
/* Lay out such a workspace (where each tensor's buffer goes): once, before
 * the blocks it serves. */
void fr_graph_plan(const fr_model *model, int batch, int steps, float *workspace);
/* Every layer over one block of at most the planned batch and steps, from
 * `state` (updated). */
void fr_graph_run(const fr_model *model, const fr_run *run, int planned_batch, float *state,
                  float *workspace);
/* Steps per block for `batch` sequences of `steps` steps: as many as keep
 * the workspace near FR_BLOCK_BYTES (all of them when the model needs whole
 * sequences), i.e. min(steps, fr_longest_block(model, batch)). */
int fr_block_steps(const fr_model *model, int batch, int steps);
int fr_longest_block(const fr_model *model, int batch);

#endif
