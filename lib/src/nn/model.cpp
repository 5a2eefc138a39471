#include "lipflow/nn/model.hpp"

#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace nn {

template <class T>
Status Model<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan) noexcept {
  Shape out;
  LIPFLOW_TRY(layers_.plan(in, max_batch, plan, &out));
  LIPFLOW_TRY(x_.plan(plan, "model.input", MemoryKind::activations, max_batch * in.size()));
  LIPFLOW_TRY(y_.plan(plan, "model.output", MemoryKind::activations, max_batch * out.size()));
  LIPFLOW_TRY(dy_.plan(plan, "model.output_gradient", MemoryKind::activations, max_batch * out.size()));
  LIPFLOW_TRY(dx_.plan(plan, "model.input_gradient", MemoryKind::activations, max_batch * in.size()));
  return tangent_.plan(plan, "model.tangent", MemoryKind::scratch, max_batch * out.size());
}

template <class T>
Status Model<T>::bind(const Arena& arena) noexcept {
  LIPFLOW_TRY(layers_.bind(arena));
  LIPFLOW_TRY(x_.bind(arena));
  LIPFLOW_TRY(y_.bind(arena));
  LIPFLOW_TRY(dy_.bind(arena));
  LIPFLOW_TRY(dx_.bind(arena));
  return tangent_.bind(arena);
}

template <class T>
Status Model<T>::forward(const T* x, std::size_t batch, const T** y) noexcept {
  if (x == nullptr || y == nullptr) return Status(Code::null_pointer, "model.forward: x or y");
  if (x_.data == nullptr) return Status(Code::not_bound, "model.forward: the model is not bound");
  if (batch == 0 || batch > layers_.max_batch())
    return Status(Code::invalid_argument, "model.forward: batch", (long long)batch, (long long)layers_.max_batch());
  LIPFLOW_TRY(kernels::copy<T>(batch * input_shape().size(), x, 1, x_.data, 1));
  LIPFLOW_TRY(layers_.forward(x_.data, batch, y_.data));
  last_batch_ = batch;
  *y = y_.data;
  return Status::success();
}

template <class T>
Status Model<T>::backward(const T* dy, std::size_t batch) noexcept {
  if (dy == nullptr) return Status(Code::null_pointer, "model.backward: dy");
  if (last_batch_ == 0) return Status(Code::invalid_argument, "model.backward: no forward yet (batch)", (long long)batch);
  if (batch != last_batch_)
    return Status(Code::invalid_argument, "model.backward: batch differs from the last forward", (long long)batch,
                  (long long)last_batch_);
  LIPFLOW_TRY(kernels::copy<T>(batch * output_shape().size(), dy, 1, dy_.data, 1));
  return layers_.backward(x_.data, y_.data, dy_.data, batch, dx_.data);
}

template <class T>
Status Model<T>::jvp(const T* dx, std::size_t batch, const T** dy) noexcept {
  if (dx == nullptr || dy == nullptr) return Status(Code::null_pointer, "model.jvp: dx or dy");
  if (last_batch_ == 0) return Status(Code::invalid_argument, "model.jvp: no forward yet (batch)", (long long)batch);
  if (batch != last_batch_)
    return Status(Code::invalid_argument, "model.jvp: batch differs from the last forward", (long long)batch,
                  (long long)last_batch_);
  LIPFLOW_TRY(layers_.jvp(x_.data, dx, batch, tangent_.data));
  *dy = tangent_.data;
  return Status::success();
}

template <class T>
Lipschitz Model<T>::lipschitz(Lipschitz* per_layer, std::size_t capacity) noexcept {
  Lipschitz factors[Sequential<T>::kMaxChildren];
  const std::size_t n = layers_.child_count();
  for (std::size_t i = 0; i < n; ++i) {
    factors[i] = layers_.child(i)->lipschitz();
    if (per_layer != nullptr && i < capacity) per_layer[i] = factors[i];
  }
  return compose_chain(factors, n);
}

template <class T>
const T* Model<T>::layer_input(std::size_t i) const noexcept {
  if (i >= layers_.child_count()) return nullptr;
  return i == 0 ? x_.data : layers_.output(i - 1);
}

template <class T>
const T* Model<T>::layer_output(std::size_t i) const noexcept {
  if (i >= layers_.child_count()) return nullptr;
  return i + 1 == layers_.child_count() ? y_.data : layers_.output(i);
}

template <class T>
const T* Model<T>::layer_grad_output(std::size_t i) const noexcept {
  if (i >= layers_.child_count()) return nullptr;
  return i + 1 == layers_.child_count() ? dy_.data : layers_.grad_output(i);
}

template class Model<float>;
template class Model<double>;

}  // namespace nn
}  // namespace lipflow
