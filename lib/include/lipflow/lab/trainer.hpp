// lipflow/lab/trainer.hpp: a training loop over a lab::Dataset for an nn::Model<float> and an
// optim::Optimizer<float>, with the hooks the experiments need (DESIGN.md, "The lab").
//
//   Model<float> model;  model.add(&l1); ...            (layers added, NOT planned)
//   optim::Adam<float> adam(...);                        (configured, NOT planned; the trainer adds
//                                                          the model's parameters unless told not to)
//   Trainer tr;  tr.setup(model, adam, data, options [, &monitor, monitor_options]);
//   TrainResult r;  tr.run(&r);                          (or tr.train(steps, &r) in slices)
//
// Memory: the trainer OWNS the MemoryPlan, the Arena and the one AlignedBuffer that holds the model,
// the optimizer state, the monitor and its own batch buffers (inputs, targets, dL/dy, the epoch
// order): setup() plans them all, allocates once and binds. This keeps the use to one call; callers
// that need more memory in the same buffer (an estimator's scratch) plan it through
// TrainerHooks::plan_extra / bind_extra. The per-step and per-evaluation records are std::vectors
// reserved at setup (max_steps entries, or the caller's vector reserved to that), so the loop never
// allocates.
//
// One step s (0-based): batch s of the current epoch (a shuffled order per epoch, from Rng(seed, 7);
// the last batch of an epoch may be smaller unless drop_last) -> forward -> loss (+ dL/dy) ->
// [stop if the loss is NaN/inf, or if its moving average exceeds divergence_factor x its minimum
// after divergence_warmup steps] -> zero_grad -> backward -> global gradient 2-norm [stop if NaN/inf: the first layer whose
// gradient became non-finite is named] -> clipping -> schedule (lr for this step) -> optimizer step ->
// monitor.on_step(s, batch) -> record {s, loss, lr, grad_norm} -> after (s + 1) steps: evaluation on
// the test split when (s + 1) % eval_every == 0, checkpoint(s + 1) when (s + 1) % checkpoint_every == 0.
// A stopped step changes no weight (the optimizer step is skipped). With nonfinite = skip, a step
// whose loss or gradient is not finite is skipped instead of stopping training: no weight, optimizer
// state, schedule position, monitor or step record changes, TrainResult::skipped_steps counts it (and
// names its layer), and training goes on with the next batch; the step still counts towards
// max_steps, evaluations and checkpoints (steps_done counts only the updates applied).
//
// Losses: cross-entropy over target_size() x classes() logits per sample (one row per target: a
// classifier has one row, a token task N rows, "token-wise"), or mean squared error over
// target_size() values per sample. The model's output per sample must have that many entries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "lipflow/analysis/monitor.hpp"
#include "lipflow/core/memory.hpp"
#include "lipflow/core/rng.hpp"
#include "lipflow/core/serialize.hpp"
#include "lipflow/core/status.hpp"
#include "lipflow/lab/dataset.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/optim/clip.hpp"
#include "lipflow/optim/optimizer.hpp"
#include "lipflow/optim/schedule.hpp"

