// lipflow/nn/linear.hpp: y = W x + b (PAPER.md 6.1), applied to the last dimension of each sample
// (a (tokens, width) sample maps every token). W is out x in (PyTorch's layout).
//   forward   one GEMM (+ the bias rows)            2 rows in out flops, rows = batch * tokens
//   backward  dx = dy W, dW += dy^T x, db += sum dy two GEMMs
//   jvp       J dx = dx W^T                          one GEMM
//   lipschitz sigma_max(W), global, by power iteration warm-started from the last call (PAPER.md
//             eq. 20); if it does not converge, the Frobenius norm (still an upper bound).
#pragma once

#include "lipflow/core/spectral.hpp"
#include "lipflow/nn/init.hpp"
#include "lipflow/nn/module.hpp"
#include "lipflow/nn/storage.hpp"

namespace lipflow {
namespace nn {

template <class T>
class Linear final : public Module<T> {
 public:
  // out: output features (> 0, checked by plan()); init: the weight initializer (PyTorch's default).
  explicit Linear(std::size_t out, bool bias = true, InitSpec init = InitSpec()) noexcept : options_{out, bias, init} {}

  const char* kind() const noexcept override { return "linear"; }
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  Status init(Rng& rng) noexcept override;
  Status forward(const T* x, std::size_t batch, T* y) noexcept override;
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override;
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override;
  Lipschitz lipschitz() noexcept override;
  std::size_t param_count() const noexcept override { return options_.bias ? 2 : 1; }
  Param<T> param(std::size_t i) const noexcept override;
  // The power iteration's warm-start vectors, so that a resumed run's bounds match too.
  std::size_t buffer_count() const noexcept override { return 1; }
  Param<T> buffer(std::size_t /*i*/) const noexcept override { return buffer_param("linear.power_iteration", power_); }

  T* weight() const noexcept { return w_.value.data; }
  T* bias() const noexcept { return b_.value.data; }
  std::size_t in_features() const noexcept { return in_f_; }
  std::size_t out_features() const noexcept { return options_.out; }
  // The last power iteration (iterations, convergence) behind lipschitz().
  const SpectralEstimate& spectral_estimate() const noexcept { return estimate_; }

 private:
  std::size_t rows(std::size_t batch) const noexcept { return batch * (this->in_.size() / in_f_); }

  struct {
    std::size_t out;
    bool bias;
    InitSpec init;
  } options_;
  std::size_t in_f_ = 0;
  ParamStorage<T> w_, b_;
  Buffer<T> power_;  // persistent power-iteration vectors: v (in) then u (out)
  Workspace<T> work_;
  SpectralEstimate estimate_;
};

}  // namespace nn
}  // namespace lipflow
