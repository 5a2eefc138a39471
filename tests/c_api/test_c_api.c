/* The C API from C99: lists the presets, runs E1's quick form, trains a config to completion, reads
 * its series and predictions, saves and resumes it from checkpoints (files and buffers), and checks
 * that every misuse gives its code and a message. Exits 0 when
 * every check passes; prints each failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lipflow.h"

static int failures = 0;

#define CHECK(cond)                                              \
  do {                                                           \
    if (!(cond)) {                                               \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                \
    }                                                            \
  } while (0)

static const char* kConfig =
    "{\"model\": {\"input\": {\"features\": 2},"
    "  \"layers\": [{\"type\": \"linear\", \"width\": 16}, {\"type\": \"activation\", \"kind\": \"tanh\"},"
    "              {\"type\": \"linear\", \"width\": 16}, {\"type\": \"activation\", \"kind\": \"tanh\"}],"
    "  \"head\": {\"width\": 2}},"
    " \"optimizer\": {\"name\": \"adam\", \"lr\": 0.01},"
    " \"training\": {\"steps\": 300, \"batch_size\": 32, \"seed\": 4, \"eval_every\": 100,"
    "              \"monitor\": {\"every\": 50, \"estimators\": [\"gradient_norms\", \"lipschitz\"]}},"
    " \"dataset\": {\"name\": \"moons\", \"train_samples\": 256, \"test_samples\": 128}}";

/* One linear layer (2 -> 2, no head): its Jacobian is its weight W, which predictions recover. */
static const char* kLinearConfig =
    "{\"model\": {\"input\": {\"features\": 2}, \"layers\": [{\"type\": \"linear\", \"width\": 2}]},"
    " \"optimizer\": {\"name\": \"sgd\", \"lr\": 0.1},"
    " \"training\": {\"steps\": 20, \"batch_size\": 16, \"seed\": 9, \"eval_every\": 0,"
    "              \"monitor\": {\"every\": 5, \"estimators\": [\"lipschitz\", \"lower_bound\"]}},"
    " \"dataset\": {\"name\": \"moons\", \"train_samples\": 64, \"test_samples\": 16}}";

/* The singular values of the 2 x 2 matrix w (row-major), descending, in closed form: the square roots
 * of the eigenvalues of W^T W = [[p, q], [q, r]]. */
static void singular_values_2x2(const double* w, double* sigma) {
  const double p = w[0] * w[0] + w[2] * w[2], q = w[0] * w[1] + w[2] * w[3], r = w[1] * w[1] + w[3] * w[3];
  const double mean = 0.5 * (p + r), d = sqrt(0.25 * (p - r) * (p - r) + q * q);
  sigma[0] = sqrt(mean + d);
  sigma[1] = sqrt(mean - d > 0.0 ? mean - d : 0.0);
}

static int progress_calls = 0;
static double progress_last = -1.0;
static void on_progress(void* context, double fraction, const char* stage) {
  (void)stage;
  *(int*)context += 1;
  progress_last = fraction;
}

static long find_series(const lipflow_result* r, const char* name) {
  size_t i;
  for (i = 0; i < lipflow_result_series_count(r); ++i)
    if (strcmp(lipflow_result_series_name(r, i), name) == 0) return (long)i;
  return -1;
}

/* The spectrum of a linear layer equals the singular values of its weight (recovered from predictions:
 * column j of W is f(e_j) - f(0)), before and after training; the lower bound is a series at most the
 * upper bound (here both are ||W||); and every misuse of the spectrum has its code and message. */
