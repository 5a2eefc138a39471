// lipflow/c_api/lipflow.cpp: the C API over the lab (see lipflow.h).
#include "lipflow.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "lipflow/core/kernels.hpp"
#include "lipflow/lab/builder.hpp"
#include "lipflow/lab/config.hpp"
#include "lipflow/lab/experiment.hpp"
#include "lipflow/lab/run.hpp"

struct lipflow_run {
  std::unique_ptr<lipflow::lab::ConfigRun> run;
  std::string config_json, description;
};

struct lipflow_result {
  lipflow::lab::Result result;
  std::string json;
};

namespace {

using namespace lipflow;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

thread_local std::string last_error;

lipflow_code fail(lipflow_code code, const std::string& message) {
  last_error = message;
  return code;
}

lipflow_code fail(const Status& st) {
  char buf[200];
  return fail(st.code() == Code::null_pointer ? LIPFLOW_NULL_POINTER
              : st.code() == Code::out_of_range ? LIPFLOW_OUT_OF_RANGE
                                                 : LIPFLOW_INVALID_ARGUMENT,
              st.message(buf, sizeof buf));
}

const lab::Preset* preset_at(std::size_t index) {
  std::size_t n = 0;
  const lab::Preset* p = lab::presets(&n);
  return index < n ? &p[index] : nullptr;
}

lipflow_code create_run(const lab::ExperimentConfig& config, lipflow_run** out) {
  std::unique_ptr<lipflow_run> r(new lipflow_run());
  const lab::ConfigError e = lab::ConfigRun::create(config, &r->run);
  if (!e.ok()) return fail(LIPFLOW_INVALID_CONFIG, "invalid config: " + e.message());
  *out = r.release();
  return LIPFLOW_OK;
}

void report_progress(void* context, double fraction, const char* stage) {
  const auto* p = static_cast<const std::pair<lipflow_progress_fn, void*>*>(context);
  p->first(p->second, fraction, stage);
}

// A checkpoint call's error: the file's own failures are LIPFLOW_IO_ERROR, a full caller buffer
// LIPFLOW_BUFFER_TOO_SMALL, anything else (the bytes, the model, the config) LIPFLOW_BAD_CHECKPOINT.
lipflow_code checkpoint_failure(const char* function, const lab::ConfigError& e, Code code) {
  return fail(code == Code::io_error           ? LIPFLOW_IO_ERROR
              : code == Code::buffer_too_small ? LIPFLOW_BUFFER_TOO_SMALL
                                               : LIPFLOW_BAD_CHECKPOINT,
              std::string(function) + ": " + e.message());
}

const lab::Series* series_at(const lipflow_result* r, std::size_t index) {
  return r != nullptr && index < r->result.series.size() ? &r->result.series[index] : nullptr;
}

}  // namespace

