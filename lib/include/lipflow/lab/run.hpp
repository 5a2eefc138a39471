// lipflow/lab/run.hpp: one experiment config trained end to end, with the series it produces.
//
//   ExperimentConfig c;  parse_config(text, &c);            (or fill one in code, as the presets do)
//   std::unique_ptr<ConfigRun> run;
//   ConfigError e = ConfigRun::create(c, &run);              (errors name the config field)
//   run->model() ...                                         (optional: inspect or adjust the weights)
//   TrainResult r;  run->train(100, &r);  run->train(100, &r); ...   (or run->run(&r) to the end)
//   Result out;  run->collect(&out);                         (the series so far)
//
// create() makes the dataset of config.dataset (seeded by training.seed, so that every config of a
// sweep with the same seed sees the same data), builds the Experiment (model, optimizer with its decay
// groups, schedule) with the Trainer's buffers and a Monitor planned in the experiment's ONE plan (the
// memory cap covers them all), and attaches the Trainer: the model is initialized from training.seed by
// the Experiment, the batches are drawn from the Trainer's stream of the same seed. Everything a run
// needs is allocated there, plus the series' storage (reserved for training.steps records; the
// monitor's series are made at its first record).
//
// Trainer options from the config: batch_size, steps (max_steps), eval_every, divergence_factor, the
// schedule (warmup then main), the clipping (norm with its norm type, value, agc). The monitor runs
// training.monitor.estimators every training.monitor.every steps (every estimator when the list is
// empty; "none" of them when every is larger than steps... it still runs at step 0).
//
// Series (x = steps completed for evaluations, the 0-based step otherwise):
//   train_loss, lr, grad_norm                                  per step (the Trainer's records)
//   test_loss, test_accuracy                                   per evaluation (accuracy: classes only)
//   lipschitz_global, lipschitz_local                          per monitor record (Model::lipschitz)
//   lipschitz_lower                                            per monitor record (estimator lower_bound)
//   layer<i>_<kind>_grad_input, ..._grad_params                per record, per top-level layer
//   layer<i>_<kind>_update_ratio, ..._jacobian_norm            per record when those estimators ran
//   attention<k>_head<h>_entropy                               per record, per attention head
// Series of an estimator that did not run are not made.
//
// The measured lower bound (estimator "lower_bound", monitor extension 0; in the default "every
// estimator" too): on each monitor record, LowerBoundSearch over the first kLowerBoundInputs samples
// of the test split (the training split when the test split is empty), in evaluation mode, with at
// most kLowerBoundIterations power iterations per point (warm-started from the last record) and
// kLowerBoundSteps ascent steps in a ball of radius 0.1 around the best sample. Every value is
// ||J(x) v|| for a unit v at an actual input x, so lipschitz_lower <= Lip(f) <= lipschitz_global
// whatever the convergence. Cost per record: at most (kLowerBoundInputs + 1 + kLowerBoundSteps) x
// kLowerBoundIterations batch-1 (jvp + backward) pairs, plus kLowerBoundSteps gradients (a jvp, 2
// forwards, 2 backwards); memory: the search's vectors (LowerBoundSearch::plan). Models on token ids
// have no input Jacobian: for them it is not planned and naming it is a config error.
//
// The layer spectrum (layer_spectrum): the singular values of the explicit Jacobian of one top-level
// layer at one test sample, planned at create: one ModuleJacobian per top-level layer with batch-1
// scratch (2 (in + out) floats each), one matrix for the largest eligible layer and its singular values,
// and for Jacobians above kSpectrumJacobiEntries the Gram method's doubles (k^2 + 2k, k = min(in, out)).
// A layer is eligible when in x out <= kSpectrumMaxEntries and its input is not token ids. Up to
// kSpectrumJacobiEntries the values come from one-sided Jacobi (relatively accurate, 163 ms at
// 256 x 256 natively), above from the Gram matrix's eigenvalues (analysis::singular_values_gram:
// absolutely accurate, 43 ms at 384 x 384, where Jacobi takes 582 ms; lipflow_bench analysis/svd).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "lipflow/analysis/jacobian.hpp"
#include "lipflow/analysis/lipschitz.hpp"
#include "lipflow/analysis/monitor.hpp"
#include "lipflow/lab/builder.hpp"
#include "lipflow/lab/config.hpp"
#include "lipflow/lab/dataset.hpp"
#include "lipflow/lab/experiment.hpp"
#include "lipflow/lab/trainer.hpp"

