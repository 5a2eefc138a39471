#include "lipflow/optim/adamax.hpp"

#include <cmath>

#include "core/simd.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status Adamax<T>::validate() const noexcept {
  LIPFLOW_TRY(check_range("adamax: beta1 (in [0, 1))", o_.beta1, 0, 1, false, true));
  LIPFLOW_TRY(check_range("adamax: beta2 (in [0, 1))", o_.beta2, 0, 1, false, true));
  LIPFLOW_TRY(check_range("adamax: eps (finite, > 0)", o_.eps, 0, HUGE_VAL, true, true));
  return Status::success();
}

template <class T>
Status Adamax<T>::update(Slot<T>& s, const Group& group, std::size_t t) noexcept {
  using V = simd::Vec<T>;
  const double clr = group.lr / (1.0 - std::pow(o_.beta1, static_cast<double>(t)));
  const V neg_clr(static_cast<T>(-clr));
  const V b1(static_cast<T>(o_.beta1)), b2(static_cast<T>(o_.beta2)), one_b1(static_cast<T>(1.0 - o_.beta1));
  const V eps(static_cast<T>(o_.eps)), wd(static_cast<T>(group.weight_decay));
  const bool l2 = group.weight_decay != 0;
  const std::size_t n = s.param.size;
  // PyTorch's order: m.mul_(b1).add_(g, 1 - b1); u = amax(u * b2, |g| + eps); w.addcdiv_(m, u, -clr).
  // |g| + eps is the second operand of max so that a NaN gradient reaches u and w on every target
  // (SSE/AVX and the scalar path return the second operand when either is NaN, NEON returns NaN).
  T* const a[] = {s.param.value, s.param.grad, s.state, s.state + n};
  simd::update_arrays<T>(n, a, 1u | 4u | 8u, [&](V(&x)[4]) {
    const V g = l2 ? simd::fma(wd, x[0], x[1]) : x[1];
    x[2] = b1 * x[2] + one_b1 * g;
    x[3] = simd::max(x[3] * b2, simd::abs(g) + eps);
    x[0] = x[0] + neg_clr * x[2] / x[3];
  });
  return Status::success();
}

template class Adamax<float>;
template class Adamax<double>;

}  // namespace optim
}  // namespace lipflow
