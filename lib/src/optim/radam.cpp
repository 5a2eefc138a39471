#include "lipflow/optim/radam.hpp"

#include <cmath>

#include "core/simd.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status Radam<T>::validate() const noexcept {
  LIPFLOW_TRY(check_range("radam: beta1 (in [0, 1))", o_.beta1, 0, 1, false, true));
  LIPFLOW_TRY(check_range("radam: beta2 (in [0, 1))", o_.beta2, 0, 1, false, true));
  LIPFLOW_TRY(check_range("radam: eps (finite, > 0)", o_.eps, 0, HUGE_VAL, true, true));
  return Status::success();
}

template <class T>
Status Radam<T>::update(Slot<T>& s, const Group& group, std::size_t t) noexcept {
  using V = simd::Vec<T>;
  // The scalars in double, in PyTorch's order (the branch test must agree with PyTorch's exactly).
  const double step = static_cast<double>(t);
  const double b2t = std::pow(o_.beta2, step);
  const double bc1 = 1.0 - std::pow(o_.beta1, step), bc2 = 1.0 - b2t;
  const double rho_inf = 2.0 / (1.0 - o_.beta2) - 1.0;
  const double rho_t = rho_inf - 2.0 * step * b2t / bc2;
  const bool rectified = rho_t > 5.0;
  const double rect =
      rectified ? std::sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)) : 0.0;
  const V bc1v(static_cast<T>(bc1)), lr(static_cast<T>(group.lr)), sqrt_bc2(static_cast<T>(std::sqrt(bc2)));
  const V r(static_cast<T>(rect)), one(T(1));
  const V b1(static_cast<T>(o_.beta1)), b2(static_cast<T>(o_.beta2));
  const V one_b1(static_cast<T>(1.0 - o_.beta1)), one_b2(static_cast<T>(1.0 - o_.beta2));
  const V eps(static_cast<T>(o_.eps)), wd(static_cast<T>(group.weight_decay));
  const bool l2 = group.weight_decay != 0;
  const std::size_t n = s.param.size;
  // PyTorch computes sqrt(bc2) / (sqrt(v) + eps) as (1 / (sqrt(v) + eps)) * sqrt(bc2) (a Python float
  // divided by a tensor is the tensor's reciprocal times the float), then ((m / bc1) lr) adaptive r.
  T* const a[] = {s.param.value, s.param.grad, s.state, s.state + n};
  simd::update_arrays<T>(n, a, 1u | 4u | 8u, [&](V(&x)[4]) {
    const V g = l2 ? simd::fma(wd, x[0], x[1]) : x[1];
    x[2] = b1 * x[2] + one_b1 * g;
    x[3] = b2 * x[3] + one_b2 * (g * g);
    const V m_lr = x[2] / bc1v * lr;
    if (rectified) {
      const V adaptive = one / (simd::sqrt(x[3]) + eps) * sqrt_bc2;
      x[0] = x[0] - m_lr * adaptive * r;
    } else {
      x[0] = x[0] - m_lr;
    }
  });
  return Status::success();
}

template class Radam<float>;
template class Radam<double>;

}  // namespace optim
}  // namespace lipflow