namespace lipflow {
namespace lab {

enum class LossKind : std::uint8_t {
  automatic,      // cross_entropy for class targets, mse for values
  cross_entropy,  // per target row (token-wise for token tasks)
  mse,
};
const char* loss_name(LossKind kind) noexcept;

enum class ClipKind : std::uint8_t { none, norm, value, adaptive };

// Why training stopped.
enum class StopReason : std::uint8_t {
  none,                // still running (train() returned after the steps asked for)
  completed,           // max_steps or max_epochs reached
  nonfinite_loss,      // the loss of a step was NaN or infinite
  nonfinite_gradient,  // a gradient was NaN or infinite (TrainResult::layer names the first layer)
  diverged,            // loss > divergence_factor x minimum so far, after the warm steps
  error,               // a lipflow call or a hook failed (TrainResult::status)
};
const char* stop_reason_name(StopReason reason) noexcept;

// What a non-finite loss or gradient does: stop training (naming the step and the first layer), or
// skip that step's update and go on.
enum class NonfinitePolicy : std::uint8_t { stop, skip };

struct StepRecord {
  std::size_t step = 0;   // 0-based
  double loss = 0.0;      // the training loss of the batch
  double lr = 0.0;        // group 0's rate used by this step's update
  double grad_norm = 0.0; // the global 2-norm of all parameter gradients, before clipping
};

struct EvalRecord {
  std::size_t step = 0;   // steps completed when it ran
  double loss = 0.0;      // mean over the split (per target row for cross-entropy, per value for mse)
  double accuracy = 0.0;  // fraction of target rows whose argmax is the class (NaN for mse)
};

struct TrainerHooks {
  void* context = nullptr;
  // Called after every checkpoint_every-th step with the number of steps completed (m, 2m, ...). An
  // error stops training with StopReason::error.
  Status (*checkpoint)(void* context, std::size_t steps_done) noexcept = nullptr;
  // Extra regions in the trainer's plan (called in setup after model, monitor, optimizer plan) and
  // their views after the bind.
  Status (*plan_extra)(void* context, MemoryPlan& plan) = nullptr;
  Status (*bind_extra)(void* context, const Arena& arena) = nullptr;
};

struct TrainerOptions {
  std::size_t batch_size = 32;       // >= 1, <= the train split
  std::size_t eval_batch = 0;        // test batches (0: batch_size)
  std::size_t max_steps = 1000;      // >= 1 steps run (applied or skipped); also the capacity of the step records
  std::size_t max_epochs = 0;        // 0: no limit
  bool drop_last = false;            // skip an epoch's last partial batch
  std::size_t eval_every = 0;        // steps between evaluations (0: only at the end of run())
  LossKind loss = LossKind::automatic;
  // Divergence: the watched loss above divergence_factor x its minimum so far, once divergence_warmup
  // steps have run. The watched loss is an exponential moving average of the batch losses,
  // bias-corrected as Adam's moments (avg_t = (beta avg_{t-1} + (1 - beta) loss_t), shown as
  // avg_t / (1 - beta^(t+1))) with beta = divergence_smoothing: a single batch's loss is too noisy
  // near convergence (one batch at 10x the luckiest batch is common). 0 watches the raw batch loss.
  double divergence_factor = 10.0;   // > 1 (inf disables the check)
  std::size_t divergence_warmup = 20;
  double divergence_smoothing = 0.9; // in [0, 1)
  ClipKind clip = ClipKind::none;
  double clip_value = 1.0;           // max norm (norm) or max |g| (value)
  kernels::Norm clip_norm = kernels::Norm::l2;  // the norm clipped (norm)
  optim::AgcOptions agc;             // adaptive
  // An optional schedule, copied at setup (set at most one): applied before each optimizer step.
  const optim::Schedule* schedule = nullptr;
  const optim::SequentialSchedule* sequential = nullptr;
  std::size_t checkpoint_every = 0;  // 0: never
  NonfinitePolicy nonfinite = NonfinitePolicy::stop;
  std::uint64_t seed = 1;            // model init (when init_model) and the epoch orders
  bool init_model = true;            // call model.init(Rng(seed, 5)) after binding
  bool add_params = true;            // optimizer.add(model.layers()); false when the caller added them
  TrainerHooks hooks;
};

struct TrainResult {
  StopReason reason = StopReason::none;
  std::size_t step = 0;        // the step that stopped training (0-based), or the steps run (steps_taken)
  std::size_t steps_done = 0;  // steps whose update was applied
  std::size_t steps_taken = 0; // steps run: steps_done plus the skipped ones
  std::size_t skipped_steps = 0;  // nonfinite = skip: steps whose update was skipped
  std::size_t epochs_done = 0;
  double last_loss = 0.0;      // the last batch loss
  double watched_loss = 0.0;   // its moving average (divergence_smoothing), as the divergence rule sees it
  double min_loss = 0.0;       // the minimum of the watched loss
  int layer = -1;              // nonfinite_gradient (or the last skipped step): the layer where it first appeared
  const char* layer_kind = "";
  Status status;               // error: the failing call's status
  char message[192] = {};      // e.g. "non-finite gradient at step 12 in layer 0 (linear)"
};

class Trainer {
 public:
  Trainer() = default;
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Plans and binds model + optimizer + monitor (if not null) + the batch buffers in one buffer,
  // initializes the model (init_model), reserves the records (into *records when given, else the
  // trainer's own). model, optimizer, data and monitor must outlive the trainer; nothing may be
  // planned before. Cost: one allocation of the plan's total, the records, O(parameters) init.
  // Errors: invalid_argument naming the option (batch_size, max_steps, divergence_factor, clip_value,
  // loss: mse on class targets...), shape_mismatch (model input vs sample shape, output size vs
  // targets x classes), already_bound (a second setup), buffer_too_small (allocation failed) and
  // the plans' and binds' errors. Options are checked before anything is planned; an error after
  // that (a shape, a bind) leaves the model and optimizer partly planned: build new ones to retry.
  Status setup(nn::Model<float>& model, optim::Optimizer<float>& optimizer, const Dataset& data,
               const TrainerOptions& options, analysis::Monitor<float>* monitor = nullptr,
               const analysis::MonitorOptions& monitor_options = analysis::MonitorOptions(),
               std::vector<StepRecord>* records = nullptr);

