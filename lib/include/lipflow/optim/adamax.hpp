// lipflow/optim/adamax.hpp: Adamax (the infinity-norm variant of Adam, Kingma and Ba 2015, section
// 7.1), exactly torch.optim.Adamax of PyTorch 1.13 (single-tensor path):
//   g = grad + wd w                                   (L2 decay into the gradient)
//   m = b1 m + (1 - b1) g
//   u = max(b2 u, |g| + eps)                          (PyTorch: amax over the stack of both)
//   w = w - (lr / (1 - b1^t)) m / u
// eps is added to |g| inside the max (so u >= eps > 0 and the division is safe from the first step),
// as PyTorch; the paper has no eps. Defaults lr 2e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.
// State: m and u (two elements per weight). One fused pass over (w, grad, m, u).
// Stricter than PyTorch, which accepts eps = 0: here eps > 0.
#pragma once

#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

struct AdamaxOptions {
  double lr = 2e-3;
  double beta1 = 0.9;         // in [0, 1)
  double beta2 = 0.999;       // in [0, 1)
  double eps = 1e-8;          // > 0
  double weight_decay = 0.0;  // L2, added to the gradient
};

template <class T>
class Adamax final : public Optimizer<T> {
 public:
  explicit Adamax(const AdamaxOptions& o = AdamaxOptions()) noexcept : Optimizer<T>(o.lr, o.weight_decay), o_(o) {}
  const char* name() const noexcept override { return "adamax"; }

 protected:
  // beta1, beta2 in [0, 1), eps > 0, all finite.
  Status validate() const noexcept override;
  std::size_t state_elements(const nn::Param<T>& p) const noexcept override { return 2 * p.size; }
  // One fused pass over (w, grad, m, u): a max and a division per weight, no square root.
  Status update(Slot<T>& slot, const Group& group, std::size_t t) noexcept override;

 private:
  AdamaxOptions o_;
};

}  // namespace optim
}  // namespace lipflow
