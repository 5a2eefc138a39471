// lipflow/optim/accumulate.hpp: gradient accumulation over micro-batches.
//
// A batch too large for the planned max_batch is split into k micro-batches. Every module's backward()
// already ADDS its parameter gradients, so running the k backward passes one after the other sums
// them; before the step the sum is scaled by 1/k, which gives the gradient of the mean of the k
// micro-batch losses. With a mean-reduced loss (cross_entropy_loss, mse_loss) over micro-batches of
// equal size b, that is exactly the gradient of the same loss over the whole batch of k b samples (up
// to rounding): the PyTorch idiom `(loss / k).backward()` per micro-batch, then `step()`.
//
//   GradientAccumulator<float> acc(4);
//   acc.run(opt, [&](std::size_t i) { forward micro-batch i; loss; backward; return Status::success(); });
// or, driving the loop yourself:
//   acc.zero_grad(opt);  for each micro-batch { forward; backward; acc.micro_batch_done(opt, &stepped); }
//
// Only the parameters the optimizer updates are scaled and zeroed. With a reparametrized layer
// (reparam.hpp) these are its own parameters, into which its backward() moves the module's weight
// gradient, so accumulation composes with it. Costs: one pass (scale) over every gradient per step,
// plus one (zero) after it. No heap.
#pragma once

#include <cstddef>

#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

template <class T>
class GradientAccumulator {
 public:
  // micro_batches k >= 1 (checked by every call: invalid_argument naming it).
  explicit GradientAccumulator(std::size_t micro_batches) noexcept : k_(micro_batches) {}

  // invalid_argument for k = 0.
  Status validate() const noexcept;
  std::size_t micro_batches() const noexcept { return k_; }
  // Micro-batches counted since the last step.
  std::size_t pending() const noexcept { return pending_; }

  // Zeroes the gradient of every parameter of the optimizer (and the count). Errors: not_bound when
  // the optimizer's parameters have no gradient memory yet.
  Status zero_grad(Optimizer<T>& opt) noexcept;

  // Counts one micro-batch whose backward has added its gradients. At the k-th: the gradients are
  // scaled by 1/k, opt.step() runs, the gradients are zeroed and *stepped (may be null) is true.
  Status micro_batch_done(Optimizer<T>& opt, bool* stepped = nullptr) noexcept;

  // Zeroes the gradients, runs micro_batch(i) for i = 0..k-1 (each a forward and a backward that adds
  // its gradients, returning Status), then scales by 1/k, steps and zeroes. Stops at the first error.
  template <class F>
  Status run(Optimizer<T>& opt, F&& micro_batch) noexcept {
    LIPFLOW_TRY(validate());
    LIPFLOW_TRY(zero_grad(opt));
    for (std::size_t i = 0; i < k_; ++i) {
      LIPFLOW_TRY(micro_batch(i));
      ++pending_;
    }
    return finish(opt);
  }

  // Scales every gradient of the optimizer by factor (1/k for the mean over micro-batches).
  // Errors: not_bound when a gradient has no memory yet.
  static Status scale_grads(Optimizer<T>& opt, T factor) noexcept;

 private:
  // Scales by 1/k, steps, zeroes the gradients and the count.
  Status finish(Optimizer<T>& opt) noexcept;

  std::size_t k_;
  std::size_t pending_ = 0;
};

}  // namespace optim
}  // namespace lipflow
