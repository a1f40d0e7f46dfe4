/*
 * step_cost.c - what one stream step of issue 15's models A and B costs in C
 * (fr_stream_run, batch 1, one frame; no Python), whole and layer by layer,
 * in each weight precision, beside the bytes of weights the step reads:
 *
 *   A: LSTM(40 -> 128), LSTM(128), Dense(10)     B: the same with GRUs
 *
 * Built against the objects of an in-place build (python setup.py build_ext
 * --inplace), from the repository's root:
 *
 *   cc -O2 -Icsrc -o /tmp/step_cost bench/step_cost.c \
 *       $(find build -path '*csrc*.o') -fopenmp -lm
 *   /tmp/step_cost            # every row; /tmp/step_cost int8 A  for some
 *
 * Each row times passes of 100 steps, as many passes as fit in 0.3 s, and
 * prints the fastest and the median pass per step (us), so that time the process
 * spends descheduled (a shared machine) does not count. Compare a row with
 * the L2 read of its weights (bench/machine_limits.c KIB).
 */
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

/* A recurrent layer (lstm != 0: LSTM, else GRU with reset_after) of input
 * size `input` after tensor *t, with PyTorch's initialisation scale. */
static fr_status add_recurrent(fr_model *model, int lstm, int input, int *t)
{
    const int gates = lstm ? 4 : 3;
    const float scale = 1.0f / 11.3f;   /* 1 / sqrt(HIDDEN) */
    float *w_ih = uniform((size_t)gates * HIDDEN * input, scale);
    float *w_hh = uniform((size_t)gates * HIDDEN * HIDDEN, scale);
    float *b = uniform((size_t)gates * HIDDEN, scale);
    fr_status status = lstm ? fr_model_add_lstm(model, *t, HIDDEN, w_ih, w_hh, b, b,
                                                FR_RETURN_SEQUENCES, t)
                            : fr_model_add_gru(model, *t, HIDDEN, w_ih, w_hh, b, b, 1,
                                               FR_RETURN_SEQUENCES, t);
    free(w_ih);
    free(w_hh);
    free(b);
    return status;
}

static fr_status add_dense(fr_model *model, int *t)
{
    float *w = uniform((size_t)CLASSES * HIDDEN, 0.088f), *b = uniform(CLASSES, 0.088f);
    fr_status status = fr_model_add_dense(model, *t, CLASSES, w, b, FR_ACT_LINEAR, t);
    free(w);
    free(b);
    return status;
}

/* The model `name` names: "A", "B", or one of their layers alone. */
static const char *const NAMES[] = {"A", "B", "LSTM(40)", "LSTM(128)", "GRU(40)", "GRU(128)",
                                    "Dense(10)"};

static fr_status build(fr_model *model, const char *name, int *features)
{
    const int lstm = strchr("AL", name[0]) != NULL;
    *features = strchr(name, '4') != NULL || name[1] == '\0' ? FEATURES : HIDDEN;
    int t;
    fr_status status = fr_model_add_input(model, *features, &t);
    if (status == FR_OK && name[1] == '\0') {                /* a whole model */
        status = add_recurrent(model, lstm, FEATURES, &t);
        if (status == FR_OK) status = add_recurrent(model, lstm, HIDDEN, &t);
        if (status == FR_OK) status = add_dense(model, &t);
    } else if (status == FR_OK) {
        status = name[0] == 'D' ? add_dense(model, &t) : add_recurrent(model, lstm, *features, &t);
    }
    return status == FR_OK ? fr_model_set_outputs(model, 1, &t) : status;
}

/* Fastest and median seconds per step of `stream`, fed frames of x in turn. */
static void time_steps(fr_stream *stream, int features, const float *x, float *y,
                       double *fastest, double *median)
{
    static double passes[MAX_PASSES];
    const int frames = 1;
    int n = 0, y_count;
    double start = now();
    do {
        double begin = now();
        for (int i = 0; i < PASS_STEPS; i++) {
            const float *frame = x + (size_t)(i % 64) * features;
            fr_stream_run(stream, 1, &frame, &y, &frames, &y_count, NULL, 0, 1);
        }
        passes[n++] = (now() - begin) / PASS_STEPS;
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
    float *x = uniform((size_t)64 * HIDDEN, 1.0f), y[CLASSES > HIDDEN ? CLASSES : HIDDEN];
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
            int features;
            fr_status status = fr_model_create(&model, isa, precision);
            if (status == FR_OK) status = build(model, NAMES[m], &features);
            if (status == FR_OK) status = fr_stream_create(&stream, model, 1, 0);
            if (status != FR_OK) {
                fprintf(stderr, "%s %s: %s\n", NAMES[m], precision_names[p],
                        fr_status_string(status));
                fr_model_destroy(model);
                return 1;
            }
            double fastest, median;
            time_steps(stream, features, x, y, &fastest, &median);
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
