// The row-wise normalizations of lipflow/nn/norm.hpp: LayerNorm, RMSNorm and CenterNorm. A row is a
// sample of shape (features) or one token of a (tokens, width) sample; rows are contiguous.
#include <cmath>

#include "lipflow/core/kernels.hpp"
#include "lipflow/nn/norm.hpp"
#include "nn/norm_common.hpp"

namespace lipflow {
namespace nn {

using namespace norm_detail;

// ================================================================ LayerNorm (PAPER.md 6.3.1)

template <class T>
Status LayerNorm<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept {
  LIPFLOW_TRY(check_eps("layer_norm.plan: eps (must be finite and > 0)", eps_));
  LIPFLOW_TRY(check_row_input("layer_norm.plan: out", "layer_norm.plan: input rank (features or tokens x width)",
                              "layer_norm.plan: max_batch", in, max_batch, out, &tokens_, &width_));
  if (affine_)
    LIPFLOW_TRY(plan_affine<T>(plan, width_, "layer_norm.gamma", gamma_, "layer_norm.beta", &beta_));
  const std::size_t rows = max_batch * tokens_;
  LIPFLOW_TRY(mean_.plan(plan, "layer_norm.mean", MemoryKind::activations, rows));
  LIPFLOW_TRY(rstd_.plan(plan, "layer_norm.rstd", MemoryKind::activations, rows));
  LIPFLOW_TRY(plan.request_workspace(2 * width_ * sizeof(T)));  // xhat and gamma * dy of one row
  this->set_planned(in, in, max_batch);
  *out = in;
  return Status::success();
}

template <class T>
Status LayerNorm<T>::bind(const Arena& arena) noexcept {
  if (affine_) {
    LIPFLOW_TRY(gamma_.bind(arena));
    LIPFLOW_TRY(beta_.bind(arena));
  }
  LIPFLOW_TRY(mean_.bind(arena));
  LIPFLOW_TRY(rstd_.bind(arena));
  LIPFLOW_TRY(work_.bind(arena));
  if (work_.size < 2 * width_)
    return Status(Code::buffer_too_small, "layer_norm.bind: workspace", (long long)work_.size, (long long)(2 * width_));
  last_batch_ = 0;
  this->bound_ = true;
  return Status::success();
}

template <class T>
Status LayerNorm<T>::init(Rng& /*rng*/) noexcept {
  if (!this->bound_) return Status(Code::not_bound, "layer_norm.init");
  return affine_ ? init_affine<T>(gamma_, &beta_) : Status::success();
}

// Per row, while it is in L1: the statistics (simd::mean_var, as kernels::mean_var_rows: the same
// bits), then y = gamma (x - mean) rstd + beta.
template <class T>
Status LayerNorm<T>::forward(const T* x, std::size_t batch, T* y) noexcept {
  LIPFLOW_TRY(this->check_run("layer_norm.forward", batch, x, y));
  const std::size_t rows = batch * tokens_, d = width_;
  const T eps = static_cast<T>(eps_);
  const T* g = affine_ ? gamma_.value.data : nullptr;
  const T* b = affine_ ? beta_.value.data : nullptr;
  for (std::size_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    T mu = T(0), var = T(0);
    simd::mean_var(d, xr, &mu, &var);
    const T rs = T(1) / std::sqrt(var + eps);
    mean_.data[r] = mu;
    rstd_.data[r] = rs;
    T* yr = y + r * d;
    standardize<T>(d, xr, mu, rs, yr);
    if (affine_)
      for (std::size_t i = 0; i < d; ++i) yr[i] = g[i] * yr[i] + b[i];
  }
  last_batch_ = batch;
  return Status::success();
}

// Per row: xhat from the cached statistics; dgamma += dy * xhat; dbeta += the column sums of dy;
// dx = rstd (h - mean(h) - xhat mean(xhat h)) with h = gamma * dy.
template <class T>
Status LayerNorm<T>::backward(const T* x, const T* /*y*/, const T* dy, std::size_t batch, T* dx) noexcept {
  LIPFLOW_TRY(this->check_run("layer_norm.backward", batch, x, dy));
  LIPFLOW_TRY(check_last_forward("layer_norm.backward: batch (must be that of the last forward)", batch, last_batch_));
  const std::size_t rows = batch * tokens_, d = width_;
  if (affine_) LIPFLOW_TRY(kernels::add_column_sums<T>(rows, d, dy, d, beta_.grad.data));  // before dx is written
  T* xhat = work_.data;
  T* h = work_.data + d;
  for (std::size_t r = 0; r < rows; ++r) {
    const T* dyr = dy + r * d;
    standardize<T>(d, x + r * d, mean_.data[r], rstd_.data[r], xhat);
    const T* v = dyr;
    if (affine_) {
      const T* g = gamma_.value.data;
      T* dg = gamma_.grad.data;
      for (std::size_t i = 0; i < d; ++i) {
        dg[i] += dyr[i] * xhat[i];
        h[i] = g[i] * dyr[i];
      }
      v = h;
    }
    if (dx != nullptr) LIPFLOW_TRY(project_standardized<T>(d, xhat, v, rstd_.data[r], dx + r * d));
  }
  return Status::success();
}

// Per row: dy = gamma * rstd (v - mean(v) - xhat mean(xhat v)).
template <class T>
Status LayerNorm<T>::jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept {
  LIPFLOW_TRY(this->check_run("layer_norm.jvp", batch, x, dx));
  if (dy == nullptr) return Status(Code::null_pointer, "layer_norm.jvp: dy");
  LIPFLOW_TRY(check_last_forward("layer_norm.jvp: batch (must be that of the last forward)", batch, last_batch_));
  const std::size_t rows = batch * tokens_, d = width_;
  T* xhat = work_.data;
  for (std::size_t r = 0; r < rows; ++r) {
    T* dyr = dy + r * d;
    standardize<T>(d, x + r * d, mean_.data[r], rstd_.data[r], xhat);
    LIPFLOW_TRY(project_standardized<T>(d, xhat, dx + r * d, rstd_.data[r], dyr));
    if (affine_)
      for (std::size_t i = 0; i < d; ++i) dyr[i] *= gamma_.value.data[i];
  }
  return Status::success();
}

template <class T>
Lipschitz LayerNorm<T>::lipschitz() noexcept {
  if (!this->bound_) return Lipschitz();
  // The worst row has the largest rstd = 1 / sqrt(var + eps), i.e. the smallest variance.
  return rstd_bound<T>(affine_, gamma_, eps_, last_batch_ * tokens_, rstd_.data,
                       "local max|gamma|/sqrt(min_row var + eps); global max|gamma|/sqrt(eps)");
}

template <class T>
Param<T> LayerNorm<T>::param(std::size_t i) const noexcept {
  return affine_param<T>(affine_, gamma_, &beta_, i);
}

template class LayerNorm<float>;
template class LayerNorm<double>;

// ================================================================ RMSNorm (PAPER.md 6.3.2)

template <class T>
Status RMSNorm<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept {
  LIPFLOW_TRY(check_eps("rms_norm.plan: eps (must be finite and > 0)", eps_));
  LIPFLOW_TRY(check_row_input("rms_norm.plan: out", "rms_norm.plan: input rank (features or tokens x width)",
                              "rms_norm.plan: max_batch", in, max_batch, out, &tokens_, &width_));
  if (affine_) LIPFLOW_TRY(plan_affine<T>(plan, width_, "rms_norm.gain", gain_, nullptr, nullptr));
  LIPFLOW_TRY(rrms_.plan(plan, "rms_norm.rrms", MemoryKind::activations, max_batch * tokens_));
  LIPFLOW_TRY(plan.request_workspace(2 * width_ * sizeof(T)));  // z and g * dy of one row
  this->set_planned(in, in, max_batch);
  *out = in;
  return Status::success();
}

template <class T>
Status RMSNorm<T>::bind(const Arena& arena) noexcept {
  if (affine_) LIPFLOW_TRY(gain_.bind(arena));
  LIPFLOW_TRY(rrms_.bind(arena));
  LIPFLOW_TRY(work_.bind(arena));
  if (work_.size < 2 * width_)
    return Status(Code::buffer_too_small, "rms_norm.bind: workspace", (long long)work_.size, (long long)(2 * width_));
  last_batch_ = 0;
  this->bound_ = true;
  return Status::success();
}

template <class T>
Status RMSNorm<T>::init(Rng& /*rng*/) noexcept {
  if (!this->bound_) return Status(Code::not_bound, "rms_norm.init");
  return affine_ ? init_affine<T>(gain_, nullptr) : Status::success();
}

// r = 1 / sqrt(sum(x^2) / D + eps) per row (one pass), then y = g * x * r (one pass).
template <class T>
Status RMSNorm<T>::forward(const T* x, std::size_t batch, T* y) noexcept {
  LIPFLOW_TRY(this->check_run("rms_norm.forward", batch, x, y));
  const std::size_t rows = batch * tokens_, d = width_;
  const T inv_d = T(1) / static_cast<T>(d), eps = static_cast<T>(eps_);
  for (std::size_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    T ss = T(0);
    LIPFLOW_TRY(kernels::sum_squares<T>(d, xr, 1, &ss));
    const T rr = T(1) / std::sqrt(ss * inv_d + eps);
    rrms_.data[r] = rr;
    if (affine_)
      for (std::size_t i = 0; i < d; ++i) yr[i] = gain_.value.data[i] * (xr[i] * rr);
    else
      for (std::size_t i = 0; i < d; ++i) yr[i] = xr[i] * rr;
  }
  last_batch_ = batch;
  return Status::success();
}

// Per row, with z = x r: dg += dy * z; dx = r (h - z (z . h) / D), h = g * dy (the Jacobian is
// diag(g) r (I - z z^T / D); the bracket is symmetric).
template <class T>
Status RMSNorm<T>::backward(const T* x, const T* /*y*/, const T* dy, std::size_t batch, T* dx) noexcept {
  LIPFLOW_TRY(this->check_run("rms_norm.backward", batch, x, dy));
  LIPFLOW_TRY(check_last_forward("rms_norm.backward: batch (must be that of the last forward)", batch, last_batch_));
  const std::size_t rows = batch * tokens_, d = width_;
  const T inv_d = T(1) / static_cast<T>(d);
  T* z = work_.data;
  T* h = work_.data + d;
  for (std::size_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    const T* dyr = dy + r * d;
    const T rr = rrms_.data[r];
    for (std::size_t i = 0; i < d; ++i) z[i] = xr[i] * rr;
    const T* v = dyr;
    if (affine_) {
      for (std::size_t i = 0; i < d; ++i) {
        gain_.grad.data[i] += dyr[i] * z[i];
        h[i] = gain_.value.data[i] * dyr[i];
      }
      v = h;
    }
    if (dx == nullptr) continue;
    T zv = T(0);
    LIPFLOW_TRY(kernels::dot<T>(d, z, 1, v, 1, &zv));
    const T c = zv * inv_d;
    T* dxr = dx + r * d;
    for (std::size_t i = 0; i < d; ++i) dxr[i] = rr * (v[i] - z[i] * c);
  }
  return Status::success();
}

// Per row: dy = g * r (v - z (z . v) / D).
template <class T>
Status RMSNorm<T>::jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept {
  LIPFLOW_TRY(this->check_run("rms_norm.jvp", batch, x, dx));
  if (dy == nullptr) return Status(Code::null_pointer, "rms_norm.jvp: dy");
  LIPFLOW_TRY(check_last_forward("rms_norm.jvp: batch (must be that of the last forward)", batch, last_batch_));
  const std::size_t rows = batch * tokens_, d = width_;
  const T inv_d = T(1) / static_cast<T>(d);
  T* z = work_.data;
  for (std::size_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    const T* vr = dx + r * d;
    T* dyr = dy + r * d;
    const T rr = rrms_.data[r];
    for (std::size_t i = 0; i < d; ++i) z[i] = xr[i] * rr;
    T zv = T(0);
    LIPFLOW_TRY(kernels::dot<T>(d, z, 1, vr, 1, &zv));
    const T c = zv * inv_d;
    for (std::size_t i = 0; i < d; ++i) dyr[i] = rr * (vr[i] - z[i] * c);
    if (affine_)
      for (std::size_t i = 0; i < d; ++i) dyr[i] *= gain_.value.data[i];
  }
  return Status::success();
}

template <class T>
Lipschitz RMSNorm<T>::lipschitz() noexcept {
  if (!this->bound_) return Lipschitz();
  return rstd_bound<T>(affine_, gain_, eps_, last_batch_ * tokens_, rrms_.data,
                       "local max|g|/sqrt(min_row mean(x^2) + eps); global max|g|/sqrt(eps)");
}

template <class T>
Param<T> RMSNorm<T>::param(std::size_t i) const noexcept {
  return affine_param<T>(affine_, gain_, nullptr, i);
}

template class RMSNorm<float>;
template class RMSNorm<double>;

// ================================================================ CenterNorm (PAPER.md 6.3.3)

template <class T>
Status CenterNorm<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept {
  LIPFLOW_TRY(check_row_input("center_norm.plan: out", "center_norm.plan: input rank (features or tokens x width)",
                              "center_norm.plan: max_batch", in, max_batch, out, &tokens_, &width_));
  if (width_ < 2) return shape_error("center_norm.plan: width D (D/(D-1) needs D >= 2)", width_, 2);
  if (affine_)
    LIPFLOW_TRY(plan_affine<T>(plan, width_, "center_norm.gamma", gamma_, "center_norm.beta", &beta_));
  LIPFLOW_TRY(plan.request_workspace(width_ * sizeof(T)));  // gamma * dy of one row
  this->set_planned(in, in, max_batch);
  *out = in;
  return Status::success();
}

template <class T>
Status CenterNorm<T>::bind(const Arena& arena) noexcept {
  if (affine_) {
    LIPFLOW_TRY(gamma_.bind(arena));
    LIPFLOW_TRY(beta_.bind(arena));
  }
  LIPFLOW_TRY(work_.bind(arena));
  if (work_.size < width_)
    return Status(Code::buffer_too_small, "center_norm.bind: workspace", (long long)work_.size, (long long)width_);
  this->bound_ = true;
  return Status::success();
}

template <class T>
Status CenterNorm<T>::init(Rng& /*rng*/) noexcept {
  if (!this->bound_) return Status(Code::not_bound, "center_norm.init");
  return affine_ ? init_affine<T>(gamma_, &beta_) : Status::success();
}

// Per row: mu = sum(x) / D (one pass), y = gamma * D/(D-1) * (x - mu) + beta (one pass).
template <class T>
Status CenterNorm<T>::forward(const T* x, std::size_t batch, T* y) noexcept {
  LIPFLOW_TRY(this->check_run("center_norm.forward", batch, x, y));
  const std::size_t rows = batch * tokens_, d = width_;
  const T inv_d = T(1) / static_cast<T>(d), scale = static_cast<T>(d) / static_cast<T>(d - 1);
  for (std::size_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    T s = T(0);
    LIPFLOW_TRY(kernels::sum<T>(d, xr, 1, &s));
    const T mu = s * inv_d;
    if (affine_)
      for (std::size_t i = 0; i < d; ++i) yr[i] = gamma_.value.data[i] * (scale * (xr[i] - mu)) + beta_.value.data[i];
    else
      for (std::size_t i = 0; i < d; ++i) yr[i] = scale * (xr[i] - mu);
  }
  return Status::success();
}

// Per row: dgamma += dy * D/(D-1) (x - mu); dbeta += the column sums of dy; dx = D/(D-1) (h - mean(h)), h = gamma * dy.
// The map is linear in x, so nothing from the forward is needed: the row means are re-read from x.
template <class T>
Status CenterNorm<T>::backward(const T* x, const T* /*y*/, const T* dy, std::size_t batch, T* dx) noexcept {
  LIPFLOW_TRY(this->check_run("center_norm.backward", batch, x, dy));
  const std::size_t rows = batch * tokens_, d = width_;
  const T inv_d = T(1) / static_cast<T>(d), scale = static_cast<T>(d) / static_cast<T>(d - 1);
  if (affine_) LIPFLOW_TRY(kernels::add_column_sums<T>(rows, d, dy, d, beta_.grad.data));  // before dx is written
  T* h = work_.data;
  for (std::size_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    const T* dyr = dy + r * d;
    const T* v = dyr;
    if (affine_) {
      T s = T(0);
      LIPFLOW_TRY(kernels::sum<T>(d, xr, 1, &s));
      const T mu = s * inv_d;
      for (std::size_t i = 0; i < d; ++i) {
        gamma_.grad.data[i] += dyr[i] * (scale * (xr[i] - mu));
        h[i] = gamma_.value.data[i] * dyr[i];
      }
      v = h;
    }
    if (dx == nullptr) continue;
    T s = T(0);
    LIPFLOW_TRY(kernels::sum<T>(d, v, 1, &s));
    const T mv = s * inv_d;
    T* dxr = dx + r * d;
    for (std::size_t i = 0; i < d; ++i) dxr[i] = scale * (v[i] - mv);
  }
  return Status::success();
}

// Per row: dy = gamma * D/(D-1) (v - mean(v)).
template <class T>
Status CenterNorm<T>::jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept {
  LIPFLOW_TRY(this->check_run("center_norm.jvp", batch, x, dx));
  if (dy == nullptr) return Status(Code::null_pointer, "center_norm.jvp: dy");
  const std::size_t rows = batch * tokens_, d = width_;
  const T inv_d = T(1) / static_cast<T>(d), scale = static_cast<T>(d) / static_cast<T>(d - 1);
  for (std::size_t r = 0; r < rows; ++r) {
    const T* vr = dx + r * d;
    T* dyr = dy + r * d;
    T s = T(0);
    LIPFLOW_TRY(kernels::sum<T>(d, vr, 1, &s));
    const T mv = s * inv_d;
    if (affine_)
      for (std::size_t i = 0; i < d; ++i) dyr[i] = gamma_.value.data[i] * (scale * (vr[i] - mv));
    else
      for (std::size_t i = 0; i < d; ++i) dyr[i] = scale * (vr[i] - mv);
  }
  return Status::success();
}

template <class T>
Lipschitz CenterNorm<T>::lipschitz() noexcept {
  Lipschitz l;
  if (!this->bound_) return l;
  const double d = static_cast<double>(width_);
  l.scope = Scope::global;
  l.global = l.local = d / (d - 1.0) * max_abs_gain<T>(affine_, gamma_);
  l.formula = "D/(D-1) max|gamma|";
  return l;
}

template <class T>
Param<T> CenterNorm<T>::param(std::size_t i) const noexcept {
  return affine_param<T>(affine_, gamma_, &beta_, i);
}

template class CenterNorm<float>;
template class CenterNorm<double>;

}  // namespace nn
}  // namespace lipflow