static void check_spectrum(void) {
  lipflow_run* run = NULL;
  lipflow_result* result = NULL;
  const float basis[6] = {0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f};
  float f[6];
  double w[4], expected[2], sigma[4] = {-1.0, -1.0, -1.0, -1.0}, lo[8], up[8];
  size_t count = 0, n = 0, k, round;
  long sl, su;
  CHECK(lipflow_run_create(kLinearConfig, &run) == LIPFLOW_OK);
  if (run == NULL) return;
  CHECK(lipflow_run_layer_count(run) == 1);
  CHECK(lipflow_run_layer_name(run, 0) != NULL && strcmp(lipflow_run_layer_name(run, 0), "layer00_linear") == 0);
  CHECK(lipflow_run_layer_name(run, 1) == NULL && lipflow_run_layer_name(NULL, 0) == NULL);
  CHECK(lipflow_run_layer_spectrum_size(run, 0) == 2 && lipflow_run_layer_spectrum_size(run, 1) == 0);
  for (round = 0; round < 2; ++round) { /* at the initial weights, then after training */
    CHECK(lipflow_run_predict(run, basis, 3, f) == LIPFLOW_OK);
    for (k = 0; k < 2; ++k) {
      w[0 * 2 + k] = (double)f[2 + 2 * k] - f[0];
      w[1 * 2 + k] = (double)f[2 + 2 * k + 1] - f[1];
    }
    singular_values_2x2(w, expected);
    CHECK(lipflow_run_layer_spectrum(run, 0, 5, sigma, 4, &count) == LIPFLOW_OK && count == 2);
    CHECK(fabs(sigma[0] - expected[0]) <= 1e-5 * expected[0] && fabs(sigma[1] - expected[1]) <= 1e-5 * expected[0]);
    CHECK(sigma[0] >= sigma[1] && sigma[2] == -1.0);
    if (round == 0) while (!lipflow_run_finished(run)) CHECK(lipflow_run_step(run, 7) == LIPFLOW_OK);
  }
  CHECK(lipflow_run_collect(run, &result) == LIPFLOW_OK);
  sl = find_series(result, "lipschitz_lower");
  su = find_series(result, "lipschitz_global");
  CHECK(sl >= 0 && su >= 0);
  if (sl >= 0 && su >= 0) {
    CHECK(lipflow_result_series_read(result, (size_t)sl, 0, NULL, lo, 8, &n) == LIPFLOW_OK && n == 4);
    CHECK(lipflow_result_series_read(result, (size_t)su, 0, NULL, up, 8, &count) == LIPFLOW_OK && count == n);
    /* a linear map: the Jacobian is W everywhere, so both bounds are ||W|| (power iterations aside) */
    for (k = 0; k < n; ++k) CHECK(lo[k] > 0.0 && lo[k] <= up[k] * (1 + 1e-6) && lo[k] >= up[k] * (1 - 1e-3));
  }
  lipflow_result_destroy(result);
  /* the held-out samples: moons' 2 features and class labels 0 or 1 */
  {
    float xs[40];
    double labels[20];
    CHECK(lipflow_run_test_sample_count(run) == 16);
    CHECK(lipflow_run_test_samples(run, 10, xs, labels, 20, &n) == LIPFLOW_OK && n == 6);
    for (k = 0; k < n; ++k) CHECK((labels[k] == 0.0 || labels[k] == 1.0) && isfinite(xs[2 * k]) && isfinite(xs[2 * k + 1]));
    CHECK(lipflow_run_test_samples(run, 17, xs, labels, 20, &n) == LIPFLOW_OUT_OF_RANGE);
    CHECK(lipflow_run_test_samples(run, 0, NULL, NULL, 20, NULL) == LIPFLOW_NULL_POINTER);
  }
  /* misuse */
  count = 99;
  CHECK(lipflow_run_layer_spectrum(run, 1, 0, sigma, 4, &count) == LIPFLOW_OUT_OF_RANGE);
  CHECK(strstr(lipflow_last_error(), "layer 1 of 1") != NULL);
  CHECK(lipflow_run_layer_spectrum(run, 0, 16, sigma, 4, &count) == LIPFLOW_OUT_OF_RANGE);
  CHECK(strstr(lipflow_last_error(), "sample 16 of 16") != NULL);
  CHECK(lipflow_run_layer_spectrum(run, 0, 0, sigma, 1, &count) == LIPFLOW_INVALID_ARGUMENT);
  CHECK(strstr(lipflow_last_error(), "capacity 1 is below the 2 singular values") != NULL);
  CHECK(lipflow_run_layer_spectrum(run, 0, 0, NULL, 4, &count) == LIPFLOW_NULL_POINTER);
  CHECK(lipflow_run_layer_spectrum(run, 0, 0, sigma, 4, NULL) == LIPFLOW_NULL_POINTER);
  CHECK(lipflow_run_layer_spectrum(NULL, 0, 0, sigma, 4, &count) == LIPFLOW_NULL_POINTER);
  CHECK(count == 99);
  CHECK(lipflow_run_layer_count(NULL) == 0 && lipflow_run_layer_spectrum_size(NULL, 0) == 0);
  lipflow_run_destroy(run);
}

