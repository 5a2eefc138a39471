#include "lipflow/optim/adagrad.hpp"

#include <cmath>

#include "core/simd.hpp"
#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status Adagrad<T>::validate() const noexcept {
  LIPFLOW_TRY(check_range("adagrad: lr_decay (finite, >= 0)", o_.lr_decay, 0, HUGE_VAL, false, true));
  LIPFLOW_TRY(check_range("adagrad: initial_accumulator_value (finite, >= 0)", o_.initial_accumulator_value, 0,
                          HUGE_VAL, false, true));
  LIPFLOW_TRY(check_range("adagrad: eps (finite, > 0)", o_.eps, 0, HUGE_VAL, true, true));
  return Status::success();
}

template <class T>
Status Adagrad<T>::init_state(Slot<T>& s) noexcept {
  return kernels::fill<T>(s.state_size, static_cast<T>(o_.initial_accumulator_value), s.state, 1);
}

template <class T>
Status Adagrad<T>::update(Slot<T>& s, const Group& group, std::size_t t) noexcept {
  using V = simd::Vec<T>;
  // As PyTorch: clr in double from the step count, then -clr * g / std per weight (addcdiv).
  const double clr = group.lr / (1.0 + static_cast<double>(t - 1) * o_.lr_decay);
  const V neg_clr(static_cast<T>(-clr)), eps(static_cast<T>(o_.eps)), wd(static_cast<T>(group.weight_decay));
  const bool l2 = group.weight_decay != 0;
  T* const a[] = {s.param.value, s.param.grad, s.state};
  simd::update_arrays<T>(s.param.size, a, 1u | 4u, [&](V(&x)[3]) {
    const V g = l2 ? simd::fma(wd, x[0], x[1]) : x[1];
    x[2] = x[2] + g * g;
    x[0] = x[0] + neg_clr * g / (simd::sqrt(x[2]) + eps);
  });
  return Status::success();
}

template class Adagrad<float>;
template class Adagrad<double>;

}  // namespace optim
}  // namespace lipflow
