// lipflow/optim/lion.hpp: Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms").
// PyTorch 1.13 has no Lion, so this follows lucidrains/lion-pytorch (lion_pytorch.py, update_fn), as
// reference/anchors.md b.4 asks:
//   w = w (1 - lr wd)                       (decoupled decay first, on the weights before the step)
//   c = b1 m + (1 - b1) g
//   w = w - lr sign(c)                      (sign as torch.sign: sign(0) = 0)
//   m = b2 m + (1 - b2) g
// With decoupled_weight_decay, wd is divided by the optimizer's lr (LionOptions::lr, lion-pytorch's
// init_lr, also for groups configured with another rate), so that a schedule scales the decay with lr.
// Defaults are lion-pytorch's: lr 1e-4, betas (0.9, 0.99), weight decay 0 (optax's scale_by_lion uses
// wd 1e-3 and applies it as lr wd w inside the update; the paper suggests lr 3-10x smaller and wd
// 3-10x larger than AdamW's). One fused pass over (w, grad, m) per parameter. State: m (n elements).
#pragma once

#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

struct LionOptions {
  double lr = 1e-4;            // > 0 (lion-pytorch asserts it; the decoupled decay divides by it)
  double beta1 = 0.9;          // in [0, 1]
  double beta2 = 0.99;         // in [0, 1]
  double weight_decay = 0.0;   // decoupled: w *= 1 - lr wd
  bool decoupled_weight_decay = false;  // wd / lr (lion-pytorch's decoupled_weight_decay)
};

template <class T>
class Lion final : public Optimizer<T> {
 public:
  explicit Lion(const LionOptions& o = LionOptions()) noexcept : Optimizer<T>(o.lr, o.weight_decay), o_(o) {}
  const char* name() const noexcept override { return "lion"; }

 protected:
  // Errors (invalid_argument): lr not > 0, a beta outside [0, 1], a non-finite value.
  Status validate() const noexcept override;
  // m: one element per parameter element.
  std::size_t state_elements(const nn::Param<T>& p) const noexcept override { return p.size; }
  // One fused pass: reads w, grad, m; writes w and m. About 8 flops per element, no division.
  Status update(Slot<T>& slot, const Group& group, std::size_t t) noexcept override;

 private:
  LionOptions o_;
};

}  // namespace optim
}  // namespace lipflow
