#include "lipflow/optim/lars.hpp"

#include <cmath>

#include "core/simd.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status Lars<T>::validate() const noexcept {
  LIPFLOW_TRY(check_range("lars: momentum (finite, >= 0)", o_.momentum, 0, HUGE_VAL, false, true));
  LIPFLOW_TRY(check_range("lars: eta (finite, > 0)", o_.eta, 0, HUGE_VAL, true, true));
  LIPFLOW_TRY(check_range("lars: eps (finite, >= 0)", o_.eps, 0, HUGE_VAL, false, true));
  if (o_.nesterov && o_.momentum <= 0) return Status(Code::invalid_argument, "lars: nesterov needs momentum > 0");
  return Status::success();
}

template <class T>
Status Lars<T>::update(Slot<T>& s, const Group& group, std::size_t t) noexcept {
  using V = simd::Vec<T>;
  const std::size_t n = s.param.size;
  // Pass 1: ||w||^2 and ||g||^2 in one sweep (nothing written).
  V w_sq(T(0)), g_sq(T(0));
  {
    T* const a[] = {s.param.value, s.param.grad};
    simd::update_arrays<T>(n, a, 0u, [&](V(&x)[2]) {
      w_sq = simd::fma(x[0], x[0], w_sq);
      g_sq = simd::fma(x[1], x[1], g_sq);
    });
  }
  const double w_norm = std::sqrt(static_cast<double>(simd::reduce_add(w_sq)));
  const double g_norm = std::sqrt(static_cast<double>(simd::reduce_add(g_sq)));
  const double wd = group.weight_decay;
  const double local = (w_norm > 0 && g_norm > 0) ? o_.eta * w_norm / (g_norm + wd * w_norm + o_.eps) : 1.0;
  // Pass 2: d = l (g + wd w), then SGD with momentum, as torch.optim.SGD.
  const V l(static_cast<T>(local)), vwd(static_cast<T>(wd)), lr(static_cast<T>(group.lr));
  const bool decay = wd != 0;
  auto direction = [&](const V& w, const V& g) { return (decay ? simd::fma(vwd, w, g) : g) * l; };
  if (o_.momentum == 0) {
    T* const a[] = {s.param.value, s.param.grad};
    simd::update_arrays<T>(n, a, 1u, [&](V(&x)[2]) { x[0] = x[0] - lr * direction(x[0], x[1]); });
    return Status::success();
  }
  const V mu(static_cast<T>(o_.momentum));
  const bool first = t == 1, nesterov = o_.nesterov;
  T* const a[] = {s.param.value, s.param.grad, s.state};
  simd::update_arrays<T>(n, a, 1u | 4u, [&](V(&x)[3]) {
    V d = direction(x[0], x[1]);
    const V b = first ? d : simd::fma(mu, x[2], d);
    x[2] = b;
    d = nesterov ? simd::fma(mu, b, d) : b;
    x[0] = x[0] - lr * d;
  });
  return Status::success();
}

template class Lars<float>;
template class Lars<double>;

}  // namespace optim
}  // namespace lipflow
