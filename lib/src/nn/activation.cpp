#include "lipflow/nn/activation.hpp"

#include <cmath>

namespace lipflow {
namespace nn {

template <class T>
Status Activation<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan&, Shape* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "activation.plan: out");
  LIPFLOW_TRY(kernels::validate(f_));
  if (!in.valid()) return shape_error("activation.plan: input shape (rank 1-3, extents > 0)", in.rank, 1);
  if (max_batch == 0) return Status(Code::invalid_argument, "activation.plan: max_batch", 0, 1);
  this->set_planned(in, in, max_batch);
  *out = in;
  return Status::success();
}

template <class T>
Status Activation<T>::bind(const Arena&) noexcept {
  if (this->max_batch_ == 0) return Status(Code::not_bound, "activation.bind: not planned");
  this->bound_ = true;
  return Status::success();
}

template <class T>
Status Activation<T>::forward(const T* x, std::size_t batch, T* y) noexcept {
  LIPFLOW_TRY(this->check_run("activation.forward", batch, x, y));
  return kernels::activation_forward<T>(f_, batch * this->in_.size(), x, y);
}

template <class T>
Status Activation<T>::backward(const T* x, const T*, const T* dy, std::size_t batch, T* dx) noexcept {
  LIPFLOW_TRY(this->check_run("activation.backward", batch, x, dy));
  if (dx == nullptr) return Status::success();
  return kernels::activation_backward<T>(f_, batch * this->in_.size(), x, dy, dx);
}

template <class T>
Status Activation<T>::jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept {
  LIPFLOW_TRY(this->check_run("activation.jvp", batch, x, dx));
  if (dy == nullptr) return Status(Code::null_pointer, "activation.jvp: dy");
  return kernels::activation_backward<T>(f_, batch * this->in_.size(), x, dx, dy);  // diagonal: J = J^T
}

template <class T>
Lipschitz Activation<T>::lipschitz() noexcept {
  Lipschitz l;
  l.scope = Scope::global;
  l.global = l.local = kernels::activation_lipschitz(f_);
  l.formula = "sup |f'(u)|";
  return l;
}

template <class T>
Status Softmax<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "softmax.plan: out");
  if (!(temperature_ > 0.0) || !std::isfinite(temperature_))
    return Status::real(Code::invalid_argument, "softmax: temperature (finite, > 0)", temperature_);
  if (log_ && temperature_ != 1.0) return Status::real(Code::invalid_argument, "log_softmax: temperature (must be 1)", temperature_);
  if (!in.valid()) return shape_error("softmax.plan: input shape (rank 1-3, extents > 0)", in.rank, 1);
  if (max_batch == 0) return Status(Code::invalid_argument, "softmax.plan: max_batch", 0, 1);
  n_ = in.last();
  rows_ = in.size() / n_;
  LIPFLOW_TRY(p_.plan(plan, "softmax.probabilities", MemoryKind::activations, max_batch * in.size()));
  this->set_planned(in, in, max_batch);
  *out = in;
  return Status::success();
}

template <class T>
Status Softmax<T>::bind(const Arena& arena) noexcept {
  LIPFLOW_TRY(p_.bind(arena));
  this->bound_ = true;
  return Status::success();
}

template <class T>
Status Softmax<T>::forward(const T* x, std::size_t batch, T* y) noexcept {
  LIPFLOW_TRY(this->check_run("softmax.forward", batch, x, y));
  const std::size_t rows = batch * rows_, total = rows * n_;
  if (log_) {
    LIPFLOW_TRY(kernels::log_softmax_rows<T>(rows, n_, x, n_, y, n_));
    LIPFLOW_TRY(kernels::softmax_rows<T>(rows, n_, x, n_, p_.data, n_));
  } else {
    // softmax(x / T): scale a copy, then normalize in place.
    LIPFLOW_TRY(kernels::copy<T>(total, x, 1, p_.data, 1));
    LIPFLOW_TRY(kernels::scale<T>(total, static_cast<T>(1.0 / temperature_), p_.data, 1));
    LIPFLOW_TRY(kernels::softmax_rows<T>(rows, n_, p_.data, n_, p_.data, n_));
    LIPFLOW_TRY(kernels::copy<T>(total, p_.data, 1, y, 1));
  }
  last_batch_ = batch;
  return Status::success();
}

template <class T>
Status Softmax<T>::apply(const T* g, std::size_t batch, T* out, bool transpose) noexcept {
  if (batch != last_batch_) return Status(Code::invalid_argument, "softmax: batch differs from the last forward",
                                          (long long)batch, (long long)last_batch_);
  const std::size_t rows = batch * rows_;
  if (!log_)  // symmetric: (diag(p) - p p^T) / T either way
    return kernels::softmax_rows_vjp<T>(rows, n_, p_.data, n_, g, n_, static_cast<T>(1.0 / temperature_), out, n_);
  for (std::size_t r = 0; r < rows; ++r) {
    const T* p = p_.data + r * n_;
    const T* gr = g + r * n_;
    T* o = out + r * n_;
    if (transpose) {  // (I - 1 p^T)^T g = g - p sum(g)
      T s = T(0);
      LIPFLOW_TRY(kernels::sum<T>(n_, gr, 1, &s));
      for (std::size_t i = 0; i < n_; ++i) o[i] = gr[i] - p[i] * s;
    } else {  // (I - 1 p^T) v = v - <p, v> 1
      T s = T(0);
      LIPFLOW_TRY(kernels::dot<T>(n_, gr, 1, p, 1, &s));
      for (std::size_t i = 0; i < n_; ++i) o[i] = gr[i] - s;
    }
  }
  return Status::success();
}

template <class T>
Status Softmax<T>::backward(const T* x, const T*, const T* dy, std::size_t batch, T* dx) noexcept {
  LIPFLOW_TRY(this->check_run("softmax.backward", batch, x, dy));
  if (dx == nullptr) return Status::success();
  return apply(dy, batch, dx, true);
}

template <class T>
Status Softmax<T>::jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept {
  LIPFLOW_TRY(this->check_run("softmax.jvp", batch, x, dx));
  if (dy == nullptr) return Status(Code::null_pointer, "softmax.jvp: dy");
  return apply(dx, batch, dy, false);
}

template <class T>
Lipschitz Softmax<T>::lipschitz() noexcept {
  Lipschitz l;
  l.scope = Scope::global;
  if (!log_) {
    l.global = l.local = 0.5 / temperature_;  // Gershgorin: row sums 2 p_i (1 - p_i) / T <= 1 / (2T)
    l.formula = "1 / (2 T)";
    return l;
  }
  // ||I - 1 p^T|| <= 1 + ||1|| ||p|| (triangle inequality), ||p||_2 <= 1.
  const double sqrt_n = std::sqrt(static_cast<double>(n_));
  l.global = 1.0 + sqrt_n;
  double worst = 0.0;
  for (std::size_t r = 0; r < last_batch_ * rows_; ++r) {
    T pn = T(0);
    (void)kernels::norm<T>(kernels::Norm::l2, n_, p_.data + r * n_, 1, &pn);
    if (static_cast<double>(pn) > worst) worst = static_cast<double>(pn);
  }
  l.local = last_batch_ == 0 ? l.global : 1.0 + sqrt_n * worst;
  l.formula = "1 + sqrt(n) ||p||_2";
  return l;
}

template class Activation<float>;
template class Activation<double>;
template class Softmax<float>;
template class Softmax<double>;

}  // namespace nn
}  // namespace lipflow
