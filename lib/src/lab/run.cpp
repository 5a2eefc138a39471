// lipflow/lab/run.cpp: a config trained end to end (see run.hpp).
#include "lipflow/lab/run.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

#include "lipflow/analysis/svd.hpp"
#include "lipflow/lab/checkpoint.hpp"
#include "lipflow/optim/schedule.hpp"

namespace lipflow {
namespace lab {

namespace {

std::string status_text(const Status& st) {
  char buf[160];
  return st.message(buf, sizeof buf);
}

std::size_t param(const Params& p, const char* name) { return static_cast<std::size_t>(p.at(name)); }

// The dataset field a generator's error names ("tokens: length (...)" -> dataset.length).
std::string dataset_field(const Status& st) {
  const std::string where = st.where();
  const std::size_t colon = where.find(": ");
  if (colon == std::string::npos) return "dataset";
  const std::string field = where.substr(colon + 2);
  return "dataset." + field.substr(0, field.find(' '));
}

}  // namespace

// Plans the run's analysis (the lower-bound search, the layer Jacobians), the Trainer's buffers and
// the monitor inside the Experiment's plan.
class RunExtension final : public PlanExtension {
 public:
  explicit RunExtension(ConfigRun* r) : run_(r) {}
  Status plan(Experiment& x, MemoryPlan& plan) noexcept override {
    LIPFLOW_TRY(run_->plan_analysis(x.model(), plan));
    return run_->trainer_.plan_buffers(x.model(), plan);
  }
  Status bind(Experiment&, const Arena& arena) noexcept override {
    LIPFLOW_TRY(run_->bind_analysis(arena));
    return run_->trainer_.bind_buffers(arena);
  }