  // Runs up to `steps` more steps (never past max_steps or max_epochs) and fills *result. Returns
  // success when training ran as designed, including a stop for NaN, divergence or completion (see
  // result->reason); an error status (and reason error) when a call failed. After a stop, further
  // calls return the same result without running. No heap. Cost per step: one forward and backward,
  // two passes over the gradients (norm; and clipping when set), the optimizer step, the monitor's
  // due work, and an evaluation every eval_every steps.
  Status train(std::size_t steps, TrainResult* result) noexcept;
  // ---- the same setup in four calls, for a model and optimizer planned in someone else's plan (a
  // lab::Experiment built from a config plans the model and the optimizer, then the trainer's buffers
  // through its PlanExtension, and binds one buffer for all):
  //   configure(data, options, monitor, monitor_options)  checks the options as setup() does;
  //   plan_buffers(model, plan)   the model planned with max_batch() or more samples: checks its input
  //                               and output shapes against the data, plans the monitor and the
  //                               trainer's buffers (and hooks.plan_extra) in `plan`;
  //   bind_buffers(arena)         binds them (and the monitor, and hooks.bind_extra);
  //   attach(model, optimizer)    the model and optimizer bound: initializes the model (init_model)
  //                               and reserves the records. add_params is ignored: the caller added
  //                               the parameters to the optimizer before planning it.
  // Errors: setup()'s, and not_bound / already_bound for calls out of this order.
  Status configure(const Dataset& data, const TrainerOptions& options, analysis::Monitor<float>* monitor = nullptr,
                   const analysis::MonitorOptions& monitor_options = analysis::MonitorOptions());
  Status plan_buffers(nn::Model<float>& model, MemoryPlan& plan);
  Status bind_buffers(const Arena& arena);
  Status attach(nn::Model<float>& model, optim::Optimizer<float>& optimizer,
                std::vector<StepRecord>* records = nullptr);
  // The largest batch the model must be planned for: max(batch_size, eval_batch). After configure().
  std::size_t max_batch() const noexcept;

  // train() to the end, then one final evaluation on the test split (recorded) when the run
  // completed and the last step was not just evaluated.
  Status run(TrainResult* result) noexcept;

  // Mean loss and accuracy over a split, in batches of eval_batch; the model's stored activations
  // are overwritten (set_training(false) during it). No heap. Errors: not_bound (before setup), the
  // model's and loss's errors.
  Status evaluate(Split split, EvalRecord* out) noexcept;

