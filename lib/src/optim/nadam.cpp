#include "lipflow/optim/nadam.hpp"

#include <cmath>

#include "core/simd.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status Nadam<T>::validate() const noexcept {
  LIPFLOW_TRY(check_range("nadam: beta1 (in [0, 1))", o_.beta1, 0, 1, false, true));
  LIPFLOW_TRY(check_range("nadam: beta2 (in [0, 1))", o_.beta2, 0, 1, false, true));
  LIPFLOW_TRY(check_range("nadam: eps (finite, > 0)", o_.eps, 0, HUGE_VAL, true, true));
  LIPFLOW_TRY(check_range("nadam: momentum_decay (finite, >= 0)", o_.momentum_decay, 0, HUGE_VAL, false, true));
  return Status::success();
}

template <class T>
Status Nadam<T>::begin_step(std::size_t t) noexcept {
  if (t == 1) mu_product_ = 1.0;  // P_0: the product always matches the step count
  const double step = static_cast<double>(t);
  mu_ = o_.beta1 * (1.0 - 0.5 * std::pow(0.96, step * o_.momentum_decay));
  mu_next_ = o_.beta1 * (1.0 - 0.5 * std::pow(0.96, (step + 1.0) * o_.momentum_decay));
  mu_product_ *= mu_;
  mu_product_next_ = mu_product_ * mu_ * mu_next_;  // PyTorch 1.13 (see the header)
  return Status::success();
}

template <class T>
Status Nadam<T>::update(Slot<T>& s, const Group& group, std::size_t t) noexcept {
  using V = simd::Vec<T>;
  const double bc2 = 1.0 - std::pow(o_.beta2, static_cast<double>(t));
  const V bc2v(static_cast<T>(bc2));
  const V neg_c_grad(static_cast<T>(-group.lr * (1.0 - mu_) / (1.0 - mu_product_)));
  const V neg_c_avg(static_cast<T>(-group.lr * mu_next_ / (1.0 - mu_product_next_)));
  const V b1(static_cast<T>(o_.beta1)), b2(static_cast<T>(o_.beta2));
  const V one_b1(static_cast<T>(1.0 - o_.beta1)), one_b2(static_cast<T>(1.0 - o_.beta2));
  const V eps(static_cast<T>(o_.eps)), wd(static_cast<T>(group.weight_decay));
  const bool l2 = group.weight_decay != 0;
  const std::size_t n = s.param.size;
  // PyTorch's order: m, v by multiply-then-add; d = sqrt(v / bc2) + eps; two addcdiv_ on w
  // (w + (c g) / d), the gradient term first.
  T* const a[] = {s.param.value, s.param.grad, s.state, s.state + n};
  simd::update_arrays<T>(n, a, 1u | 4u | 8u, [&](V(&x)[4]) {
    const V g = l2 ? simd::fma(wd, x[0], x[1]) : x[1];
    x[2] = b1 * x[2] + one_b1 * g;
    x[3] = b2 * x[3] + one_b2 * (g * g);
    const V d = simd::sqrt(x[3] / bc2v) + eps;
    x[0] = x[0] + neg_c_grad * g / d;
    x[0] = x[0] + neg_c_avg * x[2] / d;
  });
  return Status::success();
}

template class Nadam<float>;
template class Nadam<double>;

}  // namespace optim
}  // namespace lipflow
