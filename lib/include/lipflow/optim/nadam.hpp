// lipflow/optim/nadam.hpp: NAdam (Adam with Nesterov momentum, Dozat 2016), exactly torch.optim.NAdam
// of PyTorch 1.13 (single-tensor path):
//   g = grad + wd w                                   (L2 decay into the gradient)
//   mu_t = b1 (1 - 0.5 0.96^(t psi)),  mu_{t+1} = b1 (1 - 0.5 0.96^((t+1) psi))    (psi = momentum_decay)
//   P_t = P_{t-1} mu_t  (P_0 = 1),  P'_t = P_t mu_t mu_{t+1}
//   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,  d = sqrt(v / (1 - b2^t)) + eps
//   w = w - lr (1 - mu_t) / (1 - P_t) g / d
//   w = w - lr mu_{t+1} / (1 - P'_t) m / d
// P'_t is PyTorch 1.13's formula: it multiplies mu_t twice (P_t already holds it). Dozat's paper and
// later PyTorch releases use P_t mu_{t+1}; we follow 1.13, the version the golden trajectories come
// from (the two differ by a factor mu_t in a product that falls like 0.45^t with the defaults: 14% on
// the second term at t = 1, negligible after a few dozen steps).
// Defaults lr 2e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0, momentum_decay 4e-3.
//
// The running product P_t is a scalar that is the same for every parameter (every parameter steps at
// every step), so it is kept once in the optimizer, in double, and advanced by begin_step(); PyTorch
// keeps one copy per parameter. PyTorch stores it in a 0-dim tensor of the default dtype, i.e. rounded
// to float32 at each step unless torch.set_default_dtype(torch.float64): our trajectories equal
// PyTorch's with the float64 default, and differ from the float32 default by that rounding (4e-10
// relative after 200 steps on the test MLP; tests/optim/test_adaptive.cpp measures it).
//
// State: m and v (two elements per weight). One fused pass over (w, grad, m, v).
// Stricter than PyTorch, which accepts eps = 0: here eps > 0.
#pragma once

#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

struct NadamOptions {
  double lr = 2e-3;
  double beta1 = 0.9;            // in [0, 1)
  double beta2 = 0.999;          // in [0, 1)
  double eps = 1e-8;             // > 0
  double weight_decay = 0.0;     // L2, added to the gradient
  double momentum_decay = 4e-3;  // psi, >= 0
};

template <class T>
class Nadam final : public Optimizer<T> {
 public:
  explicit Nadam(const NadamOptions& o = NadamOptions()) noexcept : Optimizer<T>(o.lr, o.weight_decay), o_(o) {}
  const char* name() const noexcept override { return "nadam"; }
  // P_t after the last step (1 before the first).
  double mu_product() const noexcept { return mu_product_; }
  // The one running scalar a checkpoint keeps: P_t.
  std::size_t scalar_state_count() const noexcept override { return 1; }
  double scalar_state(std::size_t /*i*/) const noexcept override { return mu_product_; }
  Status set_scalar_state(std::size_t i, double value) noexcept override {
    if (i != 0) return Status(Code::out_of_range, "nadam.set_scalar_state: index", static_cast<long long>(i), 0);
    mu_product_ = value;
    return Status::success();
  }

 protected:
  // beta1, beta2 in [0, 1), eps > 0, momentum_decay >= 0, all finite.
  Status validate() const noexcept override;
  std::size_t state_elements(const nn::Param<T>& p) const noexcept override { return 2 * p.size; }
  // Advances P_t and computes mu_t, mu_{t+1}, P'_t (a few pow() calls, once per step).
  Status begin_step(std::size_t t) noexcept override;
  // One fused pass over (w, grad, m, v); a square root and three divisions per weight.
  Status update(Slot<T>& slot, const Group& group, std::size_t t) noexcept override;

 private:
  NadamOptions o_;
  double mu_product_ = 1.0;       // P_t
  double mu_ = 0, mu_next_ = 0;   // mu_t, mu_{t+1}
  double mu_product_next_ = 1.0;  // P'_t
};

}  // namespace optim
}  // namespace lipflow
