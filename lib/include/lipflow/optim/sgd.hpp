// lipflow/optim/sgd.hpp: stochastic gradient descent with momentum, dampening, Nesterov and L2 weight
// decay, exactly torch.optim.SGD (PyTorch 1.13):
//   g = grad + wd w
//   b = g at t = 1, else b = mu b + (1 - dampening) g        (momentum != 0)
//   g = g + mu b (Nesterov) or g = b
//   w = w - lr g
// One fused pass over (w, grad, b) per parameter. State: b (when momentum != 0).
#pragma once

#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

struct SgdOptions {
  double lr = 1e-3;
  double momentum = 0.0;      // >= 0
  double dampening = 0.0;     // in [0, 1]
  double weight_decay = 0.0;  // L2, added to the gradient
  bool nesterov = false;      // needs momentum > 0 and dampening == 0 (as PyTorch)
};

template <class T>
class Sgd final : public Optimizer<T> {
 public:
  explicit Sgd(const SgdOptions& o = SgdOptions()) noexcept : Optimizer<T>(o.lr, o.weight_decay), o_(o) {}
  const char* name() const noexcept override { return "sgd"; }

 protected:
  Status validate() const noexcept override;
  std::size_t state_elements(const nn::Param<T>& p) const noexcept override { return o_.momentum != 0 ? p.size : 0; }
  Status update(Slot<T>& slot, const Group& group, std::size_t t) noexcept override;

 private:
  SgdOptions o_;
};

}  // namespace optim
}  // namespace lipflow
