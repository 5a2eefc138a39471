// Spectral normalization, torch.nn.utils.parametrizations.spectral_norm of PyTorch 1.13 (see
// lipflow/optim/reparam.hpp): the same order of operations (u from v, then v from u, each normalized
// by max(||.||, eps); sigma = u . (W_orig v); W = W_orig / sigma by division).
#include "lipflow/optim/reparam.hpp"

#include <cmath>

#include "core/simd.hpp"
#include "lipflow/core/kernels.hpp"
#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

namespace {

// x = x / max(||x||, eps), F.normalize's rule.
template <class T>
Status normalize(std::size_t n, T* x, T eps) noexcept {
  using V = simd::Vec<T>;
  T norm = T(0);
  LIPFLOW_TRY(kernels::norm<T>(kernels::Norm::l2, n, x, 1, &norm));
  const V d(norm > eps ? norm : eps);
  simd::map<T>(n, x, x, [d](V a) { return a / d; });
  return Status::success();
}

}  // namespace

template <class T>
Status SpectralNorm<T>::validate() const noexcept {
  if (o_.n_power_iterations < 1)
    return Status(Code::invalid_argument, "spectral_norm: n_power_iterations (>= 1)", o_.n_power_iterations, 1);
  return check_range("spectral_norm: eps (finite, > 0)", o_.eps, 0, HUGE_VAL, true, true);
}

template <class T>
Status SpectralNorm<T>::plan_own(MemoryPlan& plan) noexcept {
  LIPFLOW_TRY(orig_.plan(plan, "spectral_norm.weight_orig", this->rows(), this->cols(), nn::kParamDecay));
  // Persistent state, like PyTorch's _u and _v buffers: counted with the parameters.
  return uv_.plan(plan, "spectral_norm.uv", MemoryKind::parameters, this->rows() + this->cols());
}

template <class T>
Status SpectralNorm<T>::bind_own(const Arena& arena) noexcept {
  LIPFLOW_TRY(orig_.bind(arena));
  LIPFLOW_TRY(uv_.bind(arena));
  sigma_ = T(0);
  return kernels::fill<T>(uv_.size, T(0), uv_.data, 1);
}

template <class T>
Status SpectralNorm<T>::power_method(int k) noexcept {
  const std::size_t rows = this->rows(), cols = this->cols();
  const T* w = orig_.value.data;
  T* u = uv_.data;
  T* v = uv_.data + rows;
  const T eps = static_cast<T>(o_.eps);
  for (int it = 0; it < k; ++it) {
    for (std::size_t i = 0; i < rows; ++i) LIPFLOW_TRY(kernels::dot<T>(cols, w + i * cols, 1, v, 1, u + i));  // u = W v
    LIPFLOW_TRY(normalize<T>(rows, u, eps));
    LIPFLOW_TRY(kernels::fill<T>(cols, T(0), v, 1));  // v = W^T u
    for (std::size_t i = 0; i < rows; ++i) LIPFLOW_TRY(kernels::axpy<T>(cols, u[i], w + i * cols, 1, v, 1));
    LIPFLOW_TRY(normalize<T>(cols, v, eps));
  }
  return Status::success();
}

template <class T>
Status SpectralNorm<T>::reset_from_weight(Rng& rng) noexcept {
  LIPFLOW_TRY(this->check_bound("spectral_norm.reset_from_weight"));
  const std::size_t rows = this->rows(), cols = this->cols();
  LIPFLOW_TRY(kernels::copy<T>(rows * cols, this->weight().value, 1, orig_.value.data, 1));
  for (std::size_t i = 0; i < rows + cols; ++i) uv_.data[i] = static_cast<T>(rng.normal_double());
  const T eps = static_cast<T>(o_.eps);
  LIPFLOW_TRY(normalize<T>(rows, uv_.data, eps));
  LIPFLOW_TRY(normalize<T>(cols, uv_.data + rows, eps));
  return power_method(15);  // PyTorch's registration: 15 iterations from the random start
}

template <class T>
Status SpectralNorm<T>::before_forward() noexcept {
  using V = simd::Vec<T>;
  LIPFLOW_TRY(this->check_bound("spectral_norm.before_forward"));
  if (this->training()) LIPFLOW_TRY(power_method(o_.n_power_iterations));
  const std::size_t rows = this->rows(), cols = this->cols();
  const T* w = orig_.value.data;
  const T* u = uv_.data;
  const T* v = uv_.data + rows;
  T sigma = T(0);  // u . (W v)
  for (std::size_t i = 0; i < rows; ++i) {
    T t = T(0);
    LIPFLOW_TRY(kernels::dot<T>(cols, w + i * cols, 1, v, 1, &t));
    sigma += u[i] * t;
  }
  sigma_ = sigma;
  const V s(sigma);
  simd::map<T>(rows * cols, w, this->weight().value, [s](V x) { return x / s; });
  this->forwarded_ = true;
  return Status::success();
}

template <class T>
Status SpectralNorm<T>::after_backward() noexcept {
  using V = simd::Vec<T>;
  LIPFLOW_TRY(this->check_bound("spectral_norm.after_backward"));
  if (!this->forwarded_) return Status(Code::not_bound, "spectral_norm.after_backward: no before_forward() yet");
  const std::size_t rows = this->rows(), cols = this->cols();
  T* dw = this->weight().grad;
  T* u = uv_.data;
  T* v = uv_.data + rows;
  T c = T(0);
  LIPFLOW_TRY(kernels::dot<T>(rows * cols, dw, 1, orig_.value.data, 1, &c));
  const T grad_sigma = -(c / (sigma_ * sigma_));  // dL/dsigma through W = W_orig / sigma
  const V s(sigma_), zero(T(0));
  for (std::size_t i = 0; i < rows; ++i) {
    // grad_orig_i += dW_i / sigma + (dL/dsigma u_i) v, and dW_i = 0, in one pass over (grad, dW, v).
    const V a(grad_sigma * u[i]);
    T* const arrays[] = {orig_.grad.data + i * cols, dw + i * cols, v};
    simd::update_arrays<T>(cols, arrays, 1u | 2u, [&](V(&x)[3]) {
      x[0] = x[0] + (x[1] / s + a * x[2]);
      x[1] = zero;
    });
  }
  return Status::success();
}

template class SpectralNorm<float>;
template class SpectralNorm<double>;

}  // namespace optim
}  // namespace lipflow
