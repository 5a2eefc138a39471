// lipflow/optim/lars.hpp: LARS, layer-wise adaptive rate scaling (You, Gitman & Ginsburg 2017, "Large
// Batch Training of Convolutional Networks", Algorithm 1). PyTorch 1.13 has no LARS; this follows
// kakaobrain's torchlars, which wraps torch.optim.SGD (not optax.lars, whose ratio is
// ||w|| / ||g + wd w||). Per parameter (one Param = one layer's tensor), with the group's lr and wd:
//   l = eta ||w|| / (||g|| + wd ||w|| + eps)     when ||w|| > 0 and ||g|| > 0, else l = 1
//   d = l (g + wd w)
//   then torch.optim.SGD's momentum step on d (dampening 0, SGD's own decay off):
//   b = d at t = 1, else b = mu b + d;   d = d + mu b (Nesterov) or d = b;   w = w - lr d
// The norms are taken before the decay is added, on the weights before the step. With a constant lr
// this is the paper's v = mu v + lr l (g + wd w), w -= v; with a schedule the lr sits outside the
// velocity, as PyTorch's SGD. Defaults: eta (trust coefficient) 1e-3 and eps 1e-8 (torchlars's),
// momentum 0.9 (the paper's), weight decay 0, lr 1e-3 (the library's Sgd; torch's SGD and optax.lars
// require one). Two passes over memory per parameter, not one: l needs ||w|| and ||g|| over the whole
// parameter before any element is updated. Pass 1 reads (w, grad) for both squared norms; pass 2 reads
// (w, grad, b) and writes w and b. State: b (n elements) when momentum != 0. The squares are summed in T
// without rescaling (norms beyond sqrt(max of T), 1.8e19 in float, overflow).
#pragma once

#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

struct LarsOptions {
  double lr = 1e-3;
  double momentum = 0.9;      // >= 0
  double eta = 1e-3;          // trust coefficient, > 0
  double eps = 1e-8;          // >= 0, in the denominator of the local rate
  double weight_decay = 0.0;  // L2, added to the gradient and in the local rate's denominator
  bool nesterov = false;      // needs momentum > 0
};

template <class T>
class Lars final : public Optimizer<T> {
 public:
  explicit Lars(const LarsOptions& o = LarsOptions()) noexcept : Optimizer<T>(o.lr, o.weight_decay), o_(o) {}
  const char* name() const noexcept override { return "lars"; }

 protected:
  // Errors (invalid_argument): momentum < 0, eta <= 0, eps < 0, a non-finite value, Nesterov without
  // momentum.
  Status validate() const noexcept override;
  // b: one element per parameter element when momentum != 0, else none.
  std::size_t state_elements(const nn::Param<T>& p) const noexcept override { return o_.momentum != 0 ? p.size : 0; }
  // Two passes (see above): about 4 + 6 flops per element, one square root per parameter.
  Status update(Slot<T>& slot, const Group& group, std::size_t t) noexcept override;

 private:
  LarsOptions o_;
};

}  // namespace optim
}  // namespace lipflow
