/* lipflow.h: the C API of the lipflow lab (C99 and C++; what the WebAssembly module exports).
 *
 * It drives the lab layer: experiment configs in JSON, training runs stepped by the caller, the
 * experiment presets E1..E9 with their verdicts, and the series they produce, read into plain arrays.
 * The lab allocates at creation (a run's modules and its one planned buffer; a result's series);
 * stepping a run does not allocate except when the monitor records a new step (its series grow).
 *
 * Errors. Every fallible call returns a lipflow_code (LIPFLOW_OK = 0). The message of the last error
 * on the calling thread (the field, the value and what is allowed, e.g. "invalid config:
 * model.layers[0].width = 0: an integer in [1, 1048576]") is lipflow_last_error(); a success leaves it
 * unchanged. A failed call changes none of its outputs except setting *out to NULL for creators.
 *
 * Strings returned as const char* belong to the object they come from and stay valid until that
 * object is destroyed (or, for lipflow_last_error, until the next failing call on the thread).
 * Indices out of range give NULL, 0 or LIPFLOW_OUT_OF_RANGE, never undefined behaviour; so do NULL
 * handles.
 *
 *   lipflow_run* run;
 *   if (lipflow_run_create(json_text, &run) != LIPFLOW_OK) puts(lipflow_last_error());
 *   while (!lipflow_run_finished(run)) lipflow_run_step(run, 10);
 *   lipflow_result* r;  lipflow_run_collect(run, &r);   ... lipflow_result_series_read(r, 0, 0, x, y, n)
 *   lipflow_result_destroy(r);  lipflow_run_destroy(run);
 */
#ifndef LIPFLOW_C_API_H
#define LIPFLOW_C_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lipflow_code {
  LIPFLOW_OK = 0,
  LIPFLOW_INVALID_ARGUMENT = 1, /* a library call rejected a value (the message names it) */
  LIPFLOW_NULL_POINTER = 2,     /* a required pointer or handle was NULL */
  LIPFLOW_OUT_OF_RANGE = 3,     /* an index past the end */
  LIPFLOW_INVALID_CONFIG = 4,   /* a config that is not valid JSON, or a field that is not allowed */
  LIPFLOW_UNKNOWN_PRESET = 5,   /* no preset with that id */
  LIPFLOW_FAILED = 6,           /* a run failed while running (the message says where) */
  LIPFLOW_IO_ERROR = 7,         /* a file could not be opened, read, written, flushed or renamed */
  LIPFLOW_BAD_CHECKPOINT = 8,   /* checkpoint bytes truncated, corrupted, of another format version,
                                   or of another model or config (the message names the section or field) */
  LIPFLOW_BUFFER_TOO_SMALL = 9  /* a caller's buffer smaller than needed (the message names both sizes) */
} lipflow_code;

/* Why a run stopped (lipflow_run_stop_reason). */
typedef enum lipflow_stop {
  LIPFLOW_RUNNING = 0,            /* more steps remain */
  LIPFLOW_COMPLETED = 1,          /* all of training.steps ran */
  LIPFLOW_NONFINITE_LOSS = 2,
  LIPFLOW_NONFINITE_GRADIENT = 3, /* the message names the first layer */
  LIPFLOW_DIVERGED = 4,           /* the smoothed loss went above divergence_factor x its minimum */
  LIPFLOW_ERROR = 5
} lipflow_stop;

typedef struct lipflow_run lipflow_run;       /* one config being trained */
typedef struct lipflow_result lipflow_result; /* series, summary and verdict (a preset's, or a run's) */

/* Progress of a preset run: fraction in [0, 1] and the stage running. */
typedef void (*lipflow_progress_fn)(void* context, double fraction, const char* stage);

const char* lipflow_version(void);
/* Floats per SIMD register in the kernels of this build (1: the scalar build). */
size_t lipflow_simd_lanes(void);
/* The message of the last failed call on this thread ("" before any). */
const char* lipflow_last_error(void);

/* ---- presets (E1..E9): ids, claims, setups, their reference model's config */
size_t lipflow_preset_count(void);
const char* lipflow_preset_id(size_t index);    /* NULL past the end */
const char* lipflow_preset_claim(size_t index);
const char* lipflow_preset_setup(size_t index);
/* Runs a preset (quick != 0: its quick size) and returns its result. progress may be NULL. */
lipflow_code lipflow_preset_run(const char* id, int quick, uint64_t seed, lipflow_progress_fn progress, void* context,
                                lipflow_result** out);

