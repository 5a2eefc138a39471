// lipflow/optim/adam.hpp: Adam with optional AMSGrad, exactly torch.optim.Adam (PyTorch 1.13):
//   g = grad + wd w                                   (L2 decay into the gradient)
//   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2
//   vmax = max(vmax, v)                               (AMSGrad; then vmax replaces v below)
//   w = w - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// eps is outside the square root and the bias corrections divide, as PyTorch. Defaults lr 1e-3,
// betas (0.9, 0.999), eps 1e-8, weight decay 0. One fused pass over (w, grad, m, v[, vmax]).
// AdamW (adamw.hpp) is the same update with the decay decoupled.
#pragma once

#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;   // in [0, 1)
  double beta2 = 0.999; // in [0, 1)
  double eps = 1e-8;    // > 0
  double weight_decay = 0.0;
  bool amsgrad = false;
};

template <class T>
class Adam : public Optimizer<T> {
 public:
  explicit Adam(const AdamOptions& o = AdamOptions()) noexcept : Adam(o, false) {}
  const char* name() const noexcept override { return decoupled_ ? "adamw" : "adam"; }

 protected:
  // decoupled: AdamW's w *= 1 - lr wd before the step, instead of L2 into the gradient.
  Adam(const AdamOptions& o, bool decoupled) noexcept : Optimizer<T>(o.lr, o.weight_decay), o_(o), decoupled_(decoupled) {}
  Status validate() const noexcept override;
  std::size_t state_elements(const nn::Param<T>& p) const noexcept override { return (o_.amsgrad ? 3 : 2) * p.size; }
  Status update(Slot<T>& slot, const Group& group, std::size_t t) noexcept override;

 private:
  AdamOptions o_;
  bool decoupled_;
};

}  // namespace optim
}  // namespace lipflow
