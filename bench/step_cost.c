/*
 * step_cost.c - what one stream step of issue 15's models A and B costs in C
 * (fr_stream_run, batch 1, one frame; no Python), whole and layer by layer,
 * and one audio sample of its per-sample models C and D (fr_stream_run of
 * 64 and 256 samples a call), in each weight precision, beside the bytes of
 * weights the step reads:
 *
 *   A: LSTM(40 -> 128), LSTM(128), Dense(10)     B: the same with GRUs
 *   C: LSTM(1 -> 32), Dense(1)                   D: GRU(1 -> 64), Dense(1)
 *
 * Built against the objects of an in-place build (python setup.py build_ext
 * --inplace), from the repository's root:
 *
 *   cc -O2 -Icsrc -o /tmp/step_cost bench/step_cost.c \
 *       $(find build -path '*csrc*.o') -fopenmp -lm
 *   /tmp/step_cost            # every row; /tmp/step_cost int8 A  for some
 *
 * Each row times passes of 100 steps (C and D: 100 calls of 64 or 256
 * samples, rows "C t64", ...), as many passes as fit in 0.3 s, and prints
 * the fastest and the median pass per step (us), so that time the process
 * spends descheduled (a shared machine) does not count. Compare a row with
 * the L2 read of its weights (bench/machine_limits.c KIB).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fastrnn.h"
#include "pass_timing.h"

enum { HIDDEN = 128, FEATURES = 40, CLASSES = 10, PASS_STEPS = 100, MAX_PASSES = 1 << 16 };

/* n floats uniform in [-scale, scale], from a fixed seed. */
static float *uniform(size_t n, float scale)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = scale * (2.0f * (float)rand() / (float)RAND_MAX - 1.0f);
    return p;
}

/* A recurrent layer (lstm != 0: LSTM, else GRU with reset_after) of `hidden`
 * units and input size `input` after tensor *t, with PyTorch's
 * initialisation scale. */
static fr_status add_recurrent(fr_model *model, int lstm, int input, int hidden, int *t)
{
    const int gates = lstm ? 4 : 3;
    const float scale = 1.0f / sqrtf((float)hidden);
    float *w_ih = uniform((size_t)gates * hidden * input, scale);
    float *w_hh = uniform((size_t)gates * hidden * hidden, scale);
    float *b = uniform((size_t)gates * hidden, scale);
    fr_status status = lstm ? fr_model_add_lstm(model, *t, hidden, w_ih, w_hh, b, b,
                                                FR_RETURN_SEQUENCES, t)
                            : fr_model_add_gru(model, *t, hidden, w_ih, w_hh, b, b, 1,
                                               FR_RETURN_SEQUENCES, t);
    free(w_ih);
    free(w_hh);
    free(b);
    return status;
}

/* A linear Dense layer of `units` units and input size `input` after *t. */
static fr_status add_dense(fr_model *model, int input, int units, int *t)
{
    const float scale = 1.0f / sqrtf((float)input);
    float *w = uniform((size_t)units * input, scale), *b = uniform(units, scale);
    fr_status status = fr_model_add_dense(model, *t, units, w, b, FR_ACT_LINEAR, t);
    free(w);
    free(b);
    return status;
}

/* The model `name` names: "A", "B", one of their layers alone, or a
 * per-sample model "C" or "D" with the samples of a call ("C t64"). */
static const char *const NAMES[] = {"A", "B", "LSTM(40)", "LSTM(128)", "GRU(40)", "GRU(128)",
                                    "Dense(10)", "C t64", "C t256", "D t64", "D t256"};

