// lipflow/nn/flatten.cpp: the identity on the data, with a vector output shape (see flatten.hpp).
#include "lipflow/nn/flatten.hpp"

#include <cstring>

namespace lipflow {
namespace nn {

template <class T>
Status Flatten<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan&, Shape* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "flatten.plan: out");
  if (!in.valid()) return Status(Code::shape_mismatch, "flatten: input rank", static_cast<long long>(in.rank), 3);
  if (max_batch == 0) return Status(Code::invalid_argument, "flatten: max_batch", 0, 1);
  *out = Shape::vec(in.size());
  this->set_planned(in, *out, max_batch);
  return Status::success();
}

template <class T>
Status Flatten<T>::bind(const Arena&) noexcept {
  this->bound_ = true;
  return Status::success();
}

template <class T>
Status Flatten<T>::copy(const char* where, const T* a, std::size_t batch, T* b) const noexcept {
  LIPFLOW_TRY(this->check_run(where, batch, a, b));
  if (a != b) std::memmove(b, a, batch * this->in_.size() * sizeof(T));
  return Status::success();
}

template <class T>
Status Flatten<T>::forward(const T* x, std::size_t batch, T* y) noexcept {
  return copy("flatten.forward", x, batch, y);
}

template <class T>
Status Flatten<T>::backward(const T*, const T*, const T* dy, std::size_t batch, T* dx) noexcept {
  if (dx == nullptr) return this->check_run("flatten.backward", batch, dy, dy);  // no parameters: nothing to add
  return copy("flatten.backward", dy, batch, dx);
}

template <class T>
Status Flatten<T>::jvp(const T*, const T* dx, std::size_t batch, T* dy) noexcept {
  return copy("flatten.jvp", dx, batch, dy);
}

template class Flatten<float>;
template class Flatten<double>;

}  // namespace nn
}  // namespace lipflow
