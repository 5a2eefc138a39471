#include "lipflow/optim/rmsprop.hpp"

#include <cmath>

#include "core/simd.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status Rmsprop<T>::validate() const noexcept {
  LIPFLOW_TRY(check_range("rmsprop: alpha (in [0, 1))", o_.alpha, 0, 1, false, true));
  LIPFLOW_TRY(check_range("rmsprop: eps (finite, > 0)", o_.eps, 0, HUGE_VAL, true, true));
  LIPFLOW_TRY(check_range("rmsprop: momentum (finite, >= 0)", o_.momentum, 0, HUGE_VAL, false, true));
  return Status::success();
}

// The state arrays follow the parameter in the order v, a (centered), b (momentum): each form is its
// own instantiation, so the loop body carries no branch on the mode.
template <class T>
template <bool Centered, bool Momentum>
void Rmsprop<T>::run(Slot<T>& s, const Group& group) noexcept {
  using V = simd::Vec<T>;
  constexpr std::size_t K = 3 + (Centered ? 1 : 0) + (Momentum ? 1 : 0);
  constexpr std::size_t kA = 3, kB = Centered ? 4 : 3;  // indices of a and b in the pass
  const std::size_t n = s.param.size;
  T* a[K];
  a[0] = s.param.value;
  a[1] = s.param.grad;
  for (std::size_t k = 2; k < K; ++k) a[k] = s.state + (k - 2) * n;
  const V alpha(static_cast<T>(o_.alpha)), one_alpha(static_cast<T>(1.0 - o_.alpha));
  const V eps(static_cast<T>(o_.eps)), wd(static_cast<T>(group.weight_decay));
  const V mu(static_cast<T>(o_.momentum)), neg_lr(static_cast<T>(-group.lr));
  const bool l2 = group.weight_decay != 0;
  unsigned written = 1u | 4u;
  if constexpr (Centered) written |= 1u << kA;
  if constexpr (Momentum) written |= 1u << kB;
  // PyTorch's order: v.mul_(alpha).addcmul_(g, g, 1 - alpha); a.mul_(alpha).add_(g, 1 - alpha);
  // d = v.addcmul(a, a, -1).sqrt_().add_(eps); b.mul_(mu).addcdiv_(g, d); w.add_(b, -lr) or
  // w.addcdiv_(g, d, -lr).
  simd::update_arrays<T>(n, a, written, [&](V(&x)[K]) {
    const V g = l2 ? simd::fma(wd, x[0], x[1]) : x[1];
    x[2] = alpha * x[2] + one_alpha * (g * g);
    V d;
    if constexpr (Centered) {
      x[kA] = alpha * x[kA] + one_alpha * g;
      d = simd::sqrt(x[2] - x[kA] * x[kA]) + eps;
    } else {
      d = simd::sqrt(x[2]) + eps;
    }
    if constexpr (Momentum) {
      x[kB] = mu * x[kB] + g / d;
      x[0] = x[0] + neg_lr * x[kB];
    } else {
      x[0] = x[0] + neg_lr * g / d;
    }
  });
}

template <class T>
Status Rmsprop<T>::update(Slot<T>& s, const Group& group, std::size_t /*t*/) noexcept {
  const bool centered = o_.centered, momentum = o_.momentum > 0;
  if (centered && momentum) run<true, true>(s, group);
  else if (centered) run<true, false>(s, group);
  else if (momentum) run<false, true>(s, group);
  else run<false, false>(s, group);
  return Status::success();
}

template class Rmsprop<float>;
template class Rmsprop<double>;

}  // namespace optim
}  // namespace lipflow