/* ---- training runs */
/* A run from a JSON config (the schema of the lab's config.hpp). */
lipflow_code lipflow_run_create(const char* config_json, lipflow_run** out);
/* A run of a preset's reference model (LIPFLOW_INVALID_ARGUMENT for presets that train nothing). */
lipflow_code lipflow_run_create_preset(const char* id, int quick, uint64_t seed, lipflow_run** out);
void lipflow_run_destroy(lipflow_run* run); /* NULL is allowed */
/* Trains up to `steps` more steps; a stop (NaN, divergence, completion) is not an error: read
 * lipflow_run_stop_reason. After the last step, one evaluation on the test split runs. */
lipflow_code lipflow_run_step(lipflow_run* run, size_t steps);
int lipflow_run_finished(const lipflow_run* run);
lipflow_stop lipflow_run_stop_reason(const lipflow_run* run);
const char* lipflow_run_stop_message(const lipflow_run* run); /* e.g. "diverged at step 120: ..." */
uint64_t lipflow_run_steps_done(const lipflow_run* run);
uint64_t lipflow_run_total_steps(const lipflow_run* run);
double lipflow_run_last_loss(const lipflow_run* run); /* the last batch's training loss (NaN before) */
/* The last evaluation on the test split (NaN when none ran; accuracy NaN for regression). */
double lipflow_run_test_loss(const lipflow_run* run);
double lipflow_run_test_accuracy(const lipflow_run* run);
size_t lipflow_run_memory_bytes(const lipflow_run* run);  /* the one planned buffer */
size_t lipflow_run_parameter_count(const lipflow_run* run);
/* The run's config with every default filled, as JSON text. */
const char* lipflow_run_config_json(lipflow_run* run);
/* A description of the model: layers, shapes, parameters, Lipschitz factors, memory by kind. */
const char* lipflow_run_describe(lipflow_run* run);
/* The model's outputs for count inputs (count x input size floats, written count x output size),
 * in evaluation mode, in batches of at most training.batch_size (for a decision boundary). */
lipflow_code lipflow_run_predict(lipflow_run* run, const float* inputs, size_t count, float* outputs);
size_t lipflow_run_input_size(const lipflow_run* run);
size_t lipflow_run_output_size(const lipflow_run* run);
/* The series so far, as a result (its verdict: the run completes). */
lipflow_code lipflow_run_collect(lipflow_run* run, lipflow_result** out);

/* ---- Analysis: the Jacobian spectrum of one layer
 * The top-level layers of the run's model (its series name them the same way: "layer00_linear").
 * Their Jacobians are planned at creation in the run's one buffer (batch-1 scratch per layer and one
 * matrix for the largest; counted in lipflow_run_memory_bytes and the memory cap) for layers whose
 * Jacobian has at most 262144 entries (512 x 512: a transformer block of the lab's E5 model, 12 tokens
 * of width 32, is 384 x 384) and whose input is not token ids. The measured Lipschitz lower
 * bound is a series (lipschitz_lower, estimator "lower_bound"), read like the others. */
size_t lipflow_run_layer_count(const lipflow_run* run);
const char* lipflow_run_layer_name(const lipflow_run* run, size_t layer); /* NULL past the end */
/* The number of singular values of layer's Jacobian, min(in, out); 0 when it has none planned. */
size_t lipflow_run_layer_spectrum_size(const lipflow_run* run, size_t layer);
/* The singular values, descending, of the explicit Jacobian (dy/dx of that layer alone) of top-level
 * layer `layer` at test sample `sample` (the held-out split; the training split when it is empty), with
 * the current weights in evaluation mode; valid before the first step too (the initial weights).
 * Writes lipflow_run_layer_spectrum_size values into sigma and that count into *count. The model's
 * last forward becomes that sample (as after lipflow_run_predict); parameter gradients are untouched.
 * Errors: LIPFLOW_NULL_POINTER (run, sigma, count), LIPFLOW_OUT_OF_RANGE (layer, sample),
 * LIPFLOW_INVALID_ARGUMENT (capacity below the count: the message names the count needed; a layer
 * without a planned Jacobian). Cost: one forward of one sample, `in` Jacobian-vector products of the
 * layer, and up to 65536 entries a Jacobi SVD (about 3 k^2 max(in, out) flops per sweep, k = min(in,
 * out), 6 to 10 sweeps), above the eigenvalues of the k x k Gram matrix in double (k^2 max(in, out) +
 * 4/3 k^3 flops; the whole call for a block of E5: 55 ms in WebAssembly under Node); no allocation. */