/* Builds model `name`; *features its input size, *samples the steps of a call. */
static fr_status build(fr_model *model, const char *name, int *features, int *samples)
{
    const int per_sample = name[1] == ' ';
    const int lstm = strchr("ALC", name[0]) != NULL;
    *features = per_sample ? 1 : strchr(name, '4') != NULL || name[1] == '\0' ? FEATURES : HIDDEN;
    *samples = per_sample ? atoi(name + 3) : 1;
    int t;
    fr_status status = fr_model_add_input(model, *features, &t);
    if (status == FR_OK && per_sample) {
        const int hidden = lstm ? 32 : 64;
        status = add_recurrent(model, lstm, 1, hidden, &t);
        if (status == FR_OK) status = add_dense(model, hidden, 1, &t);
    } else if (status == FR_OK && name[1] == '\0') {         /* a whole model */
        status = add_recurrent(model, lstm, FEATURES, HIDDEN, &t);
        if (status == FR_OK) status = add_recurrent(model, lstm, HIDDEN, HIDDEN, &t);
        if (status == FR_OK) status = add_dense(model, HIDDEN, CLASSES, &t);
    } else if (status == FR_OK) {
        status = name[0] == 'D' ? add_dense(model, HIDDEN, CLASSES, &t)
                                : add_recurrent(model, lstm, *features, HIDDEN, &t);
    }
    return status == FR_OK ? fr_model_set_outputs(model, 1, &t) : status;
}

/* Fastest and median seconds per step of `stream`, fed calls of `samples`
 * steps from x in turn. */
static void time_steps(fr_stream *stream, int features, int samples, const float *x, float *y,
                       double *fastest, double *median)
{
    static double passes[MAX_PASSES];
    int n = 0, y_count;
    double start = now();
    do {
        double begin = now();
        for (int i = 0; i < PASS_STEPS; i++) {
            const float *frame = x + (size_t)(i % 64) * features;
            fr_stream_run(stream, samples, &frame, &y, &samples, &y_count, NULL, 0, 1);
        }
        passes[n++] = (now() - begin) / PASS_STEPS / samples;
    } while (now() - start < 0.3 && n < MAX_PASSES);
    qsort(passes, n, sizeof passes[0], by_value);
    *fastest = passes[0];
    *median = passes[n / 2];
}

int main(int argc, char **argv)
{
    const char *const precision_names[] = {"float32", "float16", "bfloat16", "int8"};
    const fr_isa isa = fr_isa_supported(FR_ISA_AVX512_BF16) ? FR_ISA_AVX512_BF16
                       : fr_isa_supported(FR_ISA_AVX512_VNNI) ? FR_ISA_AVX512_VNNI
                       : fr_isa_supported(FR_ISA_AVX512) ? FR_ISA_AVX512
                       : fr_isa_supported(FR_ISA_AVX2) ? FR_ISA_AVX2 : FR_ISA_GENERIC;
    float *x = uniform((size_t)64 * HIDDEN + 256, 1.0f);
    float y[256 > HIDDEN ? 256 : HIDDEN];
    printf("%-10s %-9s %-28s %9s %9s %9s\n", "model", "precision", "kernels", "KiB",
           "fastest", "median");
    for (int p = 0; p < 4; p++) {
        const fr_precision precision = (fr_precision)p;
        if (precision == FR_PRECISION_FLOAT16 || !fr_precision_supported(isa, precision)
            || (argc > 1 && strcmp(argv[1], precision_names[p]) != 0))
            continue;
        for (size_t m = 0; m < sizeof NAMES / sizeof NAMES[0]; m++) {
            if (argc > 2 && strcmp(argv[2], NAMES[m]) != 0) continue;
            fr_model *model = NULL;
            fr_stream *stream = NULL;
            int features, samples;
            fr_status status = fr_model_create(&model, isa, precision);
            if (status == FR_OK) status = build(model, NAMES[m], &features, &samples);
            if (status == FR_OK) status = fr_stream_create(&stream, model, 1, 0);
            if (status != FR_OK) {
                fprintf(stderr, "%s %s: %s\n", NAMES[m], precision_names[p],
                        fr_status_string(status));
                fr_model_destroy(model);
                return 1;
            }
            double fastest, median;
            time_steps(stream, features, samples, x, y, &fastest, &median);
            printf("%-10s %-9s %-28s %9.1f %9.3f %9.3f\n", NAMES[m], precision_names[p],
                   fr_kernels_name(isa, precision), fr_model_weight_bytes(model) / 1024.0,
                   fastest * 1e6, median * 1e6);
            fr_stream_destroy(stream);
            fr_model_destroy(model);
        }
    }
    free(x);
    return 0;
}
