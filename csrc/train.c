/*
 * train.c - the pointwise part of one LSTM or GRU (reset_after) step of
 * backpropagation through time, forward and backward (compiled once per
 * instruction set, float32 only; see fastrnn_train.h). The trainer
 * (fastrnn/train/lstm.py, gru.py) does the matrix products around it
 * (h W_hh^T, da W_hh) with NumPy; fusing the rest of a step into one pass
 * over the rows is what makes its step loop fast.
 *
 * Plain row-major rows: gates (batch, 4H) in the order i, f, g, o (LSTM) or
 * (batch, 3H) in the order r, z, n (GRU); states (batch, H). mask[b] == 0
 * marks a padded step of row b (mask may be NULL: every row is real).
 */
#include "simd.h"
#include "train_kernels.h"

#if defined(FR_KERNELS_AVX512)
#define FR_TRAIN_NAME "avx512"
#elif defined(FR_KERNELS_AVX2)
#define FR_TRAIN_NAME "avx2"
#else
#define FR_TRAIN_NAME "generic"
#endif

/* Load/store `n` <= FR_VLEN floats (a row's tail when H % FR_VLEN != 0). */
FR_INLINE vfloat load_n(const float *p, int n)
{
    if (n == FR_VLEN) return vload(p);
    float part[FR_VLEN] = {0};
    memcpy(part, p, (size_t)n * sizeof(float));
    return vload(part);
}

FR_INLINE void store_n(float *p, vfloat v, int n)
{
    if (n == FR_VLEN) { vstore(p, v); return; }
    float part[FR_VLEN];
    vstore(part, v);
    memcpy(p, part, (size_t)n * sizeof(float));
}

/*
 * Forward, every row b:
 *   i = sigmoid(a_i)  f = sigmoid(a_f)  g = tanh(a_g)  o = sigmoid(a_o)  (a replaced by them)
 *   c = f * c_prev + i * g;   tanh_c = tanh(c);   h = o * tanh_c;   out = h
 * Padded rows: c = c_prev, h = h_prev, out = 0.
 */
static void lstm_forward(int batch, int hidden, float *gates, const float *c_prev,
                         const float *h_prev, float *c, float *tanh_c, float *h,
                         float *out, const uint8_t *mask)
{
    for (int b = 0; b < batch; b++) {
        float *a = gates + (size_t)b * 4 * hidden;
        size_t row = (size_t)b * hidden;
        int real = mask == NULL || mask[b];
        for (int j = 0; j < hidden; j += FR_VLEN) {
            int n = hidden - j < FR_VLEN ? hidden - j : FR_VLEN;
            vfloat i = vsigmoid(load_n(a + j, n));
            vfloat f = vsigmoid(load_n(a + hidden + j, n));
            vfloat g = vtanh(load_n(a + 2 * hidden + j, n));
            vfloat o = vsigmoid(load_n(a + 3 * hidden + j, n));
            store_n(a + j, i, n);
            store_n(a + hidden + j, f, n);
            store_n(a + 2 * hidden + j, g, n);
            store_n(a + 3 * hidden + j, o, n);
            vfloat cell = f * load_n(c_prev + row + j, n) + i * g;
            vfloat tanh_cell = vtanh(cell);
            store_n(tanh_c + row + j, tanh_cell, n);
            if (real) {
                vfloat state = o * tanh_cell;
                store_n(c + row + j, cell, n);
                store_n(h + row + j, state, n);
                store_n(out + row + j, state, n);
            } else {
                store_n(c + row + j, load_n(c_prev + row + j, n), n);
                store_n(h + row + j, load_n(h_prev + row + j, n), n);
                store_n(out + row + j, vset1(0.0f), n);
            }
        }
    }
}

/*
 * Backward, every row b, from dh = dL/dh_t carried from step t+1, d_out =
 * dL/dout_t (may be NULL) and dc = dL/dc_t carried from step t+1:
 *   dh_t = dh + d_out;   dc_t = dc + dh_t * o * (1 - tanh_c^2)
 *   da_i = dc_t * g * i (1 - i)        da_f = dc_t * c_prev * f (1 - f)
 *   da_g = dc_t * i * (1 - g^2)        da_o = dh_t * tanh_c * o (1 - o)
 *   dc <- dc_t * f                      (dL/dc_{t-1}; dL/dh_{t-1} = da W_hh)
 * Padded rows: da = 0, dc unchanged (the caller keeps their dh).
 */
static void lstm_backward(int batch, int hidden, const float *gates,
                          const float *c_prev, const float *tanh_c,
                          const float *dh, const float *d_out, float *dc,
                          float *da, const uint8_t *mask)
{
    for (int b = 0; b < batch; b++) {
        const float *a = gates + (size_t)b * 4 * hidden;
        float *d = da + (size_t)b * 4 * hidden;
        size_t row = (size_t)b * hidden;
        if (mask != NULL && !mask[b]) {
            memset(d, 0, (size_t)4 * hidden * sizeof(float));
            continue;
        }
        for (int j = 0; j < hidden; j += FR_VLEN) {
            int n = hidden - j < FR_VLEN ? hidden - j : FR_VLEN;
            vfloat i = load_n(a + j, n), f = load_n(a + hidden + j, n);
            vfloat g = load_n(a + 2 * hidden + j, n), o = load_n(a + 3 * hidden + j, n);
            vfloat tanh_cell = load_n(tanh_c + row + j, n);
            vfloat dh_t = load_n(dh + row + j, n);
            if (d_out != NULL) dh_t += load_n(d_out + row + j, n);
            vfloat dc_t = load_n(dc + row + j, n) + dh_t * o * (1.0f - tanh_cell * tanh_cell);
            store_n(d + j, dc_t * g * i * (1.0f - i), n);
            store_n(d + hidden + j, dc_t * load_n(c_prev + row + j, n) * f * (1.0f - f), n);
            store_n(d + 2 * hidden + j, dc_t * i * (1.0f - g * g), n);
            store_n(d + 3 * hidden + j, dh_t * tanh_cell * o * (1.0f - o), n);
            store_n(dc + row + j, dc_t * f, n);
        }
    }
}

