#include "lipflow/optim/adam.hpp"

#include <cmath>

#include "core/simd.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status Adam<T>::validate() const noexcept {
  LIPFLOW_TRY(check_range("adam: beta1 (in [0, 1))", o_.beta1, 0, 1, false, true));
  LIPFLOW_TRY(check_range("adam: beta2 (in [0, 1))", o_.beta2, 0, 1, false, true));
  LIPFLOW_TRY(check_range("adam: eps (finite, > 0)", o_.eps, 0, HUGE_VAL, true, true));
  return Status::success();
}

template <class T>
Status Adam<T>::update(Slot<T>& s, const Group& group, std::size_t t) noexcept {
  using V = simd::Vec<T>;
  const double bc1 = 1.0 - std::pow(o_.beta1, static_cast<double>(t));
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(o_.beta2, static_cast<double>(t)));
  const V step_size(static_cast<T>(group.lr / bc1)), inv_bc2_sqrt(static_cast<T>(1.0 / bc2_sqrt));
  const V b1(static_cast<T>(o_.beta1)), b2(static_cast<T>(o_.beta2));
  const V one_b1(static_cast<T>(1.0 - o_.beta1)), one_b2(static_cast<T>(1.0 - o_.beta2));
  const V eps(static_cast<T>(o_.eps)), wd(static_cast<T>(group.weight_decay));
  const V shrink(static_cast<T>(1.0 - group.lr * group.weight_decay));
  const bool l2 = !decoupled_ && group.weight_decay != 0, decay = decoupled_ && group.weight_decay != 0;
  const std::size_t n = s.param.size;
  // The same arithmetic as PyTorch: m and v by multiply-then-add, denom = sqrt(v) / sqrt(bc2) + eps,
  // w -= step_size * m / denom (sqrt(v) * (1 / sqrt(bc2)) differs from the division by at most an ulp).
  if (!o_.amsgrad) {
    T* const a[] = {s.param.value, s.param.grad, s.state, s.state + n};
    simd::update_arrays<T>(n, a, 1u | 4u | 8u, [&](V(&x)[4]) {
      if (decay) x[0] = x[0] * shrink;
      const V g = l2 ? simd::fma(wd, x[0], x[1]) : x[1];
      x[2] = b1 * x[2] + one_b1 * g;
      x[3] = b2 * x[3] + one_b2 * (g * g);
      x[0] = x[0] - step_size * (x[2] / (simd::sqrt(x[3]) * inv_bc2_sqrt + eps));
    });
  } else {
    T* const a[] = {s.param.value, s.param.grad, s.state, s.state + n, s.state + 2 * n};
    simd::update_arrays<T>(n, a, 1u | 4u | 8u | 16u, [&](V(&x)[5]) {
      if (decay) x[0] = x[0] * shrink;
      const V g = l2 ? simd::fma(wd, x[0], x[1]) : x[1];
      x[2] = b1 * x[2] + one_b1 * g;
      x[3] = b2 * x[3] + one_b2 * (g * g);
      x[4] = simd::max(x[4], x[3]);
      x[0] = x[0] - step_size * (x[2] / (simd::sqrt(x[4]) * inv_bc2_sqrt + eps));
    });
  }
  return Status::success();
}

template class Adam<float>;
template class Adam<double>;

}  // namespace optim
}  // namespace lipflow