extern "C" {

const char* lipflow_version(void) { return LIPFLOW_VERSION; }
const char* lipflow_last_error(void) { return last_error.c_str(); }
size_t lipflow_simd_lanes(void) { return kernels::simd_float_lanes(); }

size_t lipflow_preset_count(void) {
  std::size_t n = 0;
  (void)lab::presets(&n);
  return n;
}
const char* lipflow_preset_id(size_t index) { return preset_at(index) ? preset_at(index)->id : nullptr; }
const char* lipflow_preset_claim(size_t index) { return preset_at(index) ? preset_at(index)->claim : nullptr; }
const char* lipflow_preset_setup(size_t index) { return preset_at(index) ? preset_at(index)->setup : nullptr; }

lipflow_code lipflow_preset_run(const char* id, int quick, uint64_t seed, lipflow_progress_fn progress, void* context,
                                lipflow_result** out) {
  if (out == nullptr) return fail(LIPFLOW_NULL_POINTER, "lipflow_preset_run: out is NULL");
  *out = nullptr;
  if (id == nullptr) return fail(LIPFLOW_NULL_POINTER, "lipflow_preset_run: id is NULL");
  const lab::Preset* p = lab::find_preset(id);
  if (p == nullptr) return fail(LIPFLOW_UNKNOWN_PRESET, std::string("unknown preset '") + id + "'");
  std::pair<lipflow_progress_fn, void*> forward(progress, context);
  lab::Progress pr;
  if (progress != nullptr) {
    pr.context = &forward;
    pr.report = report_progress;
  }
  std::unique_ptr<lipflow_result> r(new lipflow_result());
  const Status st = lab::run_preset(*p, quick ? lab::RunSize::quick : lab::RunSize::full, seed, pr, &r->result);
  if (!st.ok()) {
    char buf[200];
    return fail(LIPFLOW_FAILED, std::string(p->id) + " failed: " + st.message(buf, sizeof buf));
  }
  *out = r.release();
  return LIPFLOW_OK;
}

lipflow_code lipflow_run_create(const char* config_json, lipflow_run** out) {
  if (out == nullptr) return fail(LIPFLOW_NULL_POINTER, "lipflow_run_create: out is NULL");
  *out = nullptr;
  if (config_json == nullptr) return fail(LIPFLOW_NULL_POINTER, "lipflow_run_create: config_json is NULL");
  lab::ExperimentConfig config;
  const lab::ConfigError e = lab::parse_config(config_json, &config);
  if (!e.ok()) return fail(LIPFLOW_INVALID_CONFIG, "invalid config: " + e.message());
  return create_run(config, out);
}

lipflow_code lipflow_run_create_preset(const char* id, int quick, uint64_t seed, lipflow_run** out) {
  if (out == nullptr) return fail(LIPFLOW_NULL_POINTER, "lipflow_run_create_preset: out is NULL");
  *out = nullptr;
  if (id == nullptr) return fail(LIPFLOW_NULL_POINTER, "lipflow_run_create_preset: id is NULL");
  const lab::Preset* p = lab::find_preset(id);
  if (p == nullptr) return fail(LIPFLOW_UNKNOWN_PRESET, std::string("unknown preset '") + id + "'");
  if (p->config == nullptr)
    return fail(LIPFLOW_INVALID_ARGUMENT, std::string(p->id) + " trains no model (it has no reference config)");
  lab::ExperimentConfig config;
  const lab::ConfigError e = p->config(quick ? lab::RunSize::quick : lab::RunSize::full, seed, &config);
  if (!e.ok()) return fail(LIPFLOW_INVALID_CONFIG, "invalid config: " + e.message());
  return create_run(config, out);
}

void lipflow_run_destroy(lipflow_run* run) { delete run; }

lipflow_code lipflow_run_step(lipflow_run* run, size_t steps) {
  if (run == nullptr) return fail(LIPFLOW_NULL_POINTER, "lipflow_run_step: run is NULL");
  lab::TrainResult r;
  Status st = run->run->train(steps, &r);
  // The final evaluation once the last step has run (Trainer::run does nothing else then).
  if (st.ok() && run->run->finished()) st = run->run->run(&r);
  if (!st.ok()) return fail(st);
  return LIPFLOW_OK;
}

int lipflow_run_finished(const lipflow_run* run) { return run == nullptr || run->run->finished() ? 1 : 0; }

lipflow_stop lipflow_run_stop_reason(const lipflow_run* run) {
  if (run == nullptr) return LIPFLOW_ERROR;
  switch (run->run->trainer().result().reason) {
    case lab::StopReason::none: return LIPFLOW_RUNNING;
    case lab::StopReason::completed: return LIPFLOW_COMPLETED;
    case lab::StopReason::nonfinite_loss: return LIPFLOW_NONFINITE_LOSS;
    case lab::StopReason::nonfinite_gradient: return LIPFLOW_NONFINITE_GRADIENT;
    case lab::StopReason::diverged: return LIPFLOW_DIVERGED;
    case lab::StopReason::error: return LIPFLOW_ERROR;
  }
  return LIPFLOW_ERROR;
}

const char* lipflow_run_stop_message(const lipflow_run* run) {
  return run == nullptr ? "" : run->run->trainer().result().message;
}
uint64_t lipflow_run_steps_done(const lipflow_run* run) { return run == nullptr ? 0 : run->run->trainer().steps_done(); }
uint64_t lipflow_run_total_steps(const lipflow_run* run) { return run == nullptr ? 0 : run->run->config().training.steps; }
double lipflow_run_last_loss(const lipflow_run* run) {
  return run == nullptr || run->run->trainer().steps().empty() ? kNaN : run->run->trainer().steps().back().loss;
}
double lipflow_run_test_loss(const lipflow_run* run) { return run == nullptr ? kNaN : run->run->last_evaluation().loss; }
double lipflow_run_test_accuracy(const lipflow_run* run) {
  return run == nullptr ? kNaN : run->run->last_evaluation().accuracy;
}
size_t lipflow_run_memory_bytes(const lipflow_run* run) { return run == nullptr ? 0 : run->run->experiment().total_bytes(); }
size_t lipflow_run_parameter_count(const lipflow_run* run) {
  return run == nullptr ? 0 : run->run->experiment().parameter_count();
}

const char* lipflow_run_config_json(lipflow_run* run) {
  if (run == nullptr) return nullptr;
  run->config_json = lab::to_json_text(run->run->config());
  return run->config_json.c_str();
}

const char* lipflow_run_describe(lipflow_run* run) {
  if (run == nullptr) return nullptr;
  run->description = run->run->experiment().describe();
  return run->description.c_str();
}

size_t lipflow_run_input_size(const lipflow_run* run) { return run == nullptr ? 0 : run->run->data().sample_size(); }
size_t lipflow_run_output_size(const lipflow_run* run) {
  return run == nullptr ? 0 : const_cast<lipflow_run*>(run)->run->model().output_shape().size();
}

lipflow_code lipflow_run_predict(lipflow_run* run, const float* inputs, size_t count, float* outputs) {
  if (run == nullptr || inputs == nullptr || outputs == nullptr)
    return fail(LIPFLOW_NULL_POINTER, run == nullptr      ? "lipflow_run_predict: run is NULL"
                                      : inputs == nullptr ? "lipflow_run_predict: inputs is NULL"
                                                          : "lipflow_run_predict: outputs is NULL");
  nn::Model<float>& m = run->run->model();
  const std::size_t in = m.input_shape().size(), out = m.output_shape().size(), batch = m.max_batch();
  m.set_training(false);
  Status st;
  for (std::size_t start = 0; start < count && st.ok(); start += batch) {
    const std::size_t n = count - start < batch ? count - start : batch;
    const float* y = nullptr;
    st = m.forward(inputs + start * in, n, &y);
    if (st.ok())
      for (std::size_t i = 0; i < n * out; ++i) outputs[start * out + i] = y[i];
  }
  m.set_training(true);
  if (!st.ok()) return fail(st);
  return LIPFLOW_OK;
}

lipflow_code lipflow_run_collect(lipflow_run* run, lipflow_result** out) {
  if (out == nullptr) return fail(LIPFLOW_NULL_POINTER, "lipflow_run_collect: out is NULL");
  *out = nullptr;
  if (run == nullptr) return fail(LIPFLOW_NULL_POINTER, "lipflow_run_collect: run is NULL");
  std::unique_ptr<lipflow_result> r(new lipflow_result());
  lab::Result& res = r->result;
  res.preset = "config";
  res.seed = run->run->config().training.seed;
  res.config_json = lab::to_json_text(run->run->config());
  run->run->collect(&res);
  const lab::TrainResult& tr = run->run->trainer().result();
  res.verdict.claim = "the run completes: no non-finite loss or gradient, no divergence";
  res.verdict.value = static_cast<double>(tr.steps_done);
  res.verdict.threshold = static_cast<double>(run->run->config().training.steps);
  res.verdict.holds = tr.reason == lab::StopReason::completed;
  res.verdict.comparison = tr.message;
  *out = r.release();
  return LIPFLOW_OK;
}

// ---- Analysis

size_t lipflow_run_layer_count(const lipflow_run* run) { return run == nullptr ? 0 : run->run->layer_count(); }
const char* lipflow_run_layer_name(const lipflow_run* run, size_t layer) {
  return run == nullptr || layer >= run->run->layer_count() ? nullptr : run->run->layer_name(layer);
}
size_t lipflow_run_layer_spectrum_size(const lipflow_run* run, size_t layer) {
  return run == nullptr ? 0 : run->run->layer_spectrum_size(layer);
}

lipflow_code lipflow_run_layer_spectrum(lipflow_run* run, size_t layer, size_t sample, double* sigma,
                                        size_t capacity, size_t* count) {
  if (run == nullptr || sigma == nullptr || count == nullptr)
    return fail(LIPFLOW_NULL_POINTER, run == nullptr     ? "lipflow_run_layer_spectrum: run is NULL"
                                      : sigma == nullptr ? "lipflow_run_layer_spectrum: sigma is NULL"
                                                         : "lipflow_run_layer_spectrum: count is NULL");
  const std::string where = "lipflow_run_layer_spectrum: ";
  if (layer >= run->run->layer_count())
    return fail(LIPFLOW_OUT_OF_RANGE, where + "layer " + std::to_string(layer) + " of " +
                                          std::to_string(run->run->layer_count()));
  const Status st = run->run->layer_spectrum(layer, sample, sigma, capacity, count);
  if (st.code() == Code::out_of_range)
    return fail(LIPFLOW_OUT_OF_RANGE, where + "sample " + std::to_string(sample) + " of " + std::to_string(st.limit()) +
                                          " test samples");
  if (st.code() == Code::buffer_too_small)
    return fail(LIPFLOW_INVALID_ARGUMENT, where + "capacity " + std::to_string(capacity) + " is below the " +
                                              std::to_string(st.limit()) + " singular values of layer " +
                                              std::to_string(layer));
  if (!st.ok()) return fail(st);
  return LIPFLOW_OK;
}

size_t lipflow_run_test_sample_count(const lipflow_run* run) {
  return run == nullptr ? 0 : run->run->data().size(lab::Split::test);
}

lipflow_code lipflow_run_test_samples(const lipflow_run* run, size_t from, float* inputs, double* labels,
                                      size_t capacity, size_t* count) {
  if (run == nullptr || count == nullptr)
    return fail(LIPFLOW_NULL_POINTER, run == nullptr ? "lipflow_run_test_samples: run is NULL"
                                                     : "lipflow_run_test_samples: count is NULL");
  const lab::Dataset& d = run->run->data();
  const std::size_t n = d.size(lab::Split::test), in = d.sample_size(), per = d.target_size();
  if (from > n)
    return fail(LIPFLOW_OUT_OF_RANGE, "lipflow_run_test_samples: from " + std::to_string(from) + " > " +
                                          std::to_string(n) + " test samples");
  const std::size_t k = n - from < capacity ? n - from : capacity;
  const float* x = d.features(lab::Split::test);
  const std::int32_t* classes = d.class_targets(lab::Split::test);
  const float* values = d.value_targets(lab::Split::test);
  for (std::size_t i = 0; i < k; ++i) {
    if (inputs != nullptr)
      for (std::size_t j = 0; j < in; ++j) inputs[i * in + j] = x[(from + i) * in + j];
    if (labels != nullptr)
      labels[i] = classes != nullptr ? static_cast<double>(classes[(from + i) * per])
                  : values != nullptr ? static_cast<double>(values[(from + i) * per])
                                      : kNaN;
  }
  *count = k;
  return LIPFLOW_OK;
}


lipflow_code lipflow_run_save_checkpoint(lipflow_run* run, const char* path) {
  if (run == nullptr || path == nullptr)
    return fail(LIPFLOW_NULL_POINTER, run == nullptr ? "lipflow_run_save_checkpoint: run is NULL"
                                                     : "lipflow_run_save_checkpoint: path is NULL");
  Code code = Code::ok;
  const lab::ConfigError e = run->run->save_checkpoint(path, &code);
  return e.ok() ? LIPFLOW_OK : checkpoint_failure("lipflow_run_save_checkpoint", e, code);
}

lipflow_code lipflow_run_load_checkpoint(lipflow_run* run, const char* path) {
  if (run == nullptr || path == nullptr)
    return fail(LIPFLOW_NULL_POINTER, run == nullptr ? "lipflow_run_load_checkpoint: run is NULL"
                                                     : "lipflow_run_load_checkpoint: path is NULL");
  Code code = Code::ok;
  const lab::ConfigError e = run->run->load_checkpoint(path, &code);
  return e.ok() ? LIPFLOW_OK : checkpoint_failure("lipflow_run_load_checkpoint", e, code);
}

lipflow_code lipflow_run_checkpoint_size(lipflow_run* run, size_t* bytes) {
  if (run == nullptr || bytes == nullptr)
    return fail(LIPFLOW_NULL_POINTER, run == nullptr ? "lipflow_run_checkpoint_size: run is NULL"
                                                     : "lipflow_run_checkpoint_size: bytes is NULL");
  CountingSink counter;
  Code code = Code::ok;
  const lab::ConfigError e = run->run->write_checkpoint(counter, &code);
  if (!e.ok()) return checkpoint_failure("lipflow_run_checkpoint_size", e, code);
  *bytes = counter.count();
  return LIPFLOW_OK;
}

lipflow_code lipflow_run_save_checkpoint_buffer(lipflow_run* run, void* buffer, size_t capacity, size_t* written) {
  if (run == nullptr || buffer == nullptr || written == nullptr)
    return fail(LIPFLOW_NULL_POINTER, run == nullptr      ? "lipflow_run_save_checkpoint_buffer: run is NULL"
                                      : buffer == nullptr ? "lipflow_run_save_checkpoint_buffer: buffer is NULL"
                                                          : "lipflow_run_save_checkpoint_buffer: written is NULL");
  // Measured first, so that a buffer too small is refused before any byte of it changes.
  CountingSink counter;
  Code code = Code::ok;
  lab::ConfigError e = run->run->write_checkpoint(counter, &code);
  if (!e.ok()) return checkpoint_failure("lipflow_run_save_checkpoint_buffer", e, code);
  if (counter.count() > capacity)
    return fail(LIPFLOW_BUFFER_TOO_SMALL, "lipflow_run_save_checkpoint_buffer: capacity = " + std::to_string(capacity) +
                                              " bytes, the checkpoint needs " + std::to_string(counter.count()));
  MemorySink sink(buffer, capacity);
  e = run->run->write_checkpoint(sink, &code);
  if (!e.ok()) return checkpoint_failure("lipflow_run_save_checkpoint_buffer", e, code);
  *written = sink.size();
  return LIPFLOW_OK;
}

lipflow_code lipflow_run_load_checkpoint_buffer(lipflow_run* run, const void* data, size_t bytes) {
  if (run == nullptr || data == nullptr)
    return fail(LIPFLOW_NULL_POINTER, run == nullptr ? "lipflow_run_load_checkpoint_buffer: run is NULL"
                                                     : "lipflow_run_load_checkpoint_buffer: data is NULL");
  Code code = Code::ok;
  const lab::ConfigError e = run->run->read_checkpoint(data, bytes, "(buffer)", &code);
  return e.ok() ? LIPFLOW_OK : checkpoint_failure("lipflow_run_load_checkpoint_buffer", e, code);
}

void lipflow_result_destroy(lipflow_result* result) { delete result; }

const char* lipflow_result_json(lipflow_result* result) {
  if (result == nullptr) return nullptr;
  if (result->json.empty()) result->json = lab::result_to_json(result->result);
  return result->json.c_str();
}
int lipflow_result_holds(const lipflow_result* result) { return result != nullptr && result->result.verdict.holds ? 1 : 0; }
double lipflow_result_value(const lipflow_result* result) { return result == nullptr ? kNaN : result->result.verdict.value; }
double lipflow_result_threshold(const lipflow_result* result) {
  return result == nullptr ? kNaN : result->result.verdict.threshold;
}
const char* lipflow_result_claim(const lipflow_result* result) {
  return result == nullptr ? nullptr : result->result.verdict.claim.c_str();
}
const char* lipflow_result_comparison(const lipflow_result* result) {
  return result == nullptr ? nullptr : result->result.verdict.comparison.c_str();
}
size_t lipflow_result_series_count(const lipflow_result* result) { return result == nullptr ? 0 : result->result.series.size(); }
const char* lipflow_result_series_name(const lipflow_result* result, size_t index) {
  const lab::Series* s = series_at(result, index);
  return s == nullptr ? nullptr : s->name.c_str();
}
const char* lipflow_result_series_x_label(const lipflow_result* result, size_t index) {
  const lab::Series* s = series_at(result, index);
  return s == nullptr ? nullptr : s->x_label.c_str();
}
const char* lipflow_result_series_y_label(const lipflow_result* result, size_t index) {
  const lab::Series* s = series_at(result, index);
  return s == nullptr ? nullptr : s->y_label.c_str();
}
size_t lipflow_result_series_length(const lipflow_result* result, size_t index) {
  const lab::Series* s = series_at(result, index);
  return s == nullptr ? 0 : (s->x.size() < s->y.size() ? s->x.size() : s->y.size());
}

lipflow_code lipflow_result_series_read(const lipflow_result* result, size_t index, size_t from, double* x, double* y,
                                        size_t capacity, size_t* count) {
  if (result == nullptr || count == nullptr)
    return fail(LIPFLOW_NULL_POINTER, result == nullptr ? "lipflow_result_series_read: result is NULL"
                                                        : "lipflow_result_series_read: count is NULL");
  const lab::Series* s = series_at(result, index);
  if (s == nullptr)
    return fail(LIPFLOW_OUT_OF_RANGE, "lipflow_result_series_read: series " + std::to_string(index) + " of " +
                                          std::to_string(result->result.series.size()));
  const std::size_t n = lipflow_result_series_length(result, index);
  if (from > n)
    return fail(LIPFLOW_OUT_OF_RANGE, "lipflow_result_series_read: from " + std::to_string(from) + " > length " +
                                          std::to_string(n));
  const std::size_t k = n - from < capacity ? n - from : capacity;
  for (std::size_t i = 0; i < k; ++i) {
    if (x != nullptr) x[i] = s->x[from + i];
    if (y != nullptr) y[i] = s->y[from + i];
  }
  *count = k;
  return LIPFLOW_OK;
}

}  // extern "C"
