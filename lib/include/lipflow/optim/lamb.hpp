// lipflow/optim/lamb.hpp: LAMB (You et al. 2020, "Large Batch Optimization for Deep Learning").
// PyTorch 1.13 has no LAMB, so this follows optax.lamb (reference/anchors.md b.4), the chain
// scale_by_adam(b1, b2, eps, eps_root) -> add_decayed_weights(wd) -> scale_by_trust_ratio -> scale(-lr):
//   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2
//   u = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t) + eps_root) + eps) + wd w
//   r = ||w|| / ||u||   per parameter (one Param = one layer's tensor), r = 1 when ||w|| or ||u|| is 0
//   w = w - lr r u
// As optax: the decay (the group's weight_decay) is applied to every parameter of the group and so is
// the trust ratio (no exclusion of biases or norm gains beyond the groups the caller makes, unlike
// the paper's recipe), bias corrections divide, eps is outside the square root and eps_root inside.
// Defaults: lr 1e-3 (optax has none), betas (0.9, 0.999), eps 1e-6, eps_root 0, weight decay 0.
// Two passes over memory per parameter, not one: r needs ||u|| over the whole parameter before any
// weight may change. Pass 1 reads (w, grad, m, v), writes m and v and accumulates ||w||^2 and ||u||^2;
// pass 2 reads (w, m, v), recomputes u with the same arithmetic (no state for u) and writes w.
// State: m and v (2 n elements). The squares are summed in T without rescaling, so ||w|| or ||u||
// beyond sqrt(max of T) (1.8e19 in float) overflows to a ratio of 0 or NaN.
#pragma once

#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

struct LambOptions {
  double lr = 1e-3;
  double beta1 = 0.9;         // in [0, 1)
  double beta2 = 0.999;       // in [0, 1)
  double eps = 1e-6;          // >= 0, outside the square root
  double eps_root = 0.0;      // >= 0, inside the square root
  double weight_decay = 0.0;  // added to the Adam direction (decoupled from the moments)
};

template <class T>
class Lamb final : public Optimizer<T> {
 public:
  explicit Lamb(const LambOptions& o = LambOptions()) noexcept : Optimizer<T>(o.lr, o.weight_decay), o_(o) {}
  const char* name() const noexcept override { return "lamb"; }

 protected:
  // Errors (invalid_argument): a beta outside [0, 1), eps or eps_root negative or not finite, or both
  // zero (u would be 0/0 where v is 0).
  Status validate() const noexcept override;
  // m and v: 2 elements per parameter element.
  std::size_t state_elements(const nn::Param<T>& p) const noexcept override { return 2 * p.size; }
  // Two passes (see above): about 2 x 12 flops and two square roots and divisions per element.
  Status update(Slot<T>& slot, const Group& group, std::size_t t) noexcept override;

 private:
  LambOptions o_;
};

}  // namespace optim
}  // namespace lipflow
