/*
 * model.h - the layer stack inside an fr_model (internal: model.c builds and
 * runs it, stream.c moves rows of its state).
 *
 * State layout for `batch` sequences: for each recurrent layer in order, its
 * parts (h, then c for an LSTM; a bidirectional layer's forward parts, then
 * its backward parts), each (batch, padded) with the padded units zero.
 * fr_state_part() is the one place that walks it.
 */
#ifndef FASTRNN_MODEL_H
#define FASTRNN_MODEL_H

#include "fastrnn.h"
#include "kernels.h"

#define FR_ALIGN 64 /* bytes: one cache line, one zmm register */
#define FR_ALIGN_FLOATS (FR_ALIGN / sizeof(float))

typedef enum { LAYER_LSTM, LAYER_GRU, LAYER_RNN, LAYER_DENSE } layer_kind;

typedef struct {
    layer_kind kind;
    int input_size, units;      /* units: hidden size, or Dense output size */
    int gates, panels;          /* of the input projection; padded = panels * vlen */
    int reset_after, return_sequences;
    int go_backwards;           /* reads backward, outputs in reading order */
    fr_activation activation;   /* Dense; SimpleRNN: tanh or relu */
    int directions;             /* 1, or 2 for a bidirectional layer */
    fr_merge merge;
    void *w_in;                 /* (directions * P, input_size, gates, V), model's precision */
    float *b_in;                /* (directions * P, gates, V) */
    void *w_rec[2];             /* recurrent panels of each direction, model's precision */
    float *b_rec[2];            /* b_hn (P, V) of each direction for GRU reset_after */
} fr_layer;

struct fr_model {
    fr_precision precision;
    const fr_kernels *kernels;
    int input_size;
    int num_layers, capacity;
    fr_layer *layers;
};

/* Units of a layer (of one direction) rounded up to whole panels. */
int fr_layer_padded(const fr_model *model, const fr_layer *layer);
/* Outputs of a layer: units, or 2 * units for a concatenating bidirectional
 * layer; and that rounded up to whole vectors (its output rows' width). */
int fr_layer_outputs(const fr_layer *layer);
int fr_layer_output_padded(const fr_model *model, const fr_layer *layer);
/* State arrays of a layer: 2 (LSTM h, c), 1 (GRU or SimpleRNN h) or 0 (Dense),
 * per direction. */
int fr_layer_state_parts(const fr_layer *layer);
/* Part `part` of layer `layer` in a state buffer of `batch` sequences:
 * (batch, padded) floats; NULL if there is no such part. */
float *fr_state_part(const fr_model *model, float *state, int batch, int layer, int part);

/* FR_ALIGN-aligned float arrays. */
float *fr_alloc_floats(size_t count);
void fr_free_floats(float *block);

#endif
