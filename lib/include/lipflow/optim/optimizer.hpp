// lipflow/optim/optimizer.hpp: the optimizer contract (DESIGN.md, "Optimizers").
//
// An optimizer updates a set of parameters (nn::Param: values and gradients) arranged in groups, each
// group with its own learning rate and weight decay. Its life follows the memory model:
//   add(param, group) ... ; configure_group(g, lr, wd);  plan(plan)  declares the state
//   bind(arena)  takes and zeroes the state;  step()  one update, no heap, one fused pass per parameter
// where the method allows. Hyper-parameters are checked by plan(): a bad one is an error naming it.
// Conventions follow torch.optim where PyTorch has the method (see each optimizer's header), so that
// trajectories match PyTorch step for step. The step counter t starts at 1 on the first step().
#pragma once

#include <cstddef>
#include <cstdint>

#include "lipflow/core/memory.hpp"
#include "lipflow/core/status.hpp"
#include "lipflow/nn/module.hpp"

namespace lipflow {
namespace optim {

// One group's hyper-parameters. lr is the current rate (schedules change it); initial_lr is the rate the
// group was configured with (schedules scale it).
struct Group {
  double lr = 1e-3;
  double initial_lr = 1e-3;
  double weight_decay = 0.0;
};

// A parameter and its optimizer state (state_size elements, laid out by the optimizer). A parameter
// taken from a module is re-read from it at plan() (its size) and bind() (its memory), so that one
// plan can hold the model and its optimizer.
template <class T>
struct Slot {
  nn::Param<T> param;
  nn::Module<T>* module = nullptr;  // the owner, or null for a bare parameter
  std::size_t index = 0;            // its index in module->param()
  std::size_t group = 0;
  T* state = nullptr;
  std::size_t state_size = 0;
  Region region;
};

template <class T>
class Optimizer {
 public:
  static constexpr std::size_t kMaxParams = 256;
  static constexpr std::size_t kMaxGroups = 8;

  virtual ~Optimizer() = default;
  virtual const char* name() const noexcept = 0;

  // Adds a bare parameter (its memory already exists) to group `group` (before plan). Errors: null
  // value or grad, group out of range, capacity_exceeded, plan_sealed after plan.
  Status add(const nn::Param<T>& p, std::size_t group = 0) noexcept;
  // Adds every parameter of a module and its parts, before or after the module is bound (their
  // memory is looked up at bind()). Parameters flagged kParamDecay go to decay_group, the others
  // (biases, normalization gains, shortcut gains) to no_decay_group: pass the same group twice for one
  // group.
  Status add(nn::Module<T>& module, std::size_t decay_group = 0, std::size_t no_decay_group = 0) noexcept;
  // Sets a group's learning rate and weight decay (before or after plan; the initial rate too).
  // Errors: lr < 0 or not finite, weight_decay < 0 or not finite, group out of range.
  Status configure_group(std::size_t group, double lr, double weight_decay) noexcept;

  Status plan(MemoryPlan& plan) noexcept;
  Status bind(const Arena& arena) noexcept;
  // One update of every parameter from its gradient. Errors: not bound.
  Status step() noexcept;

  std::size_t step_count() const noexcept { return t_; }
  std::size_t group_count() const noexcept { return groups_used_; }
  const Group& group(std::size_t g) const noexcept { return groups_[g < kMaxGroups ? g : 0]; }
  // The current rate of a group, as a schedule sets it (lr >= 0, finite).
  Status set_lr(std::size_t group, double lr) noexcept;
  std::size_t param_count() const noexcept { return count_; }
  const Slot<T>& slot(std::size_t i) const noexcept { return slots_[i < count_ ? i : 0]; }

  // ---- checkpoints (optim/checkpoint.hpp). Besides every slot's state buffer, an optimizer may keep
  // a few running scalars of its own (NAdam's momentum product): scalar_state() lists them.
  static constexpr std::size_t kMaxScalarState = 8;
  virtual std::size_t scalar_state_count() const noexcept { return 0; }
  virtual double scalar_state(std::size_t /*i*/) const noexcept { return 0.0; }
  // Errors: out_of_range for i >= scalar_state_count().
  virtual Status set_scalar_state(std::size_t i, double /*value*/) noexcept {
    return Status(Code::out_of_range, "optimizer.set_scalar_state: index", static_cast<long long>(i), 0);
  }
  // Puts back a saved step count and a group's rates and decay exactly (no validation of the
  // schedule that produced them). Errors: group out of range; lr, initial_lr or weight_decay negative
  // or not finite.
  void restore_step_count(std::size_t t) noexcept { t_ = t; }
  Status restore_group(std::size_t group, const Group& value) noexcept;

 protected:
  // The defaults of group 0 (and of every group not configured): the optimizer's lr and decay.
  Optimizer(double lr, double weight_decay) noexcept;
  // Checks the optimizer's own hyper-parameters (betas, eps, momentum...).
  virtual Status validate() const noexcept = 0;
  // Elements of state this parameter needs (0 for none).
  virtual std::size_t state_elements(const nn::Param<T>& p) const noexcept = 0;
  // Initial state (called by bind() after zeroing; default: zeros).
  virtual Status init_state(Slot<T>& /*slot*/) noexcept { return Status::success(); }
  // Called once per step before the parameters (for whole-model quantities); t >= 1.
  virtual Status begin_step(std::size_t /*t*/) noexcept { return Status::success(); }
  // Updates one parameter in place at step t >= 1.
  virtual Status update(Slot<T>& slot, const Group& group, std::size_t t) noexcept = 0;

 private:
  Slot<T> slots_[kMaxParams];
  Group groups_[kMaxGroups];
  std::size_t count_ = 0, groups_used_ = 1, t_ = 0;
  bool planned_ = false, bound_ = false;
};

// Checks shared by the optimizers' validate(): a finite value in [lo, hi) or (lo, hi].
Status check_range(const char* name, double value, double lo, double hi, bool lo_open, bool hi_open) noexcept;

}  // namespace optim
}  // namespace lipflow
