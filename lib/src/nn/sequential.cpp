#include "lipflow/nn/sequential.hpp"

#include <algorithm>
#include <cmath>

#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace nn {

Lipschitz compose_chain(const Lipschitz* factors, std::size_t n) noexcept {
  Lipschitz l;
  l.global = 1.0;
  l.local = 1.0;
  bool any_local = false;
  for (std::size_t i = 0; i < n; ++i) {
    l.global *= factors[i].global;
    l.local *= factors[i].local;
    any_local = any_local || factors[i].scope == Scope::local;
  }
  if (std::isnan(l.global)) l.global = std::numeric_limits<double>::infinity();  // 0 * inf
  if (std::isnan(l.local)) l.local = std::numeric_limits<double>::infinity();
  if (std::isinf(l.local))
    l.scope = Scope::unbounded;
  else if (std::isinf(l.global) || any_local)
    l.scope = Scope::local;
  else
    l.scope = Scope::global;
  l.formula = "product of the factors";
  return l;
}

template <class T>
Status Sequential<T>::add(Module<T>* child) noexcept {
  if (child == nullptr) return Status(Code::null_pointer, "sequential.add: child");
  if (planned_) return Status(Code::plan_sealed, "sequential.add: after plan");
  if (count_ == kMaxChildren)
    return Status(Code::capacity_exceeded, "sequential.add: children", (long long)count_ + 1, (long long)kMaxChildren);
  children_[count_++] = child;
  return Status::success();
}

template <class T>
Status Sequential<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "sequential.plan: out");
  if (count_ == 0) return Status(Code::invalid_argument, "sequential.plan: no children");
  if (planned_) return Status(Code::plan_sealed, "sequential.plan: planned twice");
  if (max_batch == 0) return Status(Code::invalid_argument, "sequential.plan: max_batch", 0, 1);
  Shape s = in;
  std::size_t widest = 0;
  for (std::size_t i = 0; i < count_; ++i) {
    Shape next;
    LIPFLOW_TRY(children_[i]->plan(s, max_batch, plan, &next));
    if (i + 1 < count_) {
      const std::size_t n = max_batch * next.size();
      LIPFLOW_TRY(outputs_[i].plan(plan, "sequential.output", MemoryKind::activations, n));
      if (keep_gradients_) LIPFLOW_TRY(grads_[i].plan(plan, "sequential.gradient", MemoryKind::activations, n));
      widest = std::max(widest, n);
    }
    s = next;
  }
  if (!keep_gradients_ && widest > 0)
    for (int k = 0; k < 2; ++k) LIPFLOW_TRY(grads_[k].plan(plan, "sequential.gradient", MemoryKind::scratch, widest));
  if (widest > 0)
    for (int k = 0; k < 2; ++k) LIPFLOW_TRY(tangents_[k].plan(plan, "sequential.tangent", MemoryKind::scratch, widest));
  planned_ = true;
  this->set_planned(in, s, max_batch);
  *out = s;
  return Status::success();
}

template <class T>
Status Sequential<T>::bind(const Arena& arena) noexcept {
  if (!planned_) return Status(Code::not_bound, "sequential.bind: not planned");
  for (std::size_t i = 0; i < count_; ++i) {
    LIPFLOW_TRY(children_[i]->bind(arena));
    if (i + 1 < count_) {
      LIPFLOW_TRY(outputs_[i].bind(arena));
      if (keep_gradients_) LIPFLOW_TRY(grads_[i].bind(arena));
    }
  }
  if (count_ > 1) {
    if (!keep_gradients_)
      for (int k = 0; k < 2; ++k) LIPFLOW_TRY(grads_[k].bind(arena));
    for (int k = 0; k < 2; ++k) LIPFLOW_TRY(tangents_[k].bind(arena));
  }
  this->bound_ = true;
  return Status::success();
}

template <class T>
Status Sequential<T>::init(Rng& rng) noexcept {
  if (!this->bound_) return Status(Code::not_bound, "sequential.init");
  for (std::size_t i = 0; i < count_; ++i) LIPFLOW_TRY(children_[i]->init(rng));
  return Status::success();
}

template <class T>
Status Sequential<T>::forward(const T* x, std::size_t batch, T* y) noexcept {
  LIPFLOW_TRY(this->check_run("sequential.forward", batch, x, y));
  const T* in = x;
  for (std::size_t i = 0; i < count_; ++i) {
    T* out = i + 1 < count_ ? outputs_[i].data : y;
    LIPFLOW_TRY(children_[i]->forward(in, batch, out));
    in = out;
  }
  return Status::success();
}

template <class T>
Status Sequential<T>::backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept {
  LIPFLOW_TRY(this->check_run("sequential.backward", batch, x, dy));
  if (y == nullptr) return Status(Code::null_pointer, "sequential.backward: y");
  for (std::size_t k = count_; k-- > 0;) {
    const T* in = k == 0 ? x : outputs_[k - 1].data;
    const T* out = k + 1 == count_ ? y : outputs_[k].data;
    const T* g = k + 1 == count_ ? dy : grad_buffer(k);
    T* gin = k == 0 ? dx : grad_buffer(k - 1);
    LIPFLOW_TRY(children_[k]->backward(in, out, g, batch, gin));
  }
  return Status::success();
}

template <class T>
Status Sequential<T>::jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept {
  LIPFLOW_TRY(this->check_run("sequential.jvp", batch, x, dx));
  if (dy == nullptr) return Status(Code::null_pointer, "sequential.jvp: dy");
  const T* t = dx;
  for (std::size_t i = 0; i < count_; ++i) {
    const T* in = i == 0 ? x : outputs_[i - 1].data;
    T* tout = i + 1 < count_ ? tangents_[i % 2].data : dy;
    LIPFLOW_TRY(children_[i]->jvp(in, t, batch, tout));
    t = tout;
  }
  return Status::success();
}

template <class T>
Lipschitz Sequential<T>::lipschitz() noexcept {
  Lipschitz factors[kMaxChildren];
  for (std::size_t i = 0; i < count_; ++i) factors[i] = children_[i]->lipschitz();
  return compose_chain(factors, count_);
}

template <class T>
void Sequential<T>::set_training(bool training) noexcept {
  for (std::size_t i = 0; i < count_; ++i) children_[i]->set_training(training);
}

template class Sequential<float>;
template class Sequential<double>;

}  // namespace nn
}  // namespace lipflow
