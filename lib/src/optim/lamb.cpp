#include "lipflow/optim/lamb.hpp"

#include <cmath>

#include "core/simd.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status Lamb<T>::validate() const noexcept {
  LIPFLOW_TRY(check_range("lamb: beta1 (in [0, 1))", o_.beta1, 0, 1, false, true));
  LIPFLOW_TRY(check_range("lamb: beta2 (in [0, 1))", o_.beta2, 0, 1, false, true));
  LIPFLOW_TRY(check_range("lamb: eps (finite, >= 0)", o_.eps, 0, HUGE_VAL, false, true));
  LIPFLOW_TRY(check_range("lamb: eps_root (finite, >= 0)", o_.eps_root, 0, HUGE_VAL, false, true));
  if (o_.eps == 0 && o_.eps_root == 0) return Status(Code::invalid_argument, "lamb: eps and eps_root (not both 0)");
  return Status::success();
}

template <class T>
Status Lamb<T>::update(Slot<T>& s, const Group& group, std::size_t t) noexcept {
  using V = simd::Vec<T>;
  const double td = static_cast<double>(t);
  const V inv_bc1(static_cast<T>(1.0 / (1.0 - std::pow(o_.beta1, td))));
  const V inv_bc2(static_cast<T>(1.0 / (1.0 - std::pow(o_.beta2, td))));
  const V b1(static_cast<T>(o_.beta1)), b2(static_cast<T>(o_.beta2));
  const V one_b1(static_cast<T>(1.0 - o_.beta1)), one_b2(static_cast<T>(1.0 - o_.beta2));
  const V eps(static_cast<T>(o_.eps)), eps_root(static_cast<T>(o_.eps_root));
  const V wd(static_cast<T>(group.weight_decay));
  const bool decay = group.weight_decay != 0;
  const std::size_t n = s.param.size;
  // u from the updated moments; the same expression in both passes, so pass 2 scales exactly the u
  // whose norm pass 1 measured. Zero-padded tail lanes give u = 0 (m = 0, denominator eps > 0 or
  // sqrt(eps_root) > 0) and w = 0, so they add nothing to the norms.
  auto direction = [&](const V& w, const V& m, const V& v) {
    const V u = (m * inv_bc1) / (simd::sqrt(v * inv_bc2 + eps_root) + eps);
    return decay ? simd::fma(wd, w, u) : u;
  };
  // Pass 1: the moments, and the two squared norms (fused: they need the new moments and w).
  V w_sq(T(0)), u_sq(T(0));
  {
    T* const a[] = {s.param.value, s.param.grad, s.state, s.state + n};
    simd::update_arrays<T>(n, a, 4u | 8u, [&](V(&x)[4]) {
      x[2] = b1 * x[2] + one_b1 * x[1];
      x[3] = b2 * x[3] + one_b2 * (x[1] * x[1]);
      const V u = direction(x[0], x[2], x[3]);
      w_sq = simd::fma(x[0], x[0], w_sq);
      u_sq = simd::fma(u, u, u_sq);
    });
  }
  const double w_norm = std::sqrt(static_cast<double>(simd::reduce_add(w_sq)));
  const double u_norm = std::sqrt(static_cast<double>(simd::reduce_add(u_sq)));
  const double ratio = (w_norm == 0 || u_norm == 0) ? 1.0 : w_norm / u_norm;
  // Pass 2: w -= (lr r) u.
  const V step(static_cast<T>(group.lr * ratio));
  T* const a[] = {s.param.value, s.state, s.state + n};
  simd::update_arrays<T>(n, a, 1u, [&](V(&x)[3]) { x[0] = x[0] - step * direction(x[0], x[1], x[2]); });
  return Status::success();
}

template class Lamb<float>;
template class Lamb<double>;

}  // namespace optim
}  // namespace lipflow
