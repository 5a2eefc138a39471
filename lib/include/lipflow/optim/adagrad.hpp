// lipflow/optim/adagrad.hpp: AdaGrad, exactly torch.optim.Adagrad (PyTorch 1.13, single-tensor path,
// dense gradients):
//   g = grad + wd w                                   (L2 decay into the gradient)
//   clr = lr / (1 + (t - 1) lr_decay)
//   s = s + g^2
//   w = w - clr g / (sqrt(s) + eps)
// eps is outside the square root, as PyTorch. Defaults lr 1e-2, lr_decay 0, weight decay 0,
// initial_accumulator_value 0, eps 1e-10. State: the accumulator s (one element per weight), set to
// initial_accumulator_value at bind(). One fused pass over (w, grad, s).
// Stricter than PyTorch, which accepts eps = 0: here eps must be > 0 (with eps = 0 a zero gradient
// on a zero accumulator gives 0/0).
#pragma once

#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;                   // >= 0
  double weight_decay = 0.0;               // L2, added to the gradient
  double initial_accumulator_value = 0.0;  // >= 0
  double eps = 1e-10;                      // > 0
};

template <class T>
class Adagrad final : public Optimizer<T> {
 public:
  explicit Adagrad(const AdagradOptions& o = AdagradOptions()) noexcept : Optimizer<T>(o.lr, o.weight_decay), o_(o) {}
  const char* name() const noexcept override { return "adagrad"; }

 protected:
  // lr_decay >= 0, initial_accumulator_value >= 0, eps > 0, all finite.
  Status validate() const noexcept override;
  std::size_t state_elements(const nn::Param<T>& p) const noexcept override { return p.size; }
  // s = initial_accumulator_value (one pass over s).
  Status init_state(Slot<T>& slot) noexcept override;
  // One fused pass over (w, grad, s); a square root and a division per weight.
  Status update(Slot<T>& slot, const Group& group, std::size_t t) noexcept override;

 private:
  AdagradOptions o_;
};

}  // namespace optim
}  // namespace lipflow
