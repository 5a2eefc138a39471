// lipflow/optim/ema.hpp: an exponential moving average of the weights, for evaluation.
//
//   shadow = decay shadow + (1 - decay) w        after each optimizer step (update())
//
// Semantics: torch.optim.swa_utils.AveragedModel with the EMA avg_fn
// (avg_fn = lambda avg, w, n: decay * avg + (1 - decay) * w, use_buffers=False: parameters only) of
// PyTorch 1.13, whose first update_parameters() copies the weights; equivalently timm's ModelEmaV2,
// which copies at construction (reset()) and then averages at every update(). The first update() after
// bind copies unless reset() ran. Default decay 0.9999 (timm's; AveragedModel has no EMA default).
// Buffers that are not parameters (BatchNorm's running statistics, SpectralNorm's u and v) are not
// averaged (AveragedModel's default; timm's ModelEmaV2 averages its state_dict, buffers included).
//
// For evaluation, swap_in() exchanges the shadow and the live weights (so the model runs on the
// averages) and swap_out() exchanges them back, exactly (a swap, no arithmetic). A reparametrized
// module (reparam.hpp) recomputes its effective weight at its next forward, so it sees the swap.
//
// Life: add(...) before plan; plan(plan) declares one shadow array per parameter (optimizer_state);
// bind(arena) takes it (parameters taken from modules are looked up then, as the optimizer's); then
// reset()/update()/swap_in()/swap_out() without heap. Cost of update(): one fused pass over (w, shadow)
// per parameter, 3 flops per element; of a swap: one pass.
#pragma once

#include <cstddef>

#include "lipflow/core/memory.hpp"
#include "lipflow/core/status.hpp"
#include "lipflow/nn/module.hpp"
#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

struct EmaOptions {
  double decay = 0.9999;  // in [0, 1]: 1 freezes the shadow, 0 copies the weights
};

template <class T>
class Ema {
 public:
  static constexpr std::size_t kMaxParams = 256;

  explicit Ema(const EmaOptions& o = EmaOptions()) noexcept : o_(o) {}

  // Adds a bare parameter (its memory exists). Errors: null value, capacity_exceeded, plan_sealed.
  Status add(const nn::Param<T>& p) noexcept;
  // Adds every parameter of a module and its parts (looked up at plan and bind, so before the module
  // is planned is fine). Errors: capacity_exceeded, plan_sealed.
  Status add(nn::Module<T>& module) noexcept;
  // Adds every parameter the optimizer updates (after the optimizer's add()s): the shadow then
  // averages exactly what is trained (for a reparametrized layer, g and v or W_orig, not the raw
  // weight). Errors: capacity_exceeded, plan_sealed.
  Status add(const Optimizer<T>& optimizer) noexcept;

  // Checks decay (invalid_argument naming it) and declares the shadows. Errors: plan_sealed (twice),
  // invalid_argument for a parameter with no size (module not planned).
  Status plan(MemoryPlan& plan) noexcept;
  // Takes the shadow memory (not yet meaningful: reset() or the first update() fills it).
  // Errors: not_bound (not planned, or a module not bound yet).
  Status bind(const Arena& arena) noexcept;

  // shadow = w for every parameter (timm's copy at construction). Errors: not_bound, and
  // invalid_argument while swapped in.
  Status reset() noexcept;
  // shadow = decay shadow + (1 - decay) w (the first call after bind copies unless reset() ran).
  // Errors: not_bound, invalid_argument while swapped in.
  Status update() noexcept;
  // Exchanges the live weights and the shadow: the model now holds the averages. Errors: not_bound,
  // no shadow yet (not_bound), invalid_argument when already swapped in.
  Status swap_in() noexcept;
  // Exchanges them back. Errors: not_bound, invalid_argument when not swapped in.
  Status swap_out() noexcept;

  // Changes the decay (e.g. a warm-up schedule). Errors: invalid_argument outside [0, 1].
  Status set_decay(double decay) noexcept;
  double decay() const noexcept { return o_.decay; }
  bool swapped_in() const noexcept { return swapped_; }
  // update() calls since bind (the first one, a copy, included).
  std::size_t update_count() const noexcept { return updates_; }
  std::size_t param_count() const noexcept { return count_; }
  // The i-th parameter's shadow (null before bind); while swapped in it holds the live weights.
  const T* shadow(std::size_t i) const noexcept { return i < count_ ? entries_[i].shadow : nullptr; }
  const nn::Param<T>& param(std::size_t i) const noexcept { return entries_[i < count_ ? i : 0].param; }

 private:
  struct Entry {
    nn::Param<T> param;
    nn::Module<T>* module = nullptr;
    std::size_t index = 0;
    T* shadow = nullptr;
    Region region;
  };
  Status push(const nn::Param<T>& p, nn::Module<T>* module, std::size_t index) noexcept;
  // Exchanges every (shadow, weight) pair and flips swapped_.
  void swap_all() noexcept;

  EmaOptions o_;
  Entry entries_[kMaxParams];
  std::size_t count_ = 0, updates_ = 0;
  bool planned_ = false, bound_ = false, filled_ = false, swapped_ = false;
};

}  // namespace optim
}  // namespace lipflow