/*
 * GRU (reset_after) forward, every row b, from the input projection a (with
 * b_ih) and the hidden projection p = W_hh h_prev + b_hh:
 *   r = sigmoid(a_r + p_r)   z = sigmoid(a_z + p_z)   n = tanh(a_n + r * p_n)
 *   h = n + z * (h_prev - n);   out = h                  (a replaced by r, z, n)
 * Padded rows: h = h_prev, out = 0.
 */
static void gru_forward(int batch, int hidden, float *gates, const float *hidden_proj,
                        const float *h_prev, float *h, float *out,
                        const uint8_t *mask)
{
    for (int b = 0; b < batch; b++) {
        float *a = gates + (size_t)b * 3 * hidden;
        const float *p = hidden_proj + (size_t)b * 3 * hidden;
        size_t row = (size_t)b * hidden;
        int real = mask == NULL || mask[b];
        for (int j = 0; j < hidden; j += FR_VLEN) {
            int n = hidden - j < FR_VLEN ? hidden - j : FR_VLEN;
            vfloat r = vsigmoid(load_n(a + j, n) + load_n(p + j, n));
            vfloat z = vsigmoid(load_n(a + hidden + j, n) + load_n(p + hidden + j, n));
            vfloat candidate = vtanh(load_n(a + 2 * hidden + j, n)
                                     + r * load_n(p + 2 * hidden + j, n));
            store_n(a + j, r, n);
            store_n(a + hidden + j, z, n);
            store_n(a + 2 * hidden + j, candidate, n);
            vfloat previous = load_n(h_prev + row + j, n);
            if (real) {
                vfloat state = candidate + z * (previous - candidate);
                store_n(h + row + j, state, n);
                store_n(out + row + j, state, n);
            } else {
                store_n(h + row + j, previous, n);
                store_n(out + row + j, vset1(0.0f), n);
            }
        }
    }
}

/*
 * GRU (reset_after) backward, every row b, from dh = dL/dh_t carried from
 * step t+1 and d_out = dL/dout_t (may be NULL):
 *   dh_t = dh + d_out
 *   da_n = dh_t (1 - z) (1 - n^2)   da_z = dh_t (h_prev - n) z (1 - z)
 *   da_r = da_n p_n r (1 - r)
 *   da = (da_r, da_z, da_n)            (dL/d input projection)
 *   d_hidden = (da_r, da_z, da_n r)    (dL/d hidden projection)
 *   dh_direct = dh_t z                 (dL/dh_{t-1} = dh_direct + d_hidden W_hh)
 * Padded rows: da = d_hidden = 0, dh_direct = dh.
 */
static void gru_backward(int batch, int hidden, const float *gates,
                         const float *hidden_proj, const float *h_prev,
                         const float *dh, const float *d_out, float *da,
                         float *d_hidden, float *dh_direct, const uint8_t *mask)
{
    for (int b = 0; b < batch; b++) {
        const float *a = gates + (size_t)b * 3 * hidden;
        const float *p = hidden_proj + (size_t)b * 3 * hidden;
        float *d = da + (size_t)b * 3 * hidden;
        float *dp = d_hidden + (size_t)b * 3 * hidden;
        size_t row = (size_t)b * hidden;
        if (mask != NULL && !mask[b]) {
            memset(d, 0, (size_t)3 * hidden * sizeof(float));
            memset(dp, 0, (size_t)3 * hidden * sizeof(float));
            memcpy(dh_direct + row, dh + row, (size_t)hidden * sizeof(float));
            continue;
        }
        for (int j = 0; j < hidden; j += FR_VLEN) {
            int n = hidden - j < FR_VLEN ? hidden - j : FR_VLEN;
            vfloat r = load_n(a + j, n), z = load_n(a + hidden + j, n);
            vfloat candidate = load_n(a + 2 * hidden + j, n);
            vfloat dh_t = load_n(dh + row + j, n);
            if (d_out != NULL) dh_t += load_n(d_out + row + j, n);
            vfloat da_n = dh_t * (1.0f - z) * (1.0f - candidate * candidate);
            vfloat da_z = dh_t * (load_n(h_prev + row + j, n) - candidate) * z * (1.0f - z);
            vfloat da_r = da_n * load_n(p + 2 * hidden + j, n) * r * (1.0f - r);
            store_n(d + j, da_r, n);
            store_n(d + hidden + j, da_z, n);
            store_n(d + 2 * hidden + j, da_n, n);
            store_n(dp + j, da_r, n);
            store_n(dp + hidden + j, da_z, n);
            store_n(dp + 2 * hidden + j, da_n * r, n);
            store_n(dh_direct + row + j, dh_t * z, n);
        }
    }
}

const fr_train_kernels FR_SUFFIX(fr_train_kernels) = {
    .name = FR_TRAIN_NAME,
    .lstm_forward = lstm_forward,
    .lstm_backward = lstm_backward,
    .gru_forward = gru_forward,
    .gru_backward = gru_backward,
};