/* The train_loss series of a run into y (at most cap points); returns the count. */
static size_t train_losses(lipflow_run* run, double* x, double* y, size_t cap) {
  lipflow_result* r = NULL;
  size_t count = 0;
  long s;
  if (lipflow_run_collect(run, &r) != LIPFLOW_OK) return 0;
  s = find_series(r, "train_loss");
  if (s < 0 || lipflow_result_series_read(r, (size_t)s, 0, x, y, cap, &count) != LIPFLOW_OK) count = 0;
  lipflow_result_destroy(r);
  return count;
}

/* The whole file into a new buffer (*bytes its size), or NULL. */
static unsigned char* read_whole(const char* path, size_t* bytes) {
  FILE* f = fopen(path, "rb");
  unsigned char* data = NULL;
  long n;
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
    data = (unsigned char*)malloc((size_t)n);
    if (data != NULL && fread(data, 1, (size_t)n, f) != (size_t)n) {
      free(data);
      data = NULL;
    }
    *bytes = (size_t)n;
  }
  fclose(f);
  return data;
}

static int write_whole(const char* path, const unsigned char* data, size_t bytes) {
  FILE* f = fopen(path, "wb");
  int ok;
  if (f == NULL) return 0;
  ok = fwrite(data, 1, bytes, f) == bytes;
  return fclose(f) == 0 && ok;
}

/* Save at step 150 of 300 (to a file and to a buffer), train on; runs of the same config resumed from
 * either reproduce the rest bit for bit. Damaged, truncated, missing or foreign checkpoints are errors
 * with messages that leave the run as it was (its own checkpoint bytes unchanged). */
