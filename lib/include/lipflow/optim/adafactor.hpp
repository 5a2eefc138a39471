// lipflow/optim/adafactor.hpp: Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with
// Sublinear Memory Cost"). PyTorch 1.13 has no Adafactor; this follows the Hugging Face transformers
// Adafactor (itself from fairseq), with its options and defaults. At step t, per parameter:
//   rho   = relative_step ? min(warmup_init ? 1e-6 t : 1e-2, 1 / sqrt(t)) : the group's lr
//   lr_t  = (scale_parameter ? max(eps2, RMS(w)) : 1) rho          RMS(x) = ||x||_2 / sqrt(size)
//   b2    = 1 - t^decay_rate
//   s     = g^2 + eps1
//   matrix (rows R > 1, cols C): r = b2 r + (1 - b2) mean_j s_ij  (R row accumulators)
//                                c = b2 c + (1 - b2) mean_i s_ij  (C column accumulators)
//                                u_ij = g_ij / (sqrt(r_i / mean(r)) sqrt(c_j))
//   vector (rows 1):             v = b2 v + (1 - b2) s,  u = g / sqrt(v)
//   u     = lr_t u / max(1, RMS(u) / clip_threshold)               (update clipping)
//   m     = beta1 m + (1 - beta1) u,  u = m                        (only when beta1 > 0)
//   w     = w - wd lr_t w - u                                      (the group's weight decay)
// RMS(w) is taken before the step. Defaults are the reference's: relative_step, scale_parameter, no
// warmup_init, eps (1e-30, 1e-3), clip_threshold 1, decay_rate -0.8, no first moment, weight decay 0,
// no external lr. The reference's beta1 = None is beta1 = 0 here (the same trajectory, no state).
// Like the reference, a manual lr is refused with relative_step: every group's lr must then be 0 at
// plan() (and is ignored); without relative_step the group's lr (and any schedule) is used.
// Factoring follows Param::rows x cols: a parameter with rows > 1 is a matrix (the reference factors any
// tensor of two or more dimensions over its last two; for a conv kernel, out x (in kh kw) here vs its
// kh x kw there). Vectors (rows 1: biases, gains) keep one accumulator per element.
// Not one fused pass: the clipping needs RMS(u) of the whole update, and a matrix's u needs mean(r) and
// every c first. A vector takes two passes (v, ||w||^2, ||u||^2; then the update), a matrix three (row
// and column sums with ||w||^2; ||u||^2; the update), u being recomputed with the same arithmetic.
// State: R + C elements for a matrix, n for a vector, plus n for m when beta1 > 0.
#pragma once

#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

struct AdafactorOptions {
  double lr = 0.0;              // the external rate (the reference's lr); must be 0 with relative_step
  double eps1 = 1e-30;          // > 0, added to g^2
  double eps2 = 1e-3;           // >= 0, the least parameter scale
  double clip_threshold = 1.0;  // > 0, the largest RMS of an update before lr_t
  double decay_rate = -0.8;     // <= 0: b2 = 1 - t^decay_rate
  double beta1 = 0.0;           // in [0, 1); 0: no first moment (the reference's None)
  double weight_decay = 0.0;    // w -= wd lr_t w
  bool scale_parameter = true;  // scale the step by max(eps2, RMS(w))
  bool relative_step = true;    // rho from t instead of the group's lr
  bool warmup_init = false;     // rho = min(1e-6 t, 1/sqrt(t)); needs relative_step
};

template <class T>
class Adafactor final : public Optimizer<T> {
 public:
  explicit Adafactor(const AdafactorOptions& o = AdafactorOptions()) noexcept
      : Optimizer<T>(o.lr, o.weight_decay), o_(o) {}
  const char* name() const noexcept override { return "adafactor"; }

  // True when p is treated as a matrix (row and column accumulators): rows > 1 and rows x cols = size.
  static bool factored(const nn::Param<T>& p) noexcept { return p.rows > 1 && p.cols > 0 && p.rows * p.cols == p.size; }

 protected:
  // Errors (invalid_argument): eps1 <= 0, eps2 < 0, clip_threshold <= 0, decay_rate > 0, beta1 outside
  // [0, 1), a non-finite value, warmup_init without relative_step, a group lr != 0 with relative_step.
  Status validate() const noexcept override;
  // R + C (matrix) or n (vector), plus n with a first moment.
  std::size_t state_elements(const nn::Param<T>& p) const noexcept override;
  // Two (vector) or three (matrix) passes, see above; two square roots and a division per element and
  // pass that forms u.
  Status update(Slot<T>& slot, const Group& group, std::size_t t) noexcept override;

 private:
  AdafactorOptions o_;
};

}  // namespace optim
}  // namespace lipflow
