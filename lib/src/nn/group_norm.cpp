// GroupNorm (and InstanceNorm) of lipflow/nn/norm.hpp (PAPER.md 6.3.4). In the batch-major (C, H, W)
// layout a group of C/G consecutive channels is one contiguous block of (C/G) H W values, so the
// groups of a batch are the rows of a (batch G) x ((C/G) H W) matrix.
#include <cmath>

#include "lipflow/core/kernels.hpp"
#include "lipflow/nn/norm.hpp"
#include "nn/norm_common.hpp"

namespace lipflow {
namespace nn {

using namespace norm_detail;

template <class T>
Status GroupNorm<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept {
  LIPFLOW_TRY(check_eps("group_norm.plan: eps (must be finite and > 0)", eps_));
  if (out == nullptr) return Status(Code::null_pointer, "group_norm.plan: out");
  if (!in.valid() || in.rank == 2)
    return shape_error("group_norm.plan: input rank (C or C x H x W)", static_cast<std::size_t>(in.rank), 3);
  if (max_batch == 0) return Status(Code::invalid_argument, "group_norm.plan: max_batch", 0, 1);
  channels_ = in.dims[0];
  spatial_ = in.rank == 3 ? in.dims[1] * in.dims[2] : 1;
  if (instance_) groups_ = channels_;
  if (groups_ == 0 || channels_ % groups_ != 0)
    return Status(Code::invalid_argument, "group_norm.plan: groups (must be > 0 and divide the channels)",
                  static_cast<long long>(groups_), static_cast<long long>(channels_));
  group_size_ = channels_ / groups_ * spatial_;
  if (affine_)
    LIPFLOW_TRY(plan_affine<T>(plan, channels_, "group_norm.gamma", gamma_, "group_norm.beta", &beta_));
  LIPFLOW_TRY(mean_.plan(plan, "group_norm.mean", MemoryKind::activations, max_batch * groups_));
  LIPFLOW_TRY(rstd_.plan(plan, "group_norm.rstd", MemoryKind::activations, max_batch * groups_));
  LIPFLOW_TRY(plan.request_workspace(2 * group_size_ * sizeof(T)));  // xhat and gamma * dy of one group
  this->set_planned(in, in, max_batch);
  *out = in;
  return Status::success();
}

template <class T>
Status GroupNorm<T>::bind(const Arena& arena) noexcept {
  if (affine_) {
    LIPFLOW_TRY(gamma_.bind(arena));
    LIPFLOW_TRY(beta_.bind(arena));
  }
  LIPFLOW_TRY(mean_.bind(arena));
  LIPFLOW_TRY(rstd_.bind(arena));
  LIPFLOW_TRY(work_.bind(arena));
  if (work_.size < 2 * group_size_)
    return Status(Code::buffer_too_small, "group_norm.bind: workspace", (long long)work_.size,
                  (long long)(2 * group_size_));
  last_batch_ = 0;
  this->bound_ = true;
  return Status::success();
}

template <class T>
Status GroupNorm<T>::init(Rng& /*rng*/) noexcept {
  if (!this->bound_) return Status(Code::not_bound, "group_norm.init");
  return affine_ ? init_affine<T>(gamma_, &beta_) : Status::success();
}

// Statistics of every group in one mean_var_rows call (two passes), then one pass for the output.
template <class T>
Status GroupNorm<T>::forward(const T* x, std::size_t batch, T* y) noexcept {
  LIPFLOW_TRY(this->check_run("group_norm.forward", batch, x, y));
  const std::size_t rows = batch * groups_, n = group_size_, s = spatial_, cpg = channels_ / groups_;
  T* mean = mean_.data;
  T* rstd = rstd_.data;
  LIPFLOW_TRY(kernels::mean_var_rows<T>(rows, n, x, n, mean, rstd));
  rstd_in_place<T>(rows, static_cast<T>(eps_), rstd);
  for (std::size_t r = 0; r < rows; ++r) {
    T* yr = y + r * n;
    standardize<T>(n, x + r * n, mean[r], rstd[r], yr);
    if (!affine_) continue;
    const std::size_t c0 = (r % groups_) * cpg;  // first channel of this group
    for (std::size_t k = 0; k < cpg; ++k) {
      const T g = gamma_.value.data[c0 + k], b = beta_.value.data[c0 + k];
      T* yc = yr + k * s;
      for (std::size_t i = 0; i < s; ++i) yc[i] = g * yc[i] + b;
    }
  }
  last_batch_ = batch;
  return Status::success();
}

// Per group: dgamma_c += dy_c . xhat_c, dbeta_c += sum(dy_c) for each channel c of the group;
// dx = rstd (h - mean(h) - xhat mean(xhat h)), h = gamma_c dy over each channel's H W values.
template <class T>
Status GroupNorm<T>::backward(const T* x, const T* /*y*/, const T* dy, std::size_t batch, T* dx) noexcept {
  LIPFLOW_TRY(this->check_run("group_norm.backward", batch, x, dy));
  LIPFLOW_TRY(check_last_forward("group_norm.backward: batch (must be that of the last forward)", batch, last_batch_));
  const std::size_t rows = batch * groups_, n = group_size_, s = spatial_, cpg = channels_ / groups_;
  T* xhat = work_.data;
  T* h = work_.data + n;
  for (std::size_t r = 0; r < rows; ++r) {
    const T* dyr = dy + r * n;
    standardize<T>(n, x + r * n, mean_.data[r], rstd_.data[r], xhat);
    const T* v = dyr;
    if (affine_) {
      const std::size_t c0 = (r % groups_) * cpg;
      for (std::size_t k = 0; k < cpg; ++k) {
        const std::size_t c = c0 + k;
        T d = T(0), sm = T(0);
        LIPFLOW_TRY(kernels::dot<T>(s, dyr + k * s, 1, xhat + k * s, 1, &d));
        LIPFLOW_TRY(kernels::sum<T>(s, dyr + k * s, 1, &sm));
        gamma_.grad.data[c] += d;
        beta_.grad.data[c] += sm;
        LIPFLOW_TRY(kernels::copy<T>(s, dyr + k * s, 1, h + k * s, 1));
        LIPFLOW_TRY(kernels::scale<T>(s, gamma_.value.data[c], h + k * s, 1));
      }
      v = h;
    }
    if (dx != nullptr) LIPFLOW_TRY(project_standardized<T>(n, xhat, v, rstd_.data[r], dx + r * n));
  }
  return Status::success();
}

// Per group: dy = gamma_c rstd (v - mean(v) - xhat mean(xhat v)).
template <class T>
Status GroupNorm<T>::jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept {
  LIPFLOW_TRY(this->check_run("group_norm.jvp", batch, x, dx));
  if (dy == nullptr) return Status(Code::null_pointer, "group_norm.jvp: dy");
  LIPFLOW_TRY(check_last_forward("group_norm.jvp: batch (must be that of the last forward)", batch, last_batch_));
  const std::size_t rows = batch * groups_, n = group_size_, s = spatial_, cpg = channels_ / groups_;
  T* xhat = work_.data;
  for (std::size_t r = 0; r < rows; ++r) {
    T* dyr = dy + r * n;
    standardize<T>(n, x + r * n, mean_.data[r], rstd_.data[r], xhat);
    LIPFLOW_TRY(project_standardized<T>(n, xhat, dx + r * n, rstd_.data[r], dyr));
    if (!affine_) continue;
    const std::size_t c0 = (r % groups_) * cpg;
    for (std::size_t k = 0; k < cpg; ++k) LIPFLOW_TRY(kernels::scale<T>(s, gamma_.value.data[c0 + k], dyr + k * s, 1));
  }
  return Status::success();
}

template <class T>
Lipschitz GroupNorm<T>::lipschitz() noexcept {
  if (!this->bound_) return Lipschitz();
  return rstd_bound<T>(affine_, gamma_, eps_, last_batch_ * groups_, rstd_.data,
                       "local max|gamma|/sqrt(min_group var + eps); global max|gamma|/sqrt(eps)");
}

template <class T>
Param<T> GroupNorm<T>::param(std::size_t i) const noexcept {
  return affine_param<T>(affine_, gamma_, &beta_, i);
}

template class GroupNorm<float>;
template class GroupNorm<double>;

}  // namespace nn
}  // namespace lipflow