namespace lipflow {
namespace lab {

// The dataset a config asks for (its name and parameters, seeded by training.seed) into *out. Errors
// name the dataset field (dataset.length for an odd mod_add length...). Cost: the dataset's.
ConfigError make_dataset(const ExperimentConfig& config, Dataset* out);

class ConfigRun {
 public:
  // See above. On error *out is reset and the error names the field. Cost: the dataset, the modules
  // and one buffer of experiment().total_bytes(), the parameters' initialization.
  static ConfigError create(const ExperimentConfig& config, std::unique_ptr<ConfigRun>* out);

  ConfigRun(const ConfigRun&) = delete;
  ConfigRun& operator=(const ConfigRun&) = delete;

  // Trains up to `steps` more steps (Trainer::train), reading the monitor's records as they come.
  // Returns the Trainer's status; result->reason says why it stopped (none: more steps remain).
  Status train(std::size_t steps, TrainResult* result) noexcept;
  // Trains to the end and evaluates once more on the test split (Trainer::run).
  Status run(TrainResult* result) noexcept;
  bool finished() const noexcept { return trainer_.result().reason != StopReason::none; }

  // Saves the run's state to `path` (lab/checkpoint.hpp: model, optimizer, trainer and the config's
  // JSON; written to `path`.tmp, then renamed over `path`). Errors: {"checkpoint", path, the reason}.
  // When code is not null it receives the failure's Status code (io_error for the file's steps).
  ConfigError save_checkpoint(const std::string& path, Code* code = nullptr);
  // The same checkpoint's bytes into a sink (a MemorySink over a caller's buffer; a CountingSink
  // measures it). Errors: {"checkpoint", "", the reason} (the sink's: buffer_too_small...). O(state).
  ConfigError write_checkpoint(ByteSink& sink, Code* code = nullptr);
  // Loads a checkpoint saved by a run of the same config (training.steps may differ): the next
  // train() continues exactly as the saved run would have (same losses and weights, bit for bit).
  // Everything is checked before anything changes: on error the run is as it was. Errors:
  // {"checkpoint", path, the reason} for a file that cannot be read or is truncated, corrupted, of
  // another format version or of another model; {"checkpoint.config", the first differing line of
  // the saved config, ...} for a checkpoint of another config (code: shape_mismatch).
  ConfigError load_checkpoint(const std::string& path, Code* code = nullptr);
  // The same from bytes in memory (`source` names them in errors). O(bytes).
  ConfigError read_checkpoint(const void* data, std::size_t bytes, const std::string& source, Code* code = nullptr);

  // Appends this run's series to out->series, each name prefixed by `prefix` (a sweep gives every
  // configuration its own prefix, e.g. "post_ln_lr0.01/"). Allocates. O(series length).
  void collect(Result* out, const std::string& prefix = std::string()) const;

  const ExperimentConfig& config() const noexcept { return experiment_->config(); }
  Experiment& experiment() noexcept { return *experiment_; }
  nn::Model<float>& model() noexcept { return experiment_->model(); }
  Trainer& trainer() noexcept { return trainer_; }
  const Dataset& data() const noexcept { return data_; }
  analysis::Monitor<float>& monitor() noexcept { return monitor_; }
  const std::vector<analysis::MonitorRecord>& records() const noexcept { return records_; }