  const std::vector<StepRecord>& steps() const noexcept { return *records_; }
  const std::vector<EvalRecord>& evaluations() const noexcept { return evals_; }
  const TrainResult& result() const noexcept { return result_; }
  // The sample indices (train split) of the last step's batch.
  const std::uint32_t* last_batch_indices(std::size_t* count) const noexcept {
    *count = last_count_;
    return last_indices_;
  }
  std::size_t steps_done() const noexcept { return result_.steps_done; }
  LossKind loss_kind() const noexcept { return loss_; }
  // The trainer's own plan and arena (setup() only; empty after the four-call setup).
  const MemoryPlan& plan() const noexcept { return plan_; }
  const Arena& arena() const noexcept { return arena_; }

  // ---- checkpoints (lab/checkpoint.hpp). The trainer's own state as the TRNR section's payload: the
  // step counts, the epoch order stream (its state at the start of the current epoch and now) and the
  // position in the epoch, the smoothed-loss watch. read_state() checks a payload against this
  // trainer (the train split's size, the batch size, the order stream replayed to the saved state)
  // and with apply = true then takes it (a stopped trainer then runs on from the loaded state);
  // with apply = false nothing changes. *schedule_step (when
  // not null) receives the saved schedule step (the optimizer's step count when it was saved).
  // Errors: not_bound before setup, corrupt_data, shape_mismatch naming the field. O(train split)
  // for the replay.
  Status write_state(ByteSink& sink) const noexcept;
  Status read_state(const Section& section, bool apply, std::uint64_t* schedule_step = nullptr) noexcept;
  nn::Model<float>* model() noexcept { return model_; }
  optim::Optimizer<float>* optimizer() noexcept { return opt_; }
  analysis::Monitor<float>* monitor() noexcept { return monitor_; }  // null when none was set up

 private:
  Status stop(StopReason reason, std::size_t step, TrainResult* result) noexcept;
  Status fail(const Status& st, std::size_t step, TrainResult* result) noexcept;
  Status compute_loss(const float* y, std::size_t batch, const void* targets, double* loss, float* grad,
                      std::size_t* correct) noexcept;
  Status one_step(std::size_t step, bool* stopped, TrainResult* result) noexcept;
  // The bookkeeping after a step whose update was applied or skipped: counts, evaluation, checkpoint.
  Status end_step(bool applied, bool* stopped) noexcept;
  void locate_nonfinite_gradient(int* layer, const char** kind) noexcept;

  nn::Model<float>* model_ = nullptr;
  optim::Optimizer<float>* opt_ = nullptr;
  const Dataset* data_ = nullptr;
  analysis::Monitor<float>* monitor_ = nullptr;
  analysis::MonitorOptions monitor_options_;
  TrainerOptions o_;
  LossKind loss_ = LossKind::automatic;
  optim::SequentialSchedule schedule_;
  bool has_schedule_ = false;

  MemoryPlan plan_;
  Arena arena_;
  AlignedBuffer buffer_;
  Region rx_, rt_, rg_, rorder_;
  float* x_ = nullptr;
  void* t_ = nullptr;  // std::int32_t (classes) or float (values)
  float* g_ = nullptr;
  std::uint32_t* order_ = nullptr;
  std::size_t out_size_ = 0, rows_per_sample_ = 0, eval_batch_ = 0;

  Rng order_rng_;
  Rng::State epoch_rng_{};     // order_rng_ before the current epoch's shuffle
  std::size_t epoch_pos_ = 0;  // next batch start in the current order
  const std::uint32_t* last_indices_ = nullptr;
  std::size_t last_count_ = 0;
  bool need_shuffle_ = true;
  double ema_ = 0.0, beta_pow_ = 1.0;

  std::vector<StepRecord> own_records_;
  std::vector<StepRecord>* records_ = &own_records_;
  std::vector<EvalRecord> evals_;
  TrainResult result_;
  bool configured_ = false, buffers_bound_ = false, setup_ = false, stopped_ = false;
};

}  // namespace lab
}  // namespace lipflow
