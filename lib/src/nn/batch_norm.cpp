// BatchNorm of lipflow/nn/norm.hpp (PAPER.md 6.3.4). The n = batch * H * W values of one channel are
// strided in the batch-major layout; each channel is gathered into the workspace (copy kernels),
// normalized there as one contiguous vector, and scattered back.
#include <cmath>

#include "lipflow/core/kernels.hpp"
#include "lipflow/nn/norm.hpp"
#include "nn/norm_common.hpp"

namespace lipflow {
namespace nn {

using namespace norm_detail;

template <class T>
Status BatchNorm<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept {
  LIPFLOW_TRY(check_eps("batch_norm.plan: eps (must be finite and > 0)", eps_));
  if (!(momentum_ >= 0.0 && momentum_ <= 1.0))
    return Status::real(Code::invalid_argument, "batch_norm.plan: momentum (must be in [0, 1])", momentum_);
  if (out == nullptr) return Status(Code::null_pointer, "batch_norm.plan: out");
  if (!in.valid() || in.rank == 2)
    return shape_error("batch_norm.plan: input rank (features or C x H x W)", static_cast<std::size_t>(in.rank), 3);
  if (max_batch == 0) return Status(Code::invalid_argument, "batch_norm.plan: max_batch", 0, 1);
  channels_ = in.dims[0];
  spatial_ = in.rank == 3 ? in.dims[1] * in.dims[2] : 1;
  if (affine_)
    LIPFLOW_TRY(plan_affine<T>(plan, channels_, "batch_norm.gamma", gamma_, "batch_norm.beta", &beta_));
  LIPFLOW_TRY(running_mean_.plan(plan, "batch_norm.running_mean", MemoryKind::activations, channels_));
  LIPFLOW_TRY(running_var_.plan(plan, "batch_norm.running_var", MemoryKind::activations, channels_));
  LIPFLOW_TRY(mean_.plan(plan, "batch_norm.mean", MemoryKind::activations, channels_));
  LIPFLOW_TRY(rstd_.plan(plan, "batch_norm.rstd", MemoryKind::activations, channels_));
  LIPFLOW_TRY(plan.request_workspace(2 * max_batch * spatial_ * sizeof(T)));  // two gathered channels
  this->set_planned(in, in, max_batch);
  *out = in;
  return Status::success();
}

template <class T>
Status BatchNorm<T>::bind(const Arena& arena) noexcept {
  if (affine_) {
    LIPFLOW_TRY(gamma_.bind(arena));
    LIPFLOW_TRY(beta_.bind(arena));
  }
  LIPFLOW_TRY(running_mean_.bind(arena));
  LIPFLOW_TRY(running_var_.bind(arena));
  LIPFLOW_TRY(mean_.bind(arena));
  LIPFLOW_TRY(rstd_.bind(arena));
  LIPFLOW_TRY(work_.bind(arena));
  const std::size_t need = 2 * this->max_batch_ * spatial_;
  if (work_.size < need)
    return Status(Code::buffer_too_small, "batch_norm.bind: workspace", (long long)work_.size, (long long)need);
  // Running statistics start at PyTorch's values even if init() is not called.
  LIPFLOW_TRY(kernels::fill<T>(channels_, T(0), running_mean_.data, 1));
  LIPFLOW_TRY(kernels::fill<T>(channels_, T(1), running_var_.data, 1));
  last_batch_ = 0;
  this->bound_ = true;
  return Status::success();
}

template <class T>
Status BatchNorm<T>::init(Rng& /*rng*/) noexcept {
  if (!this->bound_) return Status(Code::not_bound, "batch_norm.init");
  if (affine_) LIPFLOW_TRY(init_affine<T>(gamma_, &beta_));
  LIPFLOW_TRY(kernels::fill<T>(channels_, T(0), running_mean_.data, 1));
  LIPFLOW_TRY(kernels::fill<T>(channels_, T(1), running_var_.data, 1));
  last_batch_ = 0;
  return Status::success();
}

// Channel c of sample b is the contiguous block x[(b C + c) S .. + S), S = H W.
template <class T>
Status BatchNorm<T>::gather(const T* x, std::size_t c, std::size_t batch, T* out) const noexcept {
  const std::size_t s = spatial_, cs = channels_ * spatial_;
  if (s == 1) return kernels::copy<T>(batch, x + c, static_cast<std::ptrdiff_t>(channels_), out, 1);
  for (std::size_t b = 0; b < batch; ++b) LIPFLOW_TRY(kernels::copy<T>(s, x + b * cs + c * s, 1, out + b * s, 1));
  return Status::success();
}

template <class T>
Status BatchNorm<T>::scatter(const T* in, std::size_t c, std::size_t batch, T* y) const noexcept {
  const std::size_t s = spatial_, cs = channels_ * spatial_;
  if (s == 1) return kernels::copy<T>(batch, in, 1, y + c, static_cast<std::ptrdiff_t>(channels_));
  for (std::size_t b = 0; b < batch; ++b) LIPFLOW_TRY(kernels::copy<T>(s, in + b * s, 1, y + b * cs + c * s, 1));
  return Status::success();
}

// Per channel: gather (one pass), statistics (two passes, training only), normalize and scatter.
template <class T>
Status BatchNorm<T>::forward(const T* x, std::size_t batch, T* y) noexcept {
  LIPFLOW_TRY(this->check_run("batch_norm.forward", batch, x, y));
  const std::size_t n = batch * spatial_;
  if (training_ && n < 2)
    return Status(Code::invalid_argument, "batch_norm.forward: values per channel in training (batch * H * W)",
                  static_cast<long long>(n), 2);
  const T eps = static_cast<T>(eps_), mom = static_cast<T>(momentum_);
  const T unbias = n > 1 ? static_cast<T>(n) / static_cast<T>(n - 1) : T(1);
  T* u = work_.data;
  for (std::size_t c = 0; c < channels_; ++c) {
    LIPFLOW_TRY(gather(x, c, batch, u));
    T m = T(0), rs = T(0);
    if (training_) {
      T v = T(0);
      LIPFLOW_TRY(kernels::mean_var_rows<T>(1, n, u, n, &m, &v));
      rs = T(1) / std::sqrt(v + eps);
      running_mean_.data[c] = (T(1) - mom) * running_mean_.data[c] + mom * m;
      running_var_.data[c] = (T(1) - mom) * running_var_.data[c] + mom * (v * unbias);
    } else {
      m = running_mean_.data[c];
      rs = T(1) / std::sqrt(running_var_.data[c] + eps);
    }
    mean_.data[c] = m;
    rstd_.data[c] = rs;
    standardize<T>(n, u, m, rs, u);
    if (affine_) {
      const T g = gamma_.value.data[c], b = beta_.value.data[c];
      for (std::size_t i = 0; i < n; ++i) u[i] = g * u[i] + b;
    }
    LIPFLOW_TRY(scatter(u, c, batch, y));
  }
  last_training_ = training_;
  last_batch_ = batch;
  return Status::success();
}

// Per channel: dgamma_c += dy . xhat, dbeta_c += sum(dy);
//   training: dx = rstd (h - mean(h) - xhat mean(xhat h)) with h = gamma_c dy (couples the batch);
//   evaluation: dx = gamma_c rstd dy.
template <class T>
Status BatchNorm<T>::backward(const T* x, const T* /*y*/, const T* dy, std::size_t batch, T* dx) noexcept {
  LIPFLOW_TRY(this->check_run("batch_norm.backward", batch, x, dy));
  LIPFLOW_TRY(check_last_forward("batch_norm.backward: batch (must be that of the last forward)", batch, last_batch_));
  const std::size_t n = batch * spatial_;
  T* xhat = work_.data;
  T* h = work_.data + n;
  for (std::size_t c = 0; c < channels_; ++c) {
    const T rs = rstd_.data[c];
    LIPFLOW_TRY(gather(dy, c, batch, h));
    if (affine_ || last_training_) {
      LIPFLOW_TRY(gather(x, c, batch, xhat));
      standardize<T>(n, xhat, mean_.data[c], rs, xhat);
    }
    if (affine_) {
      T d = T(0), s = T(0);
      LIPFLOW_TRY(kernels::dot<T>(n, h, 1, xhat, 1, &d));
      LIPFLOW_TRY(kernels::sum<T>(n, h, 1, &s));
      gamma_.grad.data[c] += d;
      beta_.grad.data[c] += s;
    }
    if (dx == nullptr) continue;
    const T g = affine_ ? gamma_.value.data[c] : T(1);
    if (last_training_) {
      LIPFLOW_TRY(kernels::scale<T>(n, g, h, 1));
      LIPFLOW_TRY(project_standardized<T>(n, xhat, h, rs, h));
    } else {
      LIPFLOW_TRY(kernels::scale<T>(n, g * rs, h, 1));
    }
    LIPFLOW_TRY(scatter(h, c, batch, dx));
  }
  return Status::success();
}

// Per channel: training dy = gamma_c rstd (v - mean(v) - xhat mean(xhat v)); evaluation gamma_c rstd v.
template <class T>
Status BatchNorm<T>::jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept {
  LIPFLOW_TRY(this->check_run("batch_norm.jvp", batch, x, dx));
  if (dy == nullptr) return Status(Code::null_pointer, "batch_norm.jvp: dy");
  LIPFLOW_TRY(check_last_forward("batch_norm.jvp: batch (must be that of the last forward)", batch, last_batch_));
  const std::size_t n = batch * spatial_;
  T* xhat = work_.data;
  T* v = work_.data + n;
  for (std::size_t c = 0; c < channels_; ++c) {
    const T rs = rstd_.data[c];
    const T g = affine_ ? gamma_.value.data[c] : T(1);
    LIPFLOW_TRY(gather(dx, c, batch, v));
    if (last_training_) {
      LIPFLOW_TRY(gather(x, c, batch, xhat));
      standardize<T>(n, xhat, mean_.data[c], rs, xhat);
      LIPFLOW_TRY(project_standardized<T>(n, xhat, v, rs, v));
      LIPFLOW_TRY(kernels::scale<T>(n, g, v, 1));
    } else {
      LIPFLOW_TRY(kernels::scale<T>(n, g * rs, v, 1));
    }
    LIPFLOW_TRY(scatter(v, c, batch, dy));
  }
  return Status::success();
}

template <class T>
Lipschitz BatchNorm<T>::lipschitz() noexcept {
  Lipschitz l;
  if (!this->bound_) return l;
  // max_c |gamma_c| rstd_c, with the running or the last batch's rstd (NaN when any term is NaN).
  auto worst_channel = [this](bool running) {
    double worst = 0.0;
    for (std::size_t c = 0; c < channels_; ++c) {
      const double g = affine_ ? std::fabs(static_cast<double>(gamma_.value.data[c])) : 1.0;
      const double rs = running ? 1.0 / std::sqrt(static_cast<double>(running_var_.data[c]) + eps_)
                                : static_cast<double>(rstd_.data[c]);
      const double v = g * rs;
      if (std::isnan(v)) return static_cast<double>(NAN);
      if (v > worst) worst = v;
    }
    return worst;
  };
  if (!training_) {  // evaluation: the affine map diag(gamma_c rstd_c), the same for every input
    l.scope = Scope::global;
    l.global = l.local = worst_channel(true);
    l.formula = "max_c |gamma_c|/sqrt(running_var_c + eps)";
    return l;
  }
  l.scope = Scope::local;
  l.global = max_abs_gain<T>(affine_, gamma_) / std::sqrt(eps_);
  l.local = (last_batch_ != 0 && last_training_) ? worst_channel(false) : l.global;
  l.formula = "local max_c |gamma_c|/sqrt(batch var_c + eps); global max|gamma|/sqrt(eps)";
  return l;
}

template <class T>
Param<T> BatchNorm<T>::param(std::size_t i) const noexcept {
  return affine_param<T>(affine_, gamma_, &beta_, i);
}

template class BatchNorm<float>;
template class BatchNorm<double>;

}  // namespace nn
}  // namespace lipflow