  // The lower-bound estimator's settings (see the header comment).
  static constexpr std::size_t kLowerBoundInputs = 4;
  static constexpr int kLowerBoundIterations = 20;
  static constexpr int kLowerBoundSteps = 4;
  // The largest Jacobian (in x out entries) whose spectrum is planned (a transformer block of the lab's
  // E5 model, 12 tokens x 32: 384 x 384), and the largest computed by Jacobi.
  static constexpr std::size_t kSpectrumMaxEntries = 512 * 512;
  static constexpr std::size_t kSpectrumJacobiEntries = 256 * 256;

  // The lower-bound search (its best_input() is the point of the newest lipschitz_lower value).
  const analysis::LowerBoundSearch<float>& lower_bound_search() const noexcept { return search_; }

  // Top-level layers and their names ("layer00_linear", as in the series' names; "" past the end).
  std::size_t layer_count() const noexcept { return layer_names_.size(); }
  const char* layer_name(std::size_t layer) const noexcept;
  // The number of singular values of layer's Jacobian (min(in, out)), 0 when it is not eligible.
  std::size_t layer_spectrum_size(std::size_t layer) const noexcept;
  // The singular values, descending, of the explicit Jacobian of top-level layer `layer` at sample
  // `sample` of the test split (the training split when the test split is empty), with the current
  // weights, in evaluation mode. The model runs a batch-1 forward there (its last forward changes, as
  // with a prediction); the Jacobian is built by columns (jvp), so parameter gradients are untouched.
  // Errors: null_pointer (sigma, count), out_of_range (layer, sample: the value and the limit),
  // invalid_argument (a layer that is not eligible: its sizes), buffer_too_small (capacity: the value
  // and the count needed), and the model's. Cost: one forward of one sample, in_size jvp passes of the
  // layer, and the Jacobi SVD of its out x in Jacobian (about 3 k^2 max(in, out) flops per sweep,
  // k = min(in, out), 6 to 10 sweeps). No heap.
  Status layer_spectrum(std::size_t layer, std::size_t sample, double* sigma, std::size_t capacity,
                        std::size_t* count) noexcept;
  // The last evaluation on the test split (NaN loss when none ran yet).
  EvalRecord last_evaluation() const noexcept;

 private:
  ConfigRun() = default;
  ConfigError make(const ExperimentConfig& config);
  void harvest() noexcept;
  friend class RunExtension;
  Status plan_analysis(nn::Model<float>& m, MemoryPlan& plan) noexcept;
  Status bind_analysis(const Arena& arena) noexcept;
  static Status run_lower_bound(void* context, std::size_t step, std::size_t batch, double* values,
                                std::size_t capacity, std::size_t* count) noexcept;
  // The lower bound's warm start, which checkpoints save (MonitorExtension::state).
  static Status lower_bound_state(void* context, float** data, std::size_t* size) noexcept;
  // The analysis inputs: the test split's features (or the training split's) and their count.
  const float* probe_inputs(std::size_t* count) const noexcept;

  Dataset data_;
  Trainer trainer_;
  analysis::Monitor<float> monitor_;
  std::unique_ptr<Experiment> experiment_;
  std::vector<analysis::MonitorRecord> records_;  // every monitor record, oldest first
  std::size_t harvested_ = 0;                     // monitor records copied into records_
  std::size_t chunk_ = 0;                         // steps per train() slice between harvests
  bool token_input_ = false;                      // the model reads token ids
  bool lower_bound_ = false;                      // the lower-bound search is planned
  analysis::LowerBoundSearch<float> search_;
  std::vector<std::string> layer_names_;
  std::vector<analysis::ModuleJacobian<float>> jacobians_;  // one per top-level layer
  std::vector<std::size_t> spectrum_size_;                  // min(in, out), 0: not eligible
  nn::Buffer<float> spectrum_matrix_, spectrum_sigma_;
  nn::Buffer<double> spectrum_gram_;  // singular_values_gram's workspace (layers above the Jacobi limit)
};

}  // namespace lab
}  // namespace lipflow
