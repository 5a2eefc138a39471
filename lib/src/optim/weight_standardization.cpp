// Weight standardization, timm's StdConv2d convention (see lipflow/optim/reparam.hpp).
#include "lipflow/optim/reparam.hpp"

#include <cmath>

#include "core/simd.hpp"
#include "lipflow/core/kernels.hpp"
#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status WeightStandardization<T>::validate() const noexcept {
  return check_range("weight_standardization: eps (finite, > 0)", o_.eps, 0, HUGE_VAL, true, true);
}

template <class T>
Status WeightStandardization<T>::plan_own(MemoryPlan& plan) noexcept {
  LIPFLOW_TRY(v_.plan(plan, "weight_standardization.v", this->rows(), this->cols(), nn::kParamDecay));
  return moments_.plan(plan, "weight_standardization.moments", MemoryKind::activations, 2 * this->rows());
}

template <class T>
Status WeightStandardization<T>::bind_own(const Arena& arena) noexcept {
  LIPFLOW_TRY(v_.bind(arena));
  return moments_.bind(arena);
}

template <class T>
Status WeightStandardization<T>::reset_from_weight(Rng& /*rng*/) noexcept {
  LIPFLOW_TRY(this->check_bound("weight_standardization.reset_from_weight"));
  return kernels::copy<T>(this->rows() * this->cols(), this->weight().value, 1, v_.value.data, 1);
}

template <class T>
Status WeightStandardization<T>::before_forward() noexcept {
  using V = simd::Vec<T>;
  LIPFLOW_TRY(this->check_bound("weight_standardization.before_forward"));
  const std::size_t rows = this->rows(), cols = this->cols();
  T* mean = moments_.data;
  T* inv_std = moments_.data + rows;  // the variances, then 1 / sqrt(var + eps)
  LIPFLOW_TRY(kernels::mean_var_rows<T>(rows, cols, v_.value.data, cols, mean, inv_std));
  const T eps = static_cast<T>(o_.eps);
  T* w = this->weight().value;
  for (std::size_t i = 0; i < rows; ++i) {
    inv_std[i] = T(1) / std::sqrt(inv_std[i] + eps);
    const V mu(mean[i]), r(inv_std[i]);
    simd::map<T>(cols, v_.value.data + i * cols, w + i * cols, [mu, r](V x) { return (x - mu) * r; });
  }
  this->forwarded_ = true;
  return Status::success();
}

template <class T>
Status WeightStandardization<T>::after_backward() noexcept {
  using V = simd::Vec<T>;
  LIPFLOW_TRY(this->check_bound("weight_standardization.after_backward"));
  if (!this->forwarded_) return Status(Code::not_bound, "weight_standardization.after_backward: no before_forward() yet");
  const std::size_t rows = this->rows(), cols = this->cols();
  const T inv_n = T(1) / static_cast<T>(cols);
  const T* inv_std = moments_.data + rows;
  T* w = this->weight().value;
  T* dw = this->weight().grad;
  for (std::size_t i = 0; i < rows; ++i) {
    T* dwi = dw + i * cols;
    T* wi = w + i * cols;
    T s1 = T(0), s2 = T(0);
    LIPFLOW_TRY(kernels::sum<T>(cols, dwi, 1, &s1));
    LIPFLOW_TRY(kernels::dot<T>(cols, dwi, 1, wi, 1, &s2));
    // grad_V += r (dW - mean(dW) - W mean(dW W)), and dW = 0, in one pass over (grad_V, dW, W).
    const V r(inv_std[i]), m1(s1 * inv_n), m2(s2 * inv_n), zero(T(0));
    T* const arrays[] = {v_.grad.data + i * cols, dwi, wi};
    simd::update_arrays<T>(cols, arrays, 1u | 2u, [&](V(&x)[3]) {
      x[0] = simd::fma(r, (x[1] - m1) - x[2] * m2, x[0]);
      x[1] = zero;
    });
  }
  return Status::success();
}

template class WeightStandardization<float>;
template class WeightStandardization<double>;

}  // namespace optim
}  // namespace lipflow