static void test_checkpoints(void) {
  static const char* path = "c_api_test.ckpt";
  static const char* broken_path = "c_api_test_broken.ckpt";
  static double xa[400], ya[400], xb[400], yb[400];
  lipflow_run *a = NULL, *b = NULL, *c = NULL, *other = NULL;
  size_t size = 0, written = 0, file_bytes = 0, n, i, na, nb;
  unsigned char *buf = NULL, *file = NULL, *damaged = NULL, *before = NULL, *after = NULL;
  char other_config[2048];
  const char* lr;

  CHECK(lipflow_run_create(kConfig, &a) == LIPFLOW_OK);
  CHECK(lipflow_run_create(kConfig, &b) == LIPFLOW_OK);
  CHECK(lipflow_run_create(kConfig, &c) == LIPFLOW_OK);
  if (a == NULL || b == NULL || c == NULL) return;
  CHECK(lipflow_run_step(a, 150) == LIPFLOW_OK && lipflow_run_steps_done(a) == 150);
  CHECK(lipflow_run_save_checkpoint(a, path) == LIPFLOW_OK);
  CHECK(lipflow_run_checkpoint_size(a, &size) == LIPFLOW_OK && size > 354 * 4);
  buf = (unsigned char*)malloc(size);
  before = (unsigned char*)malloc(size);
  after = (unsigned char*)malloc(size);
  damaged = (unsigned char*)malloc(size);
  if (buf == NULL || before == NULL || after == NULL || damaged == NULL) {
    CHECK(!"out of memory");
    return;
  }
  /* a buffer one byte short: refused, nothing written */
  memset(buf, 0xAB, size);
  CHECK(lipflow_run_save_checkpoint_buffer(a, buf, size - 1, &written) == LIPFLOW_BUFFER_TOO_SMALL);
  CHECK(strstr(lipflow_last_error(), "capacity") != NULL);
  for (i = 0; i < size; ++i) CHECK(buf[i] == 0xAB);
  CHECK(lipflow_run_save_checkpoint_buffer(a, buf, size, &written) == LIPFLOW_OK && written == size);
  file = read_whole(path, &file_bytes);
  CHECK(file != NULL && file_bytes == size && memcmp(file, buf, size) == 0);
  /* the saved run trains on to the end as if nothing happened */
  while (!lipflow_run_finished(a)) CHECK(lipflow_run_step(a, 64) == LIPFLOW_OK);
  na = train_losses(a, xa, ya, 400);
  CHECK(na == 300);

  /* b: resumed from the file, trained to the end: the same losses and test evaluation */
  CHECK(lipflow_run_load_checkpoint(b, path) == LIPFLOW_OK);
  CHECK(lipflow_run_steps_done(b) == 150 && lipflow_run_finished(b) == 0);
  while (!lipflow_run_finished(b)) CHECK(lipflow_run_step(b, 64) == LIPFLOW_OK);
  CHECK(lipflow_run_steps_done(b) == 300 && lipflow_run_stop_reason(b) == LIPFLOW_COMPLETED);
  nb = train_losses(b, xb, yb, 400);
  CHECK(nb == 150);
  if (na == 300 && nb == 150)
    for (i = 0; i < 150; ++i) CHECK(xb[i] == xa[150 + i] && memcmp(&yb[i], &ya[150 + i], sizeof(double)) == 0);
  CHECK(memcmp(&(double){lipflow_run_test_loss(b)}, &(double){lipflow_run_test_loss(a)}, sizeof(double)) == 0);

  /* c: untouched by every bad checkpoint below, then resumed from the buffer */
  CHECK(lipflow_run_save_checkpoint_buffer(c, before, size, &written) == LIPFLOW_OK && written == size);
  memcpy(damaged, buf, size);
  damaged[size / 2] ^= 0x10;
  CHECK(lipflow_run_load_checkpoint_buffer(c, damaged, size) == LIPFLOW_BAD_CHECKPOINT);
  CHECK(strstr(lipflow_last_error(), "crc") != NULL);
  CHECK(lipflow_run_load_checkpoint_buffer(c, buf, size - 1) == LIPFLOW_BAD_CHECKPOINT);
  CHECK(lipflow_run_load_checkpoint_buffer(c, buf, 10) == LIPFLOW_BAD_CHECKPOINT);
  CHECK(lipflow_run_load_checkpoint_buffer(c, buf, 0) == LIPFLOW_BAD_CHECKPOINT);
  damaged[size / 2] ^= 0x10;
  damaged[8] = 99; /* the format version */
  CHECK(lipflow_run_load_checkpoint_buffer(c, damaged, size) == LIPFLOW_BAD_CHECKPOINT);
  CHECK(strstr(lipflow_last_error(), "99") != NULL);
  CHECK(write_whole(broken_path, buf, size / 2));
  CHECK(lipflow_run_load_checkpoint(c, broken_path) == LIPFLOW_BAD_CHECKPOINT);
  CHECK(strstr(lipflow_last_error(), broken_path) != NULL);
  CHECK(lipflow_run_load_checkpoint(c, "no_such_dir/none.ckpt") == LIPFLOW_IO_ERROR);
  CHECK(strstr(lipflow_last_error(), "no_such_dir/none.ckpt") != NULL);
  CHECK(lipflow_run_save_checkpoint(c, "no_such_dir/none.ckpt") == LIPFLOW_IO_ERROR);
  CHECK(lipflow_run_steps_done(c) == 0);
  CHECK(lipflow_run_save_checkpoint_buffer(c, after, size, &written) == LIPFLOW_OK);
  CHECK(memcmp(before, after, size) == 0);
  /* another config (another learning rate): refused, naming the field */
  lr = strstr(kConfig, "\"lr\": 0.01");
  if (lr != NULL && strlen(kConfig) < sizeof other_config) {
    strcpy(other_config, kConfig);
    memcpy(other_config + (lr - kConfig), "\"lr\": 0.02", 10);
    CHECK(lipflow_run_create(other_config, &other) == LIPFLOW_OK);
    CHECK(lipflow_run_load_checkpoint_buffer(other, buf, size) == LIPFLOW_BAD_CHECKPOINT);
    CHECK(strstr(lipflow_last_error(), "lr") != NULL);
    CHECK(lipflow_run_steps_done(other) == 0);
    lipflow_run_destroy(other);
  }
  /* the buffer resumes c like the file resumed b: its next 20 losses are a's */
  CHECK(lipflow_run_load_checkpoint_buffer(c, buf, size) == LIPFLOW_OK && lipflow_run_steps_done(c) == 150);
  CHECK(lipflow_run_step(c, 20) == LIPFLOW_OK);
  n = train_losses(c, xb, yb, 400);
  CHECK(n == 20);
  if (na == 300 && n == 20)
    for (i = 0; i < 20; ++i) CHECK(memcmp(&yb[i], &ya[150 + i], sizeof(double)) == 0);

  /* NULL arguments */
  CHECK(lipflow_run_save_checkpoint(NULL, path) == LIPFLOW_NULL_POINTER);
  CHECK(strstr(lipflow_last_error(), "run is NULL") != NULL);
  CHECK(lipflow_run_save_checkpoint(c, NULL) == LIPFLOW_NULL_POINTER);
  CHECK(strstr(lipflow_last_error(), "path is NULL") != NULL);
  CHECK(lipflow_run_load_checkpoint(NULL, path) == LIPFLOW_NULL_POINTER);
  CHECK(lipflow_run_load_checkpoint(c, NULL) == LIPFLOW_NULL_POINTER);
  CHECK(lipflow_run_checkpoint_size(NULL, &size) == LIPFLOW_NULL_POINTER);
  CHECK(lipflow_run_checkpoint_size(c, NULL) == LIPFLOW_NULL_POINTER);
  CHECK(lipflow_run_save_checkpoint_buffer(c, NULL, size, &written) == LIPFLOW_NULL_POINTER);
  CHECK(strstr(lipflow_last_error(), "buffer is NULL") != NULL);
  CHECK(lipflow_run_save_checkpoint_buffer(c, buf, size, NULL) == LIPFLOW_NULL_POINTER);
  CHECK(lipflow_run_load_checkpoint_buffer(c, NULL, size) == LIPFLOW_NULL_POINTER);
  CHECK(lipflow_run_load_checkpoint_buffer(NULL, buf, size) == LIPFLOW_NULL_POINTER);

  remove(path);
  remove(broken_path);
  free(buf);
  free(file);
  free(damaged);
  free(before);
  free(after);
  lipflow_run_destroy(a);
  lipflow_run_destroy(b);
  lipflow_run_destroy(c);
}

