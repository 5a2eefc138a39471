// lipflow/lab/builder.hpp: a validated ExperimentConfig turned into live, bound objects.
//
// Experiment::build() allocates (at start-up, the only time the lab touches the heap for them) one
// owning std::unique_ptr per module, wires them into an nn::Model<float> (residual branches as an
// nn::Sequential inside an nn::Residual; transformer blocks from their norm, attention and
// feed-forward parts), makes the optimizer with its parameter groups (decay on weights only:
// Optimizer::add(model, 0, 1) and group 1 without decay), the schedule and the clipping settings;
// plans the model, the optimizer and any extension (a trainer's buffers, a monitor) in ONE
// MemoryPlan, checks the plan's total against the config's memory cap, binds one AlignedBuffer and
// initializes the parameters from the seed. After build() nothing here allocates except describe().
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "lipflow/core/memory.hpp"
#include "lipflow/lab/config.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/optim/optimizer.hpp"
#include "lipflow/optim/schedule.hpp"

namespace lipflow {
namespace lab {

class Experiment;

// Something that wants memory in the experiment's plan (planned after the model and the optimizer,
// bound after them, before the parameters are initialized).
class PlanExtension {
 public:
  virtual ~PlanExtension() = default;
  virtual Status plan(Experiment& experiment, MemoryPlan& plan) noexcept = 0;
  virtual Status bind(Experiment& experiment, const Arena& arena) noexcept = 0;
};

class Experiment {
 public:
  // Builds, plans, checks the memory cap, binds and initializes (see above). On error *out is reset
  // and the error names the field (model.layers[2], memory_cap_bytes, ...). Cost: the allocations of
  // the modules and of one buffer of total_bytes(), and the parameters' initialization.
  static ConfigError build(const ExperimentConfig& config, std::unique_ptr<Experiment>* out,
                           PlanExtension* extension = nullptr);

  Experiment(const Experiment&) = delete;
  Experiment& operator=(const Experiment&) = delete;

  const ExperimentConfig& config() const noexcept { return config_; }
  nn::Model<float>& model() noexcept { return model_; }
  optim::Optimizer<float>& optimizer() noexcept { return *optimizer_; }
  const optim::SequentialSchedule& schedule() const noexcept { return schedule_; }
  const ClipConfig& clip() const noexcept { return config_.clip; }
  const Arena& arena() const noexcept { return arena_; }

  // Bytes planned by kind (the shared workspace counts as scratch) and in total.
  std::size_t bytes(MemoryKind kind) const noexcept { return plan_.bytes(kind); }
  std::size_t total_bytes() const noexcept { return plan_.total_bytes(); }
  // Scalars in every parameter of the model.
  std::size_t parameter_count() const noexcept { return parameters_; }

  // Sets the optimizer's rates for its next step from the schedule. No heap; O(groups).
  Status apply_schedule() noexcept;
  // Clips the gradients as the config says (none: only measures when total_norm is not null). No heap.
  Status clip_gradients(double* total_norm = nullptr) noexcept;

  // A text for `lipflow describe`: one line per layer (kind, input and output shape, parameters,
  // Lipschitz factor from Model::lipschitz(per_layer)), the composed bound, the parameter count,
  // memory by kind, and the optimizer, schedule and clipping. Allocates the string; runs the
  // modules' bounds (power iterations, warm-started).
  std::string describe();

 private:
  Experiment() = default;
  ConfigError make(const ExperimentConfig& config, PlanExtension* extension);

  ExperimentConfig config_;
  std::vector<std::unique_ptr<nn::Module<float>>> modules_;  // every module, parts before wholes
  nn::Model<float> model_;
  std::unique_ptr<optim::Optimizer<float>> optimizer_;
  optim::SequentialSchedule schedule_;
  MemoryPlan plan_;
  AlignedBuffer buffer_;
  Arena arena_;
  std::size_t parameters_ = 0;
};

}  // namespace lab
}  // namespace lipflow
