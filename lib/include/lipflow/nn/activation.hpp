// lipflow/nn/activation.hpp: element-wise activations (PAPER.md 6.6) and softmax / log-softmax over
// the last dimension (PAPER.md 6.4.1) as modules.
//   Activation  y = f(x)                      J = diag(f'(x))          Lip = sup|f'| (Table 2), global
//   Softmax     p = softmax(x / T)            J = (diag(p) - p p^T)/T  Lip <= 1/(2T), global
//   LogSoftmax  y = x - logsumexp(x)          J = I - 1 p^T            Lip <= 1 + sqrt(n) ||p||_2 <= 1 + sqrt(n)
// Each costs O(size) per sample; softmax and log-softmax keep p for backward and jvp.
#pragma once

#include "lipflow/core/kernels.hpp"
#include "lipflow/nn/module.hpp"
#include "lipflow/nn/storage.hpp"

namespace lipflow {
namespace nn {

template <class T>
class Activation final : public Module<T> {
 public:
  explicit Activation(kernels::ActivationSpec f) noexcept : f_(f) {}

  const char* kind() const noexcept override { return kernels::activation_name(f_.kind); }
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  Status init(Rng&) noexcept override { return Status::success(); }
  Status forward(const T* x, std::size_t batch, T* y) noexcept override;
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override;
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override;
  Lipschitz lipschitz() noexcept override;
  const kernels::ActivationSpec& spec() const noexcept { return f_; }

 private:
  kernels::ActivationSpec f_;
};

// Softmax (temperature T > 0) or, with log = true, log-softmax (T must be 1) over the last dimension.
template <class T>
class Softmax final : public Module<T> {
 public:
  explicit Softmax(double temperature = 1.0, bool log = false) noexcept : temperature_(temperature), log_(log) {}

  const char* kind() const noexcept override { return log_ ? "log_softmax" : "softmax"; }
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  Status init(Rng&) noexcept override { return Status::success(); }
  Status forward(const T* x, std::size_t batch, T* y) noexcept override;
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override;
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override;
  Lipschitz lipschitz() noexcept override;

 private:
  // dx_r = (p_r (.) (g_r - <g_r, p_r>)) / T for softmax, g_r - p_r sum(g_r) for log-softmax, and the
  // transposed form for jvp; both Jacobians are applied row by row from the cached p.
  Status apply(const T* g, std::size_t batch, T* out, bool transpose) noexcept;

  double temperature_;
  bool log_;
  std::size_t n_ = 0;       // softmax width (last dimension)
  std::size_t rows_ = 0;    // rows per sample
  std::size_t last_batch_ = 0;
  Buffer<T> p_;             // probabilities of the last forward
};

}  // namespace nn
}  // namespace lipflow
