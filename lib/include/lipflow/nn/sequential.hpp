// lipflow/nn/sequential.hpp: modules in a chain, itself a module.
//
// Sequential keeps every intermediate output (backward needs each child's input and output), and
// either every intermediate gradient dL/d(output of child i) (keep_gradients, for inspection by the
// analysis layer) or two buffers it alternates between. jvp alternates between two tangent buffers.
// Its Lipschitz bound is the product of its children's (PAPER.md 4.7): global and local products are
// kept apart, and one unbounded child makes the product unbounded.
// Children are not owned: they must outlive the Sequential. Capacity: kMaxChildren (no heap).
#pragma once

#include <cstddef>

#include "lipflow/nn/module.hpp"
#include "lipflow/nn/storage.hpp"

namespace lipflow {
namespace nn {

template <class T>
class Sequential : public Module<T> {
 public:
  static constexpr std::size_t kMaxChildren = 32;

  explicit Sequential(bool keep_gradients = false) noexcept : keep_gradients_(keep_gradients) {}

  // Appends a child (before plan). Errors: null_pointer, capacity_exceeded, plan_sealed after plan.
  Status add(Module<T>* child) noexcept;

  const char* kind() const noexcept override { return "sequential"; }
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  Status init(Rng& rng) noexcept override;
  Status forward(const T* x, std::size_t batch, T* y) noexcept override;
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override;
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override;
  Lipschitz lipschitz() noexcept override;
  void set_training(bool training) noexcept override;
  std::size_t child_count() const noexcept override { return count_; }
  Module<T>* child(std::size_t i) noexcept override { return i < count_ ? children_[i] : nullptr; }

  // Output of child i (i + 1 < child_count) from the last forward; the last child's output is the
  // caller's y. Null when out of range.
  const T* output(std::size_t i) const noexcept { return i + 1 < count_ ? outputs_[i].data : nullptr; }
  // dL/d(output of child i) from the last backward (keep_gradients only, i + 1 < child_count).
  const T* grad_output(std::size_t i) const noexcept {
    return keep_gradients_ && i + 1 < count_ ? grads_[i].data : nullptr;
  }

 private:
  T* grad_buffer(std::size_t i) noexcept { return keep_gradients_ ? grads_[i].data : grads_[i % 2].data; }

  bool keep_gradients_;
  bool planned_ = false;
  std::size_t count_ = 0;
  Module<T>* children_[kMaxChildren] = {};
  Buffer<T> outputs_[kMaxChildren];  // outputs of children 0 .. count-2
  Buffer<T> grads_[kMaxChildren];    // dL/d outputs (all kept, or two alternating)
  Buffer<T> tangents_[2];            // jvp tangents, alternating
};

// Calls f(Param<T>) for every parameter of m and of its descendants, each once. Stops at the first
// error f returns.
template <class T, class F>
Status visit_params(Module<T>& m, F&& f) noexcept {
  for (std::size_t i = 0; i < m.param_count(); ++i) LIPFLOW_TRY(f(m.param(i)));
  for (std::size_t i = 0; i < m.child_count(); ++i)
    if (Module<T>* c = m.child(i)) LIPFLOW_TRY(visit_params(*c, f));
  return Status::success();
}

// Calls f(Param<T>) for every persistent buffer (Module::buffer) of m and of its descendants, in the
// same tree order as visit_params. Stops at the first error f returns.
template <class T, class F>
Status visit_buffers(Module<T>& m, F&& f) noexcept {
  for (std::size_t i = 0; i < m.buffer_count(); ++i) LIPFLOW_TRY(f(m.buffer(i)));
  for (std::size_t i = 0; i < m.child_count(); ++i)
    if (Module<T>* c = m.child(i)) LIPFLOW_TRY(visit_buffers(*c, f));
  return Status::success();
}

// The bound of a chain from its factors: products of globals and of locals; scope unbounded when the
// local product is infinite, local when only the local product is finite or any factor is local.
Lipschitz compose_chain(const Lipschitz* factors, std::size_t n) noexcept;

}  // namespace nn
}  // namespace lipflow
