#include "lipflow/nn/linear.hpp"

#include <algorithm>
#include <cmath>

namespace lipflow {
namespace nn {

using kernels::Trans;

template <class T>
Status Linear<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "linear.plan: out");
  if (!in.valid()) return shape_error("linear.plan: input shape (rank 1-3, extents > 0)", in.rank, 1);
  if (options_.out == 0) return Status(Code::invalid_argument, "linear: out features", 0, 1);
  if (max_batch == 0) return Status(Code::invalid_argument, "linear.plan: max_batch", 0, 1);
  in_f_ = in.last();
  Shape o = in;
  o.dims[o.rank - 1] = options_.out;
  LIPFLOW_TRY(w_.plan(plan, "linear.weight", options_.out, in_f_, kParamDecay));
  if (options_.bias) LIPFLOW_TRY(b_.plan(plan, "linear.bias", 1, options_.out, kParamBias));
  LIPFLOW_TRY(power_.plan(plan, "linear.power_iteration", MemoryKind::scratch, in_f_ + options_.out));
  const std::size_t r = max_batch * (in.size() / in_f_);
  const std::size_t ws = std::max({kernels::gemm_workspace<T>(r, options_.out, in_f_),
                                   kernels::gemm_workspace<T>(r, in_f_, options_.out),
                                   kernels::gemm_workspace<T>(options_.out, in_f_, r)});
  LIPFLOW_TRY(plan.request_workspace(ws * sizeof(T)));
  this->set_planned(in, o, max_batch);
  *out = o;
  return Status::success();
}

template <class T>
Status Linear<T>::bind(const Arena& arena) noexcept {
  LIPFLOW_TRY(w_.bind(arena));
  if (options_.bias) LIPFLOW_TRY(b_.bind(arena));
  LIPFLOW_TRY(power_.bind(arena));
  LIPFLOW_TRY(work_.bind(arena));
  LIPFLOW_TRY(kernels::fill<T>(power_.size, T(0), power_.data, 1));  // cold start on first use
  this->bound_ = true;
  return Status::success();
}

template <class T>
Status Linear<T>::init(Rng& rng) noexcept {
  if (!this->bound_) return Status(Code::not_bound, "linear.init");
  LIPFLOW_TRY(init_weight<T>(options_.init, w_.value.data, options_.out, in_f_, rng, power_.data));
  if (options_.bias) LIPFLOW_TRY(init_bias<T>(b_.value.data, options_.out, in_f_, rng));
  return kernels::fill<T>(power_.size, T(0), power_.data, 1);
}

template <class T>
Status Linear<T>::forward(const T* x, std::size_t batch, T* y) noexcept {
  LIPFLOW_TRY(this->check_run("linear.forward", batch, x, y));
  const std::size_t r = rows(batch), o = options_.out;
  T beta = T(0);
  if (options_.bias) {  // y = bias rows, then y += x W^T
    LIPFLOW_TRY(kernels::broadcast_row<T>(r, o, b_.value.data, y, o));
    beta = T(1);
  }
  return kernels::gemm<T>(Trans::no, Trans::yes, r, o, in_f_, T(1), x, in_f_, w_.value.data, in_f_, beta, y, o,
                          work_.data, work_.size);
}

template <class T>
Status Linear<T>::backward(const T* x, const T* /*y*/, const T* dy, std::size_t batch, T* dx) noexcept {
  LIPFLOW_TRY(this->check_run("linear.backward", batch, x, dy));
  const std::size_t r = rows(batch), o = options_.out;
  if (dx != nullptr)
    LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::no, r, in_f_, o, T(1), dy, o, w_.value.data, in_f_, T(0), dx,
                                 in_f_, work_.data, work_.size));
  LIPFLOW_TRY(kernels::gemm<T>(Trans::yes, Trans::no, o, in_f_, r, T(1), dy, o, x, in_f_, T(1), w_.grad.data, in_f_,
                               work_.data, work_.size));
  if (options_.bias) LIPFLOW_TRY(kernels::add_column_sums<T>(r, o, dy, o, b_.grad.data));
  return Status::success();
}

template <class T>
Status Linear<T>::jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept {
  LIPFLOW_TRY(this->check_run("linear.jvp", batch, x, dx));
  if (dy == nullptr) return Status(Code::null_pointer, "linear.jvp: dy");
  return kernels::gemm<T>(Trans::no, Trans::yes, rows(batch), options_.out, in_f_, T(1), dx, in_f_, w_.value.data,
                          in_f_, T(0), dy, options_.out, work_.data, work_.size);
}

template <class T>
Lipschitz Linear<T>::lipschitz() noexcept {
  Lipschitz l;
  if (!this->bound_) return l;
  const double tol = sizeof(T) == sizeof(float) ? 1e-6 : 1e-10;
  T* v = power_.data;
  T* u = power_.data + in_f_;
  Status s = spectral_norm<T>(w_.value.data, options_.out, in_f_, in_f_, v, u, 1000, tol, &estimate_);
  l.scope = Scope::global;
  if (s.ok() && estimate_.converged) {
    l.global = l.local = estimate_.sigma;
    l.formula = "sigma_max(W)";
  } else {
    T f = T(0);
    (void)kernels::norm<T>(kernels::Norm::l2, w_.value.size, w_.value.data, 1, &f);
    l.global = l.local = static_cast<double>(f);
    l.formula = "||W||_F (power iteration did not converge)";
  }
  return l;
}

template <class T>
Param<T> Linear<T>::param(std::size_t i) const noexcept {
  if (i == 0) return w_.param;
  if (i == 1 && options_.bias) return b_.param;
  return Param<T>();
}

template class Linear<float>;
template class Linear<double>;

}  // namespace nn
}  // namespace lipflow
