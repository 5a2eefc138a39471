#include "lipflow/nn/residual.hpp"

#include <cmath>

#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace nn {

const char* residual_name(ResidualKind k) noexcept {
  switch (k) {
    case ResidualKind::plain: return "residual";
    case ResidualKind::weighted: return "weighted_residual";
    case ResidualKind::rezero: return "rezero";
    case ResidualKind::layerscale: return "layerscale";
  }
  return "unknown";
}

template <class T>
Status Residual<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "residual.plan: out");
  if (f_ == nullptr) return Status(Code::null_pointer, "residual: f");
  if (static_cast<unsigned>(kind_) > static_cast<unsigned>(ResidualKind::layerscale))
    return Status(Code::invalid_argument, "residual: kind", static_cast<long long>(kind_));
  if (!std::isfinite(alpha_init_)) return Status::real(Code::invalid_argument, "residual: alpha_init (finite)", alpha_init_);
  Shape fo;
  LIPFLOW_TRY(f_->plan(in, max_batch, plan, &fo));
  if (fo != in) return shape_error("residual: f must keep the shape (output size vs input size)", fo.size(), in.size());
  channels_ = in.last();
  if (kind_ != ResidualKind::plain) {
    const std::size_t n = kind_ == ResidualKind::rezero ? 1 : channels_;
    // Shortcut gains are not decayed (they are not weights of a map).
    LIPFLOW_TRY(alpha_.plan(plan, "residual.alpha", 1, n, 0));
  }
  LIPFLOW_TRY(fx_.plan(plan, "residual.f_x", MemoryKind::activations, max_batch * in.size()));
  LIPFLOW_TRY(scratch_.plan(plan, "residual.scratch", MemoryKind::scratch, max_batch * in.size()));
  this->set_planned(in, in, max_batch);
  *out = in;
  return Status::success();
}

template <class T>
Status Residual<T>::bind(const Arena& arena) noexcept {
  LIPFLOW_TRY(f_->bind(arena));
  if (kind_ != ResidualKind::plain) LIPFLOW_TRY(alpha_.bind(arena));
  LIPFLOW_TRY(fx_.bind(arena));
  LIPFLOW_TRY(scratch_.bind(arena));
  this->bound_ = true;
  return Status::success();
}

template <class T>
Status Residual<T>::init(Rng& rng) noexcept {
  if (!this->bound_) return Status(Code::not_bound, "residual.init");
  LIPFLOW_TRY(f_->init(rng));
  if (kind_ != ResidualKind::plain)
    LIPFLOW_TRY(kernels::fill<T>(alpha_.param.size, static_cast<T>(alpha_init_), alpha_.value.data, 1));
  return Status::success();
}

template <class T>
Status Residual<T>::scale_by_alpha(const T* in, std::size_t batch, T* out) const noexcept {
  const std::size_t total = batch * this->in_.size();
  if (kind_ == ResidualKind::plain) return kernels::copy<T>(total, in, 1, out, 1);
  if (kind_ == ResidualKind::rezero) {
    LIPFLOW_TRY(kernels::copy<T>(total, in, 1, out, 1));
    return kernels::scale<T>(total, alpha_.value.data[0], out, 1);
  }
  const T* a = alpha_.value.data;
  for (std::size_t r = 0; r < total / channels_; ++r)
    for (std::size_t c = 0; c < channels_; ++c) out[r * channels_ + c] = a[c] * in[r * channels_ + c];
  return Status::success();
}

template <class T>
Status Residual<T>::forward(const T* x, std::size_t batch, T* y) noexcept {
  LIPFLOW_TRY(this->check_run("residual.forward", batch, x, y));
  LIPFLOW_TRY(f_->forward(x, batch, fx_.data));
  const std::size_t total = batch * this->in_.size();
  if (kind_ == ResidualKind::plain) {  // y = x + f(x) in one pass (compilers vectorize it)
    for (std::size_t i = 0; i < total; ++i) y[i] = x[i] + fx_.data[i];
    return Status::success();
  }
  LIPFLOW_TRY(scale_by_alpha(fx_.data, batch, y));  // y = alpha f(x)
  return kernels::axpy<T>(total, T(1), x, 1, y, 1);
}

template <class T>
Status Residual<T>::backward(const T* x, const T*, const T* dy, std::size_t batch, T* dx) noexcept {
  LIPFLOW_TRY(this->check_run("residual.backward", batch, x, dy));
  const std::size_t total = batch * this->in_.size();
  if (kind_ != ResidualKind::plain) {  // dalpha += sum over rows of dy (.) f(x)
    T* g = alpha_.grad.data;
    if (kind_ == ResidualKind::rezero) {
      T s = T(0);
      LIPFLOW_TRY(kernels::dot<T>(total, dy, 1, fx_.data, 1, &s));
      g[0] += s;
    } else {
      for (std::size_t r = 0; r < total / channels_; ++r)
        for (std::size_t c = 0; c < channels_; ++c) g[c] += dy[r * channels_ + c] * fx_.data[r * channels_ + c];
    }
  }
  // dL/df = alpha (.) dy; the plain shortcut passes dy itself.
  const T* df = dy;
  if (kind_ != ResidualKind::plain) {
    LIPFLOW_TRY(scale_by_alpha(dy, batch, scratch_.data));
    df = scratch_.data;
  }
  LIPFLOW_TRY(f_->backward(x, fx_.data, df, batch, dx));
  if (dx != nullptr) LIPFLOW_TRY(kernels::axpy<T>(total, T(1), dy, 1, dx, 1));  // + identity path
  return Status::success();
}

template <class T>
Status Residual<T>::jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept {
  LIPFLOW_TRY(this->check_run("residual.jvp", batch, x, dx));
  if (dy == nullptr) return Status(Code::null_pointer, "residual.jvp: dy");
  LIPFLOW_TRY(f_->jvp(x, dx, batch, scratch_.data));
  LIPFLOW_TRY(scale_by_alpha(scratch_.data, batch, dy));
  return kernels::axpy<T>(batch * this->in_.size(), T(1), dx, 1, dy, 1);
}

template <class T>
Lipschitz Residual<T>::lipschitz() noexcept {
  const Lipschitz lf = f_->lipschitz();
  double a = 1.0;
  if (kind_ != ResidualKind::plain && this->bound_) {
    T m = T(0);
    (void)kernels::norm<T>(kernels::Norm::linf, alpha_.param.size, alpha_.value.data, 1, &m);
    a = static_cast<double>(m);
  }
  Lipschitz l;
  // 1 + a L(f), with 0 * inf read as inf only when a > 0 (a zero gain cuts an unbounded branch).
  l.global = a == 0.0 ? 1.0 : 1.0 + a * lf.global;
  l.local = a == 0.0 ? 1.0 : 1.0 + a * lf.local;
  l.scope = std::isinf(l.local) ? Scope::unbounded
            : (std::isinf(l.global) || lf.scope == Scope::local) ? Scope::local
                                                                 : Scope::global;
  l.formula = kind_ == ResidualKind::plain ? "1 + Lip(f)" : "1 + max|alpha| Lip(f)";
  return l;
}

template class Residual<float>;
template class Residual<double>;

}  // namespace nn
}  // namespace lipflow
