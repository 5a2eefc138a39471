// lipflow/optim/radam.hpp: RAdam (rectified Adam, Liu et al. 2020), exactly torch.optim.RAdam of PyTorch
// 1.13 (single-tensor path):
//   g = grad + wd w                                   (L2 decay into the gradient)
//   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2
//   rho_inf = 2 / (1 - b2) - 1,  rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
//   rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
//               w = w - (m / (1 - b1^t)) lr sqrt(1 - b2^t) / (sqrt(v) + eps) r
//   otherwise:  w = w - (m / (1 - b1^t)) lr           (the un-adapted, momentum-SGD step)
// eps is added to sqrt(v) before the bias correction sqrt(1 - b2^t) multiplies (unlike Adam, where it
// is added to the corrected sqrt(v / (1 - b2^t))), as PyTorch. v is updated in both branches. With
// b2 = 0.999 (or 0.99) the first five steps take the un-adapted branch. Defaults lr 1e-3,
// betas (0.9, 0.999), eps 1e-8, weight decay 0.
// State: m and v (two elements per weight). One fused pass over (w, grad, m, v); the branch is chosen
// once per step. Stricter than PyTorch, which accepts eps = 0: here eps > 0.
#pragma once

#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

struct RadamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;         // in [0, 1)
  double beta2 = 0.999;       // in [0, 1)
  double eps = 1e-8;          // > 0
  double weight_decay = 0.0;  // L2, added to the gradient
};

template <class T>
class Radam final : public Optimizer<T> {
 public:
  explicit Radam(const RadamOptions& o = RadamOptions()) noexcept : Optimizer<T>(o.lr, o.weight_decay), o_(o) {}
  const char* name() const noexcept override { return "radam"; }

 protected:
  // beta1, beta2 in [0, 1), eps > 0, all finite.
  Status validate() const noexcept override;
  std::size_t state_elements(const nn::Param<T>& p) const noexcept override { return 2 * p.size; }
  // One fused pass over (w, grad, m, v): a square root and two divisions per weight (one division
  // before the rectification starts).
  Status update(Slot<T>& slot, const Group& group, std::size_t t) noexcept override;

 private:
  RadamOptions o_;
};

}  // namespace optim
}  // namespace lipflow
