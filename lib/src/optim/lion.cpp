#include "lipflow/optim/lion.hpp"

#include <cmath>

#include "core/simd.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status Lion<T>::validate() const noexcept {
  LIPFLOW_TRY(check_range("lion: lr (finite, > 0)", o_.lr, 0, HUGE_VAL, true, true));
  LIPFLOW_TRY(check_range("lion: beta1 (in [0, 1])", o_.beta1, 0, 1, false, false));
  LIPFLOW_TRY(check_range("lion: beta2 (in [0, 1])", o_.beta2, 0, 1, false, false));
  return Status::success();
}

template <class T>
Status Lion<T>::update(Slot<T>& s, const Group& group, std::size_t /*t*/) noexcept {
  using V = simd::Vec<T>;
  const double wd = o_.decoupled_weight_decay ? group.weight_decay / o_.lr : group.weight_decay;
  const V shrink(static_cast<T>(1.0 - group.lr * wd)), lr(static_cast<T>(group.lr));
  const V b1(static_cast<T>(o_.beta1)), b2(static_cast<T>(o_.beta2));
  const V one_b1(static_cast<T>(1.0 - o_.beta1)), one_b2(static_cast<T>(1.0 - o_.beta2));
  const bool decay = wd != 0;
  T* const a[] = {s.param.value, s.param.grad, s.state};
  simd::update_arrays<T>(s.param.size, a, 1u | 4u, [&](V(&x)[3]) {
    if (decay) x[0] = x[0] * shrink;
    const V c = b1 * x[2] + one_b1 * x[1];
    x[0] = x[0] - lr * simd::sign(c);
    x[2] = b2 * x[2] + one_b2 * x[1];
  });
  return Status::success();
}

template class Lion<float>;
template class Lion<double>;

}  // namespace optim
}  // namespace lipflow
