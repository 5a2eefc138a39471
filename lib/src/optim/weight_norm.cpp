// Weight normalization, torch.nn.utils.weight_norm(dim=0) (see lipflow/optim/reparam.hpp).
#include "lipflow/optim/reparam.hpp"

#include "core/simd.hpp"
#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status WeightNorm<T>::plan_own(MemoryPlan& plan) noexcept {
  LIPFLOW_TRY(g_.plan(plan, "weight_norm.g", this->rows(), 1, nn::kParamNormGain));
  LIPFLOW_TRY(v_.plan(plan, "weight_norm.v", this->rows(), this->cols(), nn::kParamDecay));
  return norms_.plan(plan, "weight_norm.row_norms", MemoryKind::activations, this->rows());
}

template <class T>
Status WeightNorm<T>::bind_own(const Arena& arena) noexcept {
  LIPFLOW_TRY(g_.bind(arena));
  LIPFLOW_TRY(v_.bind(arena));
  return norms_.bind(arena);
}

template <class T>
Status WeightNorm<T>::reset_from_weight(Rng& /*rng*/) noexcept {
  LIPFLOW_TRY(this->check_bound("weight_norm.reset_from_weight"));
  const std::size_t rows = this->rows(), cols = this->cols();
  const T* w = this->weight().value;
  LIPFLOW_TRY(kernels::copy<T>(rows * cols, w, 1, v_.value.data, 1));
  for (std::size_t i = 0; i < rows; ++i) LIPFLOW_TRY(kernels::norm<T>(kernels::Norm::l2, cols, w + i * cols, 1, g_.value.data + i));
  return Status::success();
}

template <class T>
Status WeightNorm<T>::before_forward() noexcept {
  using V = simd::Vec<T>;
  LIPFLOW_TRY(this->check_bound("weight_norm.before_forward"));
  const std::size_t rows = this->rows(), cols = this->cols();
  T* w = this->weight().value;
  for (std::size_t i = 0; i < rows; ++i) {
    const T* vi = v_.value.data + i * cols;
    LIPFLOW_TRY(kernels::norm<T>(kernels::Norm::l2, cols, vi, 1, norms_.data + i));
    const V s(g_.value.data[i] / norms_.data[i]);  // v * (g / ||v||), PyTorch's order
    simd::map<T>(cols, vi, w + i * cols, [s](V x) { return x * s; });
  }
  this->forwarded_ = true;
  return Status::success();
}

template <class T>
Status WeightNorm<T>::after_backward() noexcept {
  using V = simd::Vec<T>;
  LIPFLOW_TRY(this->check_bound("weight_norm.after_backward"));
  if (!this->forwarded_) return Status(Code::not_bound, "weight_norm.after_backward: no before_forward() yet");
  const std::size_t rows = this->rows(), cols = this->cols();
  T* dw = this->weight().grad;
  for (std::size_t i = 0; i < rows; ++i) {
    T* dwi = dw + i * cols;
    T* vi = v_.value.data + i * cols;
    const T n = norms_.data[i], gi = g_.value.data[i];
    T d = T(0);
    LIPFLOW_TRY(kernels::dot<T>(cols, dwi, 1, vi, 1, &d));
    g_.grad.data[i] += d / n;
    // grad_v += (g/n) dW - (g d / n^3) v, and dW = 0, in one pass over (grad_v, dW, v).
    const V a(gi / n), b(-(gi * d) / (n * n * n)), zero(T(0));
    T* const arrays[] = {v_.grad.data + i * cols, dwi, vi};
    simd::update_arrays<T>(cols, arrays, 1u | 2u, [&](V(&x)[3]) {
      x[0] = x[0] + simd::fma(a, x[1], b * x[2]);
      x[1] = zero;
    });
  }
  return Status::success();
}

template class WeightNorm<float>;
template class WeightNorm<double>;

}  // namespace optim
}  // namespace lipflow
