// lipflow/analysis/spectral.hpp: spectral norms by power iteration (DESIGN.md, "Analysis"), all through
// lipflow::power_iteration (core/spectral.hpp), which iterates v <- A^T A v / ||.|| from a warm start:
//   WeightSpectralNorm   sigma_max(W) of a weight matrix (core's spectral_norm, with a planned vector);
//   ModuleSpectralNorm   ||J||_2 of a module's Jacobian at its last forward, one sample
//                        (A v = jvp, A^T u = backward, on that sample's block; other samples zero);
//   ModelSpectralNorm    ||J||_2 of a Model's Jacobian at its last forward, one sample.
// Each estimator keeps its own right singular vector (a planned Buffer) across calls: the next call
// starts from it, so tracking a norm during training costs a few iterations instead of tens. reset()
// forgets it (the next call starts from power_iteration's fixed deterministic vector).
//
// The estimate is ||A v|| for a unit v, so it approaches sigma_max from below; converged means the
// relative change between two iterations fell to options.tolerance. The error in sigma is then about
// the square of the error in v, i.e. far below the tolerance when the top singular value is separated.
//
// SIDE EFFECT (module and Model): A^T u is computed with backward(), which ADDS into the parameter
// gradients. Parameter gradients are modified; the training loop zeroes them before its next
// backward. For a Model, backward also replaces the Model's record of the last backward
// (layer_grad_output, input_grad): read gradient-flow telemetry before estimating.
//
// For BatchNorm in training mode the samples interact; the per-sample estimate is then the norm of
// the diagonal (b, b) block of the batch Jacobian, not of the full Jacobian.
//
// Cost per iteration: one jvp and one backward over the whole batch of the last forward (modules act
// at their cached point, so a sample cannot run alone), plus O(batch (in + out)) of copies; no heap.
#pragma once

#include <cstddef>

#include "lipflow/core/memory.hpp"
#include "lipflow/core/spectral.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/module.hpp"
#include "lipflow/nn/storage.hpp"

namespace lipflow {
namespace analysis {

struct PowerOptions {
  int max_iterations = 100;  // >= 1
  double tolerance = 1e-6;   // relative change of sigma between iterations, in [0, 1)
};

// {sigma, iterations, converged}: core's SpectralEstimate.
using SpectralReport = SpectralEstimate;

// sigma_max of a rows x cols weight matrix (row pitch ld >= cols). Cost per iteration: 4 rows cols flops.
template <class T>
class WeightSpectralNorm {
 public:
  // Declares the warm-start vector v (cols) and the image u (rows). Errors: invalid_argument for a zero
  // extent, the plan's errors.
  Status plan(std::size_t rows, std::size_t cols, MemoryPlan& plan) noexcept;
  Status bind(const Arena& arena) noexcept;
  Status estimate(const T* w, std::size_t ld, const PowerOptions& options, SpectralReport* out) noexcept;
  // A parameter as a matrix (p.rows x p.cols, which must be the planned extents).
  Status estimate(const nn::Param<T>& p, const PowerOptions& options, SpectralReport* out) noexcept;
  void reset() noexcept;
  const T* right_vector() const noexcept { return v_.data; }

 private:
  std::size_t rows_ = 0, cols_ = 0;
  bool bound_ = false;
  nn::Buffer<T> v_, u_;
};

// ||J_b||_2 of a bare module (planned before this estimator) at its last forward, for sample b.
template <class T>
class ModuleSpectralNorm {
 public:
  // Declares v (in_size), u (out_size) and batch-sized tangents for the module's planned shapes.
  Status plan(nn::Module<T>& m, MemoryPlan& plan) noexcept;
  Status bind(const Arena& arena) noexcept;
  // x and y: the input and output of the module's last forward (batch samples). Errors: not_bound,
  // null_pointer, invalid_argument (sample >= batch, batch > max_batch, bad options), and the module's.
  Status estimate(const T* x, const T* y, std::size_t batch, std::size_t sample, const PowerOptions& options,
                  SpectralReport* out) noexcept;
  void reset() noexcept;
  const T* right_vector() const noexcept { return v_.data; }

 private:
  nn::Module<T>* m_ = nullptr;
  std::size_t in_size_ = 0, out_size_ = 0, max_batch_ = 0;
  bool bound_ = false;
  nn::Buffer<T> v_, u_, tangent_in_, image_out_, grad_out_, image_in_;
};

// ||J_b||_2 of a Model (planned before this estimator) at its last forward, for sample b.
template <class T>
class ModelSpectralNorm {
 public:
  Status plan(nn::Model<T>& m, MemoryPlan& plan) noexcept;
  Status bind(const Arena& arena) noexcept;
  // batch: the Model's last forward batch (the Model checks it). Errors as ModuleSpectralNorm.
  Status estimate(std::size_t batch, std::size_t sample, const PowerOptions& options, SpectralReport* out) noexcept;
  void reset() noexcept;
  // The top right singular vector of the last estimate (in_size entries, unit norm).
  const T* right_vector() const noexcept { return v_.data; }
  T* right_vector() noexcept { return v_.data; }
  std::size_t in_size() const noexcept { return in_size_; }
  std::size_t out_size() const noexcept { return out_size_; }

 private:
  nn::Model<T>* m_ = nullptr;
  std::size_t in_size_ = 0, out_size_ = 0, max_batch_ = 0;
  bool bound_ = false;
  nn::Buffer<T> v_, u_, tangent_in_, grad_out_;
};

}  // namespace analysis
}  // namespace lipflow
