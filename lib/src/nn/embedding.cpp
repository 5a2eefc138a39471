#include "lipflow/nn/embedding.hpp"

#include <cmath>
#include <cstdio>

#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace nn {

template <class T>
Status Embedding<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "embedding.plan: out");
  if (vocab_ == 0) return Status(Code::invalid_argument, "embedding: vocab", 0, 1);
  if (width_ == 0) return Status(Code::invalid_argument, "embedding: width", 0, 1);
  if (max_tokens_ == 0) return Status(Code::invalid_argument, "embedding: max_tokens", 0, 1);
  if (!in.valid() || in.rank != 1)
    return shape_error("embedding.plan: input rank (tokens)", static_cast<std::size_t>(in.rank), 1);
  if (in.dims[0] > max_tokens_) return shape_error("embedding.plan: tokens (limit max_tokens)", in.dims[0], max_tokens_);
  if (max_batch == 0) return Status(Code::invalid_argument, "embedding.plan: max_batch", 0, 1);
  // Both tables are matrices of learned rows; like nn.Embedding under torch.optim they take weight
  // decay by default (an optimizer group can exclude them).
  LIPFLOW_TRY(e_.plan(plan, "embedding.tokens", vocab_, width_, kParamDecay));
  LIPFLOW_TRY(p_.plan(plan, "embedding.positions", max_tokens_, width_, kParamDecay));
  const Shape o = Shape::tokens(in.dims[0], width_);
  this->set_planned(in, o, max_batch);
  *out = o;
  return Status::success();
}

template <class T>
Status Embedding<T>::bind(const Arena& arena) noexcept {
  LIPFLOW_TRY(e_.bind(arena));
  LIPFLOW_TRY(p_.bind(arena));
  this->bound_ = true;
  return Status::success();
}

template <class T>
Status Embedding<T>::init(Rng& rng) noexcept {
  if (!this->bound_) return Status(Code::not_bound, "embedding.init");
  for (std::size_t i = 0; i < e_.value.size; ++i) e_.value.data[i] = rng.normal<T>(T(0), T(1));
  for (std::size_t i = 0; i < p_.value.size; ++i) p_.value.data[i] = rng.normal<T>(T(0), T(1));
  return Status::success();
}

template <class T>
Status Embedding<T>::token(const T* x, std::size_t k, std::size_t* id) noexcept {
  const double v = static_cast<double>(x[k]);
  if (std::isfinite(v) && v >= 0 && v < static_cast<double>(vocab_) && v == std::floor(v)) {
    *id = static_cast<std::size_t>(v);
    return Status::success();
  }
  const std::size_t n = this->in_.dims[0];
  std::snprintf(message_, sizeof(message_), "embedding: token id %g at sample %zu position %zu (ids are integers in [0, %zu))",
                v, k / n, k % n, vocab_);
  // value: the id truncated to an integer where it fits (0 for NaN), limit: vocab.
  const long long shown = std::isfinite(v) && std::fabs(v) < 9e18 ? static_cast<long long>(v) : 0;
  return Status(Code::invalid_argument, message_, shown, static_cast<long long>(vocab_));
}

template <class T>
Status Embedding<T>::forward(const T* x, std::size_t batch, T* y) noexcept {
  LIPFLOW_TRY(this->check_run("embedding.forward", batch, x, y));
  const std::size_t n = this->in_.dims[0], d = width_;
  for (std::size_t k = 0; k < batch * n; ++k) {  // all ids first: on error nothing is written
    std::size_t id = 0;
    LIPFLOW_TRY(token(x, k, &id));
  }
  for (std::size_t k = 0; k < batch * n; ++k) {
    const std::size_t id = static_cast<std::size_t>(x[k]), pos = k % n;
    LIPFLOW_TRY(kernels::copy<T>(d, p_.value.data + pos * d, 1, y + k * d, 1));
    LIPFLOW_TRY(kernels::axpy<T>(d, T(1), e_.value.data + id * d, 1, y + k * d, 1));
  }
  return Status::success();
}

template <class T>
Status Embedding<T>::backward(const T* x, const T* /*y*/, const T* dy, std::size_t batch, T* dx) noexcept {
  LIPFLOW_TRY(this->check_run("embedding.backward", batch, x, dy));
  const std::size_t n = this->in_.dims[0], d = width_;
  for (std::size_t k = 0; k < batch * n; ++k) {
    std::size_t id = 0;
    LIPFLOW_TRY(token(x, k, &id));
  }
  for (std::size_t k = 0; k < batch * n; ++k) {
    const std::size_t id = static_cast<std::size_t>(x[k]), pos = k % n;
    LIPFLOW_TRY(kernels::axpy<T>(d, T(1), dy + k * d, 1, e_.grad.data + id * d, 1));
    LIPFLOW_TRY(kernels::axpy<T>(d, T(1), dy + k * d, 1, p_.grad.data + pos * d, 1));
  }
  if (dx != nullptr) LIPFLOW_TRY(kernels::fill<T>(batch * n, T(0), dx, 1));
  return Status::success();
}

template <class T>
Status Embedding<T>::jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept {
  LIPFLOW_TRY(this->check_run("embedding.jvp", batch, x, dx));
  if (dy == nullptr) return Status(Code::null_pointer, "embedding.jvp: dy");
  return kernels::fill<T>(batch * this->in_.dims[0] * width_, T(0), dy, 1);
}

template <class T>
Lipschitz Embedding<T>::lipschitz() noexcept {
  // The input is a discrete id: no continuous perturbation exists, and J = 0 wherever it is defined,
  // so 0 is the honest constant with respect to x (the tables' rows matter only through training).
  Lipschitz l;
  l.scope = Scope::global;
  l.global = l.local = 0.0;
  l.formula = "0: the input is a discrete token id (J = 0 w.r.t. x)";
  return l;
}

template <class T>
Param<T> Embedding<T>::param(std::size_t i) const noexcept {
  if (i == 0) return e_.param;
  if (i == 1) return p_.param;
  return Param<T>();
}

template class Embedding<float>;
template class Embedding<double>;

}  // namespace nn
}  // namespace lipflow