 private:
  ConfigRun* run_;
};

ConfigError make_dataset(const ExperimentConfig& config, Dataset* out) {
  if (out == nullptr) return ConfigError{"dataset", "null", "an output pointer"};
  const DatasetConfig& d = config.dataset;
  const Params& p = d.params;
  SplitSizes sizes;
  sizes.train = param(p, "train_samples");
  sizes.test = param(p, "test_samples");
  sizes.seed = config.training.seed;
  // The samples live on the heap beside the planned buffer, so they count against the memory cap
  // too (an upper bound: 4-byte features and targets, a token task's targets as long as its input).
  const bool tokens = p.count("length") > 0;
  const double per_sample = 4.0 * (tokens ? 2.0 * p.at("length")
                                          : (d.name == "gaussian_mixture" ? p.at("dims") : d.name == "sine" ? 1.0 : 2.0) + 1.0);
  const double data_bytes = per_sample * (static_cast<double>(sizes.train) + static_cast<double>(sizes.test));
  if (data_bytes > static_cast<double>(config.memory_cap_bytes))
    return ConfigError{"memory_cap_bytes", std::to_string(config.memory_cap_bytes),
                       "at least the dataset's " + std::to_string(static_cast<unsigned long long>(data_bytes)) +
                           " bytes (dataset.train_samples + test_samples)"};
  Status st;
  if (d.name == "two_spirals") {
    SpiralsOptions o;
    o.sizes = sizes;
    o.turns = p.at("turns");
    o.noise = p.at("noise");
    st = Dataset::two_spirals(o, out);
  } else if (d.name == "moons") {
    MoonsOptions o;
    o.sizes = sizes;
    o.noise = p.at("noise");
    st = Dataset::moons(o, out);
  } else if (d.name == "gaussian_mixture") {
    MixtureOptions o;
    o.sizes = sizes;
    o.classes = param(p, "classes");
    o.dims = param(p, "dims");
    o.mean_scale = p.at("mean_scale");
    o.spread = p.at("spread");
    st = Dataset::gaussian_mixture(o, out);
  } else if (d.name == "sine") {
    SineOptions o;
    o.sizes = sizes;
    o.noise = p.at("noise");
    st = Dataset::sine(o, out);
  } else {
    TokenOptions o;
    o.sizes = sizes;
    o.task = d.name == "copy" ? TokenTask::copy
             : d.name == "reverse" ? TokenTask::reverse
             : d.name == "sort" ? TokenTask::sort
                                : TokenTask::mod_add;
    if (d.name != "copy" && d.name != "reverse" && d.name != "sort" && d.name != "mod_add")
      return ConfigError{"dataset.name", d.name, "a dataset the lab knows"};
    o.vocab = param(p, "vocabulary");
    o.length = param(p, "length");
    st = Dataset::tokens(o, out);
  }
  if (!st.ok()) return ConfigError{dataset_field(st), std::to_string(st.value()), status_text(st)};
  return ConfigError();
}

ConfigError ConfigRun::create(const ExperimentConfig& config, std::unique_ptr<ConfigRun>* out) {
  if (out == nullptr) return ConfigError{"(run)", "null", "an output pointer"};
  out->reset();
  std::unique_ptr<ConfigRun> r(new ConfigRun());
  ConfigError e = r->make(config);
  if (e.ok()) *out = std::move(r);
  return e;
}

ConfigError ConfigRun::make(const ExperimentConfig& config) {
  ConfigError e = make_dataset(config, &data_);
  if (!e.ok()) return e;
  // The data must fit the model's input and head; the Trainer checks the shapes once the model is
  // planned, these checks name the config fields instead.
  const ModelConfig& m = config.model;
  if (!(m.input_shape() == data_.sample_shape()))
    return ConfigError{"model.input", std::to_string(m.input_shape().size()) + " values per sample",
                 "the dataset's sample of " + std::to_string(data_.sample_size()) + " values"};
  if (m.input == InputKind::tokens && m.vocabulary < data_.classes())
    return ConfigError{"model.input.vocabulary", std::to_string(m.vocabulary),
                 ">= the dataset's vocabulary (" + std::to_string(data_.classes()) + ")"};

  const TrainingConfig& t = config.training;
  // The step, evaluation and monitor records are reserved up front: they count against the cap too.
  const double steps = static_cast<double>(t.steps);
  const double record_bytes =
      steps * sizeof(StepRecord) + (steps / static_cast<double>(t.monitor.every) + 2) * sizeof(analysis::MonitorRecord) +
      (t.eval_every > 0 ? steps / static_cast<double>(t.eval_every) + 2 : 2) * sizeof(EvalRecord);
  if (record_bytes > static_cast<double>(config.memory_cap_bytes))
    return ConfigError{"memory_cap_bytes", std::to_string(config.memory_cap_bytes),
                       "at least the " + std::to_string(static_cast<unsigned long long>(record_bytes)) +
                           " bytes of the records of training.steps (with training.monitor.every = " +
                           std::to_string(t.monitor.every) + ")"};
  optim::SequentialSchedule schedule;
  e = make_schedule(config.schedule, &schedule);
  if (!e.ok()) return e;
  TrainerOptions o;
  o.batch_size = t.batch_size;
  o.max_steps = static_cast<std::size_t>(t.steps);
  o.eval_every = static_cast<std::size_t>(t.eval_every);
  o.divergence_factor = t.divergence_factor;
  o.nonfinite = t.nonfinite == "skip" ? NonfinitePolicy::skip : NonfinitePolicy::stop;
  o.sequential = &schedule;
  o.seed = t.seed;
  o.init_model = false;  // the Experiment initializes from the same seed
  o.add_params = false;  // the Experiment made the decay groups
  const ClipConfig& c = config.clip;
  if (c.kind == "norm") {
    o.clip = ClipKind::norm;
    o.clip_value = c.max_norm;
    o.clip_norm = c.norm == "l1" ? kernels::Norm::l1 : c.norm == "linf" ? kernels::Norm::linf : kernels::Norm::l2;
  } else if (c.kind == "value") {
    o.clip = ClipKind::value;
    o.clip_value = c.clip_value;
  } else if (c.kind == "agc") {
    o.clip = ClipKind::adaptive;
    o.agc.clipping = c.clipping;
    o.agc.eps = c.eps;
  }
  analysis::MonitorOptions mo;
  mo.every = t.monitor.every;
  mo.estimators = monitor_estimator_bits(t.monitor);
  mo.capacity = 64;
  Status st = trainer_.configure(data_, o, &monitor_, mo);
  if (!st.ok()) return ConfigError{"training", std::to_string(st.value()), status_text(st)};
  // The measured lower bound needs an input Jacobian: none for token ids.
  token_input_ = m.input == InputKind::tokens;
  for (const std::string& name : t.monitor.estimators)
    if (name == "lower_bound" && token_input_)
      return ConfigError{"training.monitor.estimators", name,
                         "estimators of a model on real-valued inputs (token ids have no input Jacobian)"};
  lower_bound_ = (mo.estimators & kMonitorLowerBound) != 0 && !token_input_;
  if (lower_bound_) {
    analysis::MonitorExtension x;
    x.name = "lower_bound";
    x.run = &ConfigRun::run_lower_bound;
    x.context = this;
    x.state = &ConfigRun::lower_bound_state;
    std::size_t index = 0;
    st = monitor_.add_extension(x, &index);
    if (!st.ok() || index != 0) return ConfigError{"training.monitor", "lower_bound", status_text(st)};
  }

  RunExtension extension(this);
  e = Experiment::build(config, &experiment_, &extension);
  if (!e.ok()) return e;
  st = trainer_.attach(experiment_->model(), experiment_->optimizer());
  if (!st.ok()) return ConfigError{"training", std::to_string(st.value()), status_text(st)};
  // Read the monitor before its ring wraps: (capacity - 1) records per slice.
  chunk_ = mo.every * (mo.capacity - 1);
  records_.reserve(static_cast<std::size_t>(t.steps / mo.every) + 2);
  return ConfigError();
}

void ConfigRun::harvest() noexcept {
  const std::size_t total = monitor_.total_recorded(), held = monitor_.size();
  // Records appended since the last harvest are the newest (total - harvested_) of those held.
  std::size_t fresh = total - harvested_;
  if (fresh > held) fresh = held;  // cannot happen with chunk_ slices; keep what is left
  for (std::size_t i = held - fresh; i < held; ++i)
    if (records_.size() < records_.capacity()) records_.push_back(*monitor_.record(i));
  harvested_ = total;
}

Status ConfigRun::train(std::size_t steps, TrainResult* result) noexcept {
  std::size_t left = steps;
  TrainResult r;
  do {
    const std::size_t n = left < chunk_ ? left : chunk_;
    const Status st = trainer_.train(n, &r);
    harvest();
    if (!st.ok()) {
      if (result != nullptr) *result = r;
      return st;
    }
    left -= n;
  } while (left > 0 && r.reason == StopReason::none);
  if (result != nullptr) *result = r;
  return Status::success();
}

Status ConfigRun::run(TrainResult* result) noexcept {
  LIPFLOW_TRY(train(static_cast<std::size_t>(config().training.steps), result));
  const Status st = trainer_.run(result);  // nothing left to train: the final evaluation
  harvest();
  return st;
}

namespace {

// A checkpoint error: *code (when asked for) gets the status' code.
ConfigError checkpoint_error(const std::string& source, const Status& st, Code* code) {
  if (code != nullptr) *code = st.code();
  return ConfigError{"checkpoint", source, status_text(st)};
}

}  // namespace

ConfigError ConfigRun::save_checkpoint(const std::string& path, Code* code) {
  const std::string text = to_json_text(config());
  const Status st = lab::save_checkpoint(path, trainer_, &text);
  if (!st.ok()) return checkpoint_error(path, st, code);
  return ConfigError();
}

ConfigError ConfigRun::write_checkpoint(ByteSink& sink, Code* code) {
  const std::string text = to_json_text(config());
  const Status st = lab::write_checkpoint(sink, trainer_, &text);
  if (!st.ok()) return checkpoint_error("", st, code);
  return ConfigError();
}

namespace {

// The first line where two texts differ (empty when they are equal).
std::string first_difference(const std::string& a, const std::string& b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  if (i == a.size() && i == b.size()) return std::string();
  const std::size_t start = a.rfind('\n', i == 0 ? 0 : i - 1);
  const std::size_t from = start == std::string::npos ? 0 : start + 1;
  const std::size_t end = a.find('\n', i);
  std::string line = a.substr(from, end == std::string::npos ? std::string::npos : end - from);
  const std::size_t first = line.find_first_not_of(' ');
  return first == std::string::npos ? line : line.substr(first);
}

}  // namespace

ConfigError ConfigRun::load_checkpoint(const std::string& path, Code* code) {
  std::vector<unsigned char> bytes;
  const Status st = read_file(path, &bytes);
  if (!st.ok()) return checkpoint_error(path, st, code);
  return read_checkpoint(bytes.data(), bytes.size(), path, code);
}

ConfigError ConfigRun::read_checkpoint(const void* data, std::size_t bytes, const std::string& source, Code* code) {
  if (data == nullptr && bytes > 0) return checkpoint_error(source, Status(Code::null_pointer, "checkpoint: data"), code);
  CheckpointView view;
  Status st = view.parse(data, bytes);
  std::string saved;
  if (st.ok()) st = check_checkpoint(view, trainer_, &saved);
  // The saved config must be this run's (training.steps aside: a resumed run may go further). It is
  // compared first when there is one: the field that differs says more than a size that differs.
  if (!saved.empty()) {
    ExperimentConfig theirs;
    const ConfigError parsed = parse_config(saved, &theirs);
    if (!parsed.ok()) {
      if (code != nullptr) *code = Code::corrupt_data;
      return ConfigError{"checkpoint.config", source, "a saved config (" + parsed.message() + ")"};
    }
    theirs.training.steps = config().training.steps;
    const std::string mine = to_json_text(config()), other = to_json_text(theirs);
    if (mine != other) {
      if (code != nullptr) *code = Code::shape_mismatch;
      return ConfigError{"checkpoint.config", first_difference(other, mine),
                         "the run's own config: " + first_difference(mine, other)};
    }
  }
  if (!st.ok()) return checkpoint_error(source, st, code);
  st = apply_checkpoint(view, trainer_);
  if (!st.ok()) return checkpoint_error(source, st, code);
  return ConfigError();
}

const float* ConfigRun::probe_inputs(std::size_t* count) const noexcept {
  const Split s = data_.size(Split::test) > 0 ? Split::test : Split::train;
  *count = data_.size(s);
  return data_.features(s);
}

Status ConfigRun::plan_analysis(nn::Model<float>& m, MemoryPlan& plan) noexcept {
  if (lower_bound_) LIPFLOW_TRY(search_.plan(m, plan));
  const std::size_t n = m.layer_count();
  layer_names_.assign(n, std::string());
  spectrum_size_.assign(n, 0);
  jacobians_.assign(n, analysis::ModuleJacobian<float>());
  std::size_t entries = 0, values = 0, gram = 0;
  for (std::size_t l = 0; l < n; ++l) {
    nn::Module<float>& layer = *m.layer(l);
    char name[64];
    std::snprintf(name, sizeof name, "layer%02zu_%s", l, layer.kind());
    layer_names_[l] = name;
    const std::size_t in = layer.input_shape().size(), out = layer.output_shape().size();
    if (in * out > kSpectrumMaxEntries || (l == 0 && token_input_)) continue;
    LIPFLOW_TRY(jacobians_[l].plan(layer, plan, false, 1));
    spectrum_size_[l] = in < out ? in : out;
    if (in * out > entries) entries = in * out;
    if (spectrum_size_[l] > values) values = spectrum_size_[l];
    if (in * out > kSpectrumJacobiEntries && analysis::singular_values_gram_workspace(out, in) > gram)
      gram = analysis::singular_values_gram_workspace(out, in);
  }
  if (entries == 0) return Status::success();
  LIPFLOW_TRY(spectrum_matrix_.plan(plan, "spectrum.matrix", MemoryKind::scratch, entries));
  if (gram > 0) LIPFLOW_TRY(spectrum_gram_.plan(plan, "spectrum.gram", MemoryKind::scratch, gram));
  return spectrum_sigma_.plan(plan, "spectrum.sigma", MemoryKind::scratch, values);
}

Status ConfigRun::bind_analysis(const Arena& arena) noexcept {
  if (lower_bound_) LIPFLOW_TRY(search_.bind(arena));
  for (std::size_t l = 0; l < jacobians_.size(); ++l)
    if (spectrum_size_[l] > 0) LIPFLOW_TRY(jacobians_[l].bind(arena));
  if (spectrum_matrix_.size == 0) return Status::success();
  LIPFLOW_TRY(spectrum_matrix_.bind(arena));
  if (spectrum_gram_.size > 0) LIPFLOW_TRY(spectrum_gram_.bind(arena));
  return spectrum_sigma_.bind(arena);
}

Status ConfigRun::lower_bound_state(void* context, float** data, std::size_t* size) noexcept {
  ConfigRun& r = *static_cast<ConfigRun*>(context);
  analysis::ModelSpectralNorm<float>& s = r.search_.spectral();
  *data = s.right_vector();  // the power iteration's warm start, carried from one record to the next
  *size = s.in_size();
  return Status::success();
}

Status ConfigRun::run_lower_bound(void* context, std::size_t, std::size_t, double* values, std::size_t capacity,
                                  std::size_t* count) noexcept {
  ConfigRun& r = *static_cast<ConfigRun*>(context);
  if (capacity < 2) return Status(Code::buffer_too_small, "lower_bound: values", (long long)capacity, 2);
  std::size_t n = 0;
  const float* inputs = r.probe_inputs(&n);
  if (n > kLowerBoundInputs) n = kLowerBoundInputs;
  analysis::LowerBoundOptions o;
  o.power.max_iterations = kLowerBoundIterations;
  o.power.tolerance = 1e-4;
  o.radius = 0.1;
  o.steps = kLowerBoundSteps;
  analysis::LowerBoundReport rep;
  nn::Model<float>& m = r.model();
  m.set_training(false);  // BatchNorm rejects a batch of 1 in training mode; dropout off
  const Status st = r.search_.run(inputs, n, o, &rep);
  m.set_training(true);
  LIPFLOW_TRY(st);
  values[0] = rep.lower;
  values[1] = rep.sampled;
  *count = 2;
  return Status::success();
}

const char* ConfigRun::layer_name(std::size_t layer) const noexcept {
  return layer < layer_names_.size() ? layer_names_[layer].c_str() : "";
}

std::size_t ConfigRun::layer_spectrum_size(std::size_t layer) const noexcept {
  return layer < spectrum_size_.size() ? spectrum_size_[layer] : 0;
}

Status ConfigRun::layer_spectrum(std::size_t layer, std::size_t sample, double* sigma, std::size_t capacity,
                                 std::size_t* count) noexcept {
  if (sigma == nullptr || count == nullptr) return Status(Code::null_pointer, "layer_spectrum: sigma or count");
  if (layer >= layer_names_.size())
    return Status(Code::out_of_range, "layer_spectrum: layer", (long long)layer, (long long)layer_names_.size());
  nn::Model<float>& m = model();
  nn::Module<float>& module = *m.layer(layer);
  const std::size_t in = module.input_shape().size(), out = module.output_shape().size(), k = spectrum_size_[layer];
  if (k == 0)
    return token_input_ && layer == 0
               ? Status(Code::invalid_argument, "layer_spectrum: the layer's input is token ids (no Jacobian)")
               : Status(Code::invalid_argument, "layer_spectrum: the layer's Jacobian (in x out entries) is above the limit",
                        (long long)(in * out), (long long)kSpectrumMaxEntries);
  std::size_t samples = 0;
  const float* x = probe_inputs(&samples);
  if (sample >= samples)
    return Status(Code::out_of_range, "layer_spectrum: sample of the test split", (long long)sample, (long long)samples);
  if (capacity < k)
    return Status(Code::buffer_too_small, "layer_spectrum: capacity below the count of singular values",
                  (long long)capacity, (long long)k);
  m.set_training(false);
  const float* y = nullptr;
  Status st = m.forward(x + sample * m.input_shape().size(), 1, &y);
  if (st.ok())
    st = jacobians_[layer].compute(m.layer_input(layer), m.layer_output(layer), 1, 0, spectrum_matrix_.data,
                                   analysis::JacobianMethod::columns);
  m.set_training(true);
  LIPFLOW_TRY(st);
  if (in * out > kSpectrumJacobiEntries)
    LIPFLOW_TRY(analysis::singular_values_gram<float>(spectrum_matrix_.data, out, in, in, spectrum_gram_.data,
                                                      spectrum_gram_.size, spectrum_sigma_.data));
  else
    LIPFLOW_TRY(analysis::singular_values<float>(spectrum_matrix_.data, out, in, in, spectrum_sigma_.data));
  for (std::size_t i = 0; i < k; ++i) sigma[i] = spectrum_sigma_.data[i];
  *count = k;
  return Status::success();
}

EvalRecord ConfigRun::last_evaluation() const noexcept {
  const std::vector<EvalRecord>& e = trainer_.evaluations();
  if (!e.empty()) return e.back();
  EvalRecord none;
  none.loss = none.accuracy = std::numeric_limits<double>::quiet_NaN();
  return none;
}

void ConfigRun::collect(Result* out, const std::string& prefix) const {
  Series loss{prefix + "train_loss", "step", "loss", {}, {}}, lr{prefix + "lr", "step", "lr", {}, {}},
      gn{prefix + "grad_norm", "step", "grad_norm", {}, {}};
  for (const StepRecord& s : trainer_.steps()) {
    const double x = static_cast<double>(s.step);
    loss.x.push_back(x);
    loss.y.push_back(s.loss);
    lr.x.push_back(x);
    lr.y.push_back(s.lr);
    gn.x.push_back(x);
    gn.y.push_back(s.grad_norm);
  }
  out->series.push_back(std::move(loss));
  out->series.push_back(std::move(lr));
  out->series.push_back(std::move(gn));
  if (!trainer_.evaluations().empty()) {
    Series tl{prefix + "test_loss", "step", "loss", {}, {}}, ta{prefix + "test_accuracy", "step", "accuracy", {}, {}};
    for (const EvalRecord& e : trainer_.evaluations()) {
      tl.x.push_back(static_cast<double>(e.step));
      tl.y.push_back(e.loss);
      ta.x.push_back(static_cast<double>(e.step));
      ta.y.push_back(e.accuracy);
    }
    out->series.push_back(std::move(tl));
    if (data_.target_kind() == TargetKind::classes) out->series.push_back(std::move(ta));
  }
  if (records_.empty()) return;
  // An estimator's series is made when it ran in any record (the update ratios never run at step 0:
  // there is no weight snapshot before the first step), NaN where it did not; the layer list comes
  // from the last record, which ran every selected estimator that can run.
  std::uint32_t ran = 0;
  for (const analysis::MonitorRecord& r : records_) ran |= r.ran;
  const analysis::MonitorRecord& last = records_.back();
  auto per_record = [&](const std::string& name, const char* y_label, auto value) {
    Series s{prefix + name, "step", y_label, {}, {}};
    for (const analysis::MonitorRecord& r : records_) {
      s.x.push_back(static_cast<double>(r.step));
      s.y.push_back(value(r));
    }
    out->series.push_back(std::move(s));
  };
  if (ran & analysis::kMonitorLipschitz) {
    per_record("lipschitz_global", "upper_bound", [](const analysis::MonitorRecord& r) { return r.lipschitz.global; });
    per_record("lipschitz_local", "upper_bound", [](const analysis::MonitorRecord& r) { return r.lipschitz.local; });
  }
  if (ran & kMonitorLowerBound)
    per_record("lipschitz_lower", "lower_bound", [](const analysis::MonitorRecord& r) {
      return (r.ran & kMonitorLowerBound) && r.extension_count[0] > 0 ? r.extension[0][0]
                                                                       : std::numeric_limits<double>::quiet_NaN();
    });
  const std::size_t layers = last.flow.layers;
  for (std::size_t l = 0; l < layers; ++l) {
    char base[64];
    std::snprintf(base, sizeof base, "layer%02zu_%s_", l, last.flow.layer[l].kind);
    if (ran & analysis::kMonitorGradientNorms) {
      per_record(std::string(base) + "grad_input", "norm", [l](const analysis::MonitorRecord& r) { return r.flow.layer[l].grad_input; });
      per_record(std::string(base) + "grad_params", "norm", [l](const analysis::MonitorRecord& r) { return r.flow.layer[l].grad_params; });
    }
    if (ran & analysis::kMonitorUpdateRatios && last.flow.layer[l].param_size > 0)
      per_record(std::string(base) + "update_ratio", "ratio", [l](const analysis::MonitorRecord& r) { return r.flow.layer[l].update_ratio; });
    if (ran & analysis::kMonitorJacobianProducts)
      per_record(std::string(base) + "jacobian_norm", "norm", [l](const analysis::MonitorRecord& r) { return r.flow.layer[l].jacobian_norm; });
  }
  if (ran & analysis::kMonitorAttentionEntropy)
    for (std::size_t k = 0; k < last.flow.attention_count; ++k)
      for (std::size_t h = 0; h < last.flow.attention[k].heads; ++h) {
        char name[64];
        std::snprintf(name, sizeof name, "attention%zu_head%zu_entropy", k, h);
        per_record(name, "entropy", [k, h](const analysis::MonitorRecord& r) { return r.flow.attention[k].entropy[h]; });
      }
}

}  // namespace lab
}  // namespace lipflow