lipflow_code lipflow_run_layer_spectrum(lipflow_run* run, size_t layer, size_t sample, double* sigma,
                                        size_t capacity, size_t* count);
/* The held-out samples (for plotting data under a decision boundary): copies samples [from, from +
 * capacity) of the test split (fewer at its end) into inputs (input size floats each) and their label
 * into labels (the class, or the first target value of a regression), either may be NULL, and stores
 * how many in *count. Errors: LIPFLOW_NULL_POINTER (run, count), LIPFLOW_OUT_OF_RANGE (from past the
 * end). Cost: a copy. */
size_t lipflow_run_test_sample_count(const lipflow_run* run);
lipflow_code lipflow_run_test_samples(const lipflow_run* run, size_t from, float* inputs, double* labels,
                                      size_t capacity, size_t* count);

/* ---- checkpoints (docs/checkpoints.md): a run's whole state (weights, buffers, optimizer, trainer,
 * config), to continue it later bit for bit in a run created from the same config (training.steps
 * may differ). Loading checks everything before it changes anything: on any error the run is as it
 * was. What is not saved: the run's series so far (a resumed run records from where it resumed on).
 * Errors: LIPFLOW_NULL_POINTER, LIPFLOW_IO_ERROR (the file), LIPFLOW_BAD_CHECKPOINT (the bytes or
 * another config), LIPFLOW_BUFFER_TOO_SMALL; each with a message naming the file, section or field. */
/* Writes path.tmp, flushes it and renames it over path: a failed save keeps path's old contents. */
lipflow_code lipflow_run_save_checkpoint(lipflow_run* run, const char* path);
lipflow_code lipflow_run_load_checkpoint(lipflow_run* run, const char* path);
/* The same without files, for embedders: *bytes receives the checkpoint's size now (it stays the same
 * for a run as it trains); save writes it into buffer (capacity bytes; *written: the bytes written) or
 * fails with LIPFLOW_BUFFER_TOO_SMALL, writing nothing; load reads `bytes` bytes made by save. */
lipflow_code lipflow_run_checkpoint_size(lipflow_run* run, size_t* bytes);
lipflow_code lipflow_run_save_checkpoint_buffer(lipflow_run* run, void* buffer, size_t capacity, size_t* written);
lipflow_code lipflow_run_load_checkpoint_buffer(lipflow_run* run, const void* data, size_t bytes);

/* ---- results */
void lipflow_result_destroy(lipflow_result* result); /* NULL is allowed */
/* result.json text as the native CLI writes it. */
const char* lipflow_result_json(lipflow_result* result);
int lipflow_result_holds(const lipflow_result* result);  /* 1 when the verdict holds, else 0 */
double lipflow_result_value(const lipflow_result* result);
double lipflow_result_threshold(const lipflow_result* result);
const char* lipflow_result_claim(const lipflow_result* result);
const char* lipflow_result_comparison(const lipflow_result* result);
size_t lipflow_result_series_count(const lipflow_result* result);
const char* lipflow_result_series_name(const lipflow_result* result, size_t index);
const char* lipflow_result_series_x_label(const lipflow_result* result, size_t index);
const char* lipflow_result_series_y_label(const lipflow_result* result, size_t index);
size_t lipflow_result_series_length(const lipflow_result* result, size_t index);
/* Copies points [from, from + capacity) of series `index` (fewer at its end) into x and y (either may
 * be NULL) and stores how many in *count. */
lipflow_code lipflow_result_series_read(const lipflow_result* result, size_t index, size_t from, double* x, double* y,
                                        size_t capacity, size_t* count);

#ifdef __cplusplus
}
#endif

#endif /* LIPFLOW_C_API_H */
