// lipflow/nn/flatten.hpp: a sample of any shape seen as one vector (a CNN's feature maps before its
// classifier). The data do not change: y = x, J = I, Lip = 1 (global and tight). Forward, backward and
// jvp copy size() values per sample (nothing when the pointers alias); no parameters, no memory.
#pragma once

#include "lipflow/nn/module.hpp"

namespace lipflow {
namespace nn {

template <class T>
class Flatten final : public Module<T> {
 public:
  const char* kind() const noexcept override { return "flatten"; }
  // Errors: shape_mismatch (an invalid input shape), invalid_argument (max_batch 0).
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  Status init(Rng&) noexcept override { return Status::success(); }
  Status forward(const T* x, std::size_t batch, T* y) noexcept override;
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override;
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override;
  Lipschitz lipschitz() noexcept override { return Lipschitz{Scope::global, 1.0, 1.0, "1 (a reshape)"}; }

 private:
  Status copy(const char* where, const T* a, std::size_t batch, T* b) const noexcept;
};

extern template class Flatten<float>;
extern template class Flatten<double>;

}  // namespace nn
}  // namespace lipflow