int main(void) {
  lipflow_run* run = NULL;
  lipflow_result* result = NULL;
  size_t i, count = 0;
  long s;
  double x[400], y[400];
  float grid[8] = {0.0f, 0.0f, 1.0f, 0.5f, -1.0f, 0.5f, 2.0f, -0.5f}, out[8];

  CHECK(strlen(lipflow_version()) > 0);
  CHECK(lipflow_simd_lanes() >= 1 && lipflow_simd_lanes() <= 16);
  /* presets */
  CHECK(lipflow_preset_count() >= 2);
  CHECK(strcmp(lipflow_preset_id(0), "E1") == 0);
  CHECK(lipflow_preset_claim(0) != NULL && lipflow_preset_setup(0) != NULL);
  CHECK(lipflow_preset_id(1000) == NULL);
  CHECK(lipflow_preset_run("E1", 1, 3, on_progress, &progress_calls, &result) == LIPFLOW_OK);
  CHECK(result != NULL && lipflow_result_holds(result) == 1);
  CHECK(progress_calls > 1 && progress_last == 1.0);
  CHECK(strstr(lipflow_result_json(result), "\"holds\": true") != NULL);
  CHECK(lipflow_result_value(result) < lipflow_result_threshold(result));
  lipflow_result_destroy(result);
  result = NULL;

  /* a training run */
  CHECK(lipflow_run_create(kConfig, &run) == LIPFLOW_OK);
  if (run == NULL) return 1;
  CHECK(lipflow_run_total_steps(run) == 300);
  CHECK(lipflow_run_memory_bytes(run) > 0 && lipflow_run_parameter_count(run) == 2 * 16 + 16 + 16 * 16 + 16 + 16 * 2 + 2);
  CHECK(strstr(lipflow_run_config_json(run), "\"adam\"") != NULL);
  CHECK(strstr(lipflow_run_describe(run), "parameters: 354") != NULL);
  CHECK(lipflow_run_stop_reason(run) == LIPFLOW_RUNNING && isnan(lipflow_run_last_loss(run)));
  while (!lipflow_run_finished(run)) CHECK(lipflow_run_step(run, 64) == LIPFLOW_OK);
  CHECK(lipflow_run_stop_reason(run) == LIPFLOW_COMPLETED);
  CHECK(lipflow_run_steps_done(run) == 300);
  CHECK(lipflow_run_test_accuracy(run) > 0.8);
  CHECK(strstr(lipflow_run_stop_message(run), "completed 300 steps") != NULL);
  CHECK(lipflow_run_input_size(run) == 2 && lipflow_run_output_size(run) == 2);
  CHECK(lipflow_run_predict(run, NULL, 4, out) == LIPFLOW_NULL_POINTER);
  CHECK(strstr(lipflow_last_error(), "inputs is NULL") != NULL);
  CHECK(lipflow_run_predict(run, grid, 4, NULL) == LIPFLOW_NULL_POINTER);
  CHECK(strstr(lipflow_last_error(), "outputs is NULL") != NULL);
  CHECK(lipflow_run_predict(run, grid, 4, out) == LIPFLOW_OK);
  for (i = 0; i < 8; ++i) CHECK(isfinite(out[i]));

  CHECK(lipflow_run_collect(run, &result) == LIPFLOW_OK);
  s = find_series(result, "train_loss");
  CHECK(s >= 0);
  if (s >= 0) {
    CHECK(lipflow_result_series_length(result, (size_t)s) == 300);
    CHECK(strcmp(lipflow_result_series_x_label(result, (size_t)s), "step") == 0);
    CHECK(lipflow_result_series_read(result, (size_t)s, 0, x, y, 400, &count) == LIPFLOW_OK && count == 300);
    CHECK(x[299] == 299.0 && y[299] < y[0]);
    CHECK(lipflow_result_series_read(result, (size_t)s, 290, NULL, y, 400, &count) == LIPFLOW_OK && count == 10);
    CHECK(lipflow_result_series_read(result, (size_t)s, 301, x, y, 400, &count) == LIPFLOW_OUT_OF_RANGE);
    CHECK(strstr(lipflow_last_error(), "from 301 > length 300") != NULL);
    CHECK(lipflow_result_series_read(result, (size_t)s, 0, x, y, 400, NULL) == LIPFLOW_NULL_POINTER);
    CHECK(strstr(lipflow_last_error(), "count is NULL") != NULL);
  }
  s = find_series(result, "lipschitz_global");
  CHECK(s >= 0 && lipflow_result_series_length(result, (size_t)s) == 6);
  CHECK(lipflow_result_holds(result) == 1);
  CHECK(strstr(lipflow_result_json(result), "\"experiment\"") != NULL);
  CHECK(lipflow_result_series_read(result, 100000, 0, x, y, 1, &count) == LIPFLOW_OUT_OF_RANGE);
  CHECK(strstr(lipflow_last_error(), "series 100000") != NULL);
  CHECK(lipflow_result_series_name(result, 100000) == NULL);
  lipflow_result_destroy(result);
  lipflow_run_destroy(run);
  run = NULL;

  check_spectrum();

  /* misuse: every one a code and a message naming the problem */
  CHECK(lipflow_run_create("{\"model\": 3}", &run) == LIPFLOW_INVALID_CONFIG && run == NULL);
  CHECK(strstr(lipflow_last_error(), "model") != NULL);
  CHECK(lipflow_run_create("not json", &run) == LIPFLOW_INVALID_CONFIG);
  CHECK(lipflow_run_create(NULL, &run) == LIPFLOW_NULL_POINTER);
  CHECK(lipflow_run_create(kConfig, NULL) == LIPFLOW_NULL_POINTER);
  CHECK(lipflow_preset_run("E99", 1, 1, NULL, NULL, &result) == LIPFLOW_UNKNOWN_PRESET && result == NULL);
  CHECK(strstr(lipflow_last_error(), "E99") != NULL);
  CHECK(lipflow_run_create_preset("E1", 1, 1, &run) == LIPFLOW_INVALID_ARGUMENT && run == NULL);
  CHECK(lipflow_run_step(NULL, 1) == LIPFLOW_NULL_POINTER);
  CHECK(lipflow_run_predict(NULL, grid, 1, out) == LIPFLOW_NULL_POINTER);
  CHECK(strstr(lipflow_last_error(), "run is NULL") != NULL);
  CHECK(lipflow_run_finished(NULL) == 1 && lipflow_run_steps_done(NULL) == 0);
  lipflow_run_destroy(NULL);
  lipflow_result_destroy(NULL);

  test_checkpoints();

  if (failures == 0) printf("c api: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
