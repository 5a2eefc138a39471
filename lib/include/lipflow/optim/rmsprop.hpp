// lipflow/optim/rmsprop.hpp: RMSprop, exactly torch.optim.RMSprop (PyTorch 1.13, single-tensor path):
//   g = grad + wd w                                   (L2 decay into the gradient)
//   v = alpha v + (1 - alpha) g^2
//   centered:  a = alpha a + (1 - alpha) g,  d = sqrt(v - a^2) + eps
//   otherwise: d = sqrt(v) + eps
//   momentum > 0: b = momentum b + g / d,  w = w - lr b
//   otherwise:    w = w - lr g / d
// eps is outside the square root and there is no bias correction, as PyTorch (v starts at 0, so the
// first steps are large: |step| = lr / sqrt(1 - alpha) at t = 1). Defaults lr 1e-2, alpha 0.99,
// eps 1e-8, weight decay 0, momentum 0, centered false. State per weight: v, then a (centered), then b
// (momentum > 0): 1 to 3 elements. One fused pass over (w, grad, v[, a][, b]).
// In the centered form v - a^2 is a variance (>= 0 in exact arithmetic) but may round to a tiny
// negative value when the gradient is nearly constant; its square root is then NaN, as in PyTorch (no
// clamp, so that trajectories stay identical).
// Stricter than PyTorch, which accepts eps = 0 and any alpha >= 0: here eps > 0 and alpha in [0, 1).
#pragma once

#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

struct RmspropOptions {
  double lr = 1e-2;
  double alpha = 0.99;        // smoothing of v (and a), in [0, 1)
  double eps = 1e-8;          // > 0
  double weight_decay = 0.0;  // L2, added to the gradient
  double momentum = 0.0;      // >= 0
  bool centered = false;      // divide by the estimated standard deviation instead of the RMS
};

template <class T>
class Rmsprop final : public Optimizer<T> {
 public:
  explicit Rmsprop(const RmspropOptions& o = RmspropOptions()) noexcept : Optimizer<T>(o.lr, o.weight_decay), o_(o) {}
  const char* name() const noexcept override { return "rmsprop"; }

 protected:
  // alpha in [0, 1), eps > 0, momentum >= 0, all finite.
  Status validate() const noexcept override;
  std::size_t state_elements(const nn::Param<T>& p) const noexcept override {
    return (1 + (o_.centered ? 1 : 0) + (o_.momentum > 0 ? 1 : 0)) * p.size;
  }
  // One fused pass over (w, grad, v[, a][, b]); a square root and a division per weight.
  Status update(Slot<T>& slot, const Group& group, std::size_t t) noexcept override;

 private:
  template <bool Centered, bool Momentum>
  void run(Slot<T>& slot, const Group& group) noexcept;

  RmspropOptions o_;
};

}  // namespace optim
}  // namespace lipflow
