// lipflow/analysis/jacobian.hpp: the explicit Jacobian of a module or a Model at its last forward,
// one sample at a time, built generically from jvp (columns) or from backward (rows), never written
// per module (DESIGN.md, "The module contract").
//
// Layout: numerator, J[i][j] = dy_i / dx_j, out_size x in_size, row-major (PyTorch's; the paper writes
// the transpose). For sample b of a batch, J is the (b, b) block of the batch Jacobian: the tangent (or
// the output gradient) is zero on every other sample. Samples are independent for every module except
// BatchNorm in training mode, where the other blocks are not zero and are not reported.
//
// Method: columns by jvp cost in_size jvp passes; rows by backward cost out_size backward passes; the
// automatic choice takes the smaller count (ties: jvp). Each pass runs over the whole batch of the last
// forward (a module acts at its cached point, so sample b cannot be run alone).
//
// SIDE EFFECT of the rows method: backward() is the vector-Jacobian product but also ADDS into the
// parameter gradients. Parameter gradients are modified; the training loop zeroes them before its next
// backward. For a Model, backward also replaces the Model's record of the last backward
// (layer_grad_output, input_grad): read gradient-flow telemetry before computing a Jacobian by rows.
//
// Memory: plan() declares the scratch (a basis tangent of max_batch x in_size, an output gradient of
// max_batch x out_size, and for a bare module their images) and, when asked, the matrix itself; no heap
// after bind().
#pragma once

#include <cstddef>
#include <cstdint>

#include "lipflow/core/memory.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/module.hpp"
#include "lipflow/nn/storage.hpp"

namespace lipflow {
namespace analysis {

enum class JacobianMethod : std::uint8_t {
  automatic,  // fewer passes of in_size (jvp) and out_size (backward)
  columns,    // in_size jvp passes
  rows,       // out_size backward passes (modifies parameter gradients, see above)
};

// The method automatic resolves to for these sizes.
inline JacobianMethod choose_jacobian_method(std::size_t in_size, std::size_t out_size) noexcept {
  return out_size < in_size ? JacobianMethod::rows : JacobianMethod::columns;
}

// The explicit per-sample Jacobian of a bare module (planned before this estimator is planned).
template <class T>
class ModuleJacobian {
 public:
  // Declares the scratch for m's planned shapes and maximum batch (or for batches up to max_batch,
  // when it is not 0: the scratch is 2 max_batch (in_size + out_size) entries); own_matrix also plans
  // the out_size x in_size matrix (matrix() after bind). Errors: invalid_argument when m is not planned
  // or max_batch exceeds its maximum batch, the plan's errors. Call once.
  Status plan(nn::Module<T>& m, MemoryPlan& plan, bool own_matrix = false, std::size_t max_batch = 0) noexcept;
  Status bind(const Arena& arena) noexcept;

  // J of sample `sample` at the point of m's last forward, which ran on x (batch samples) and gave y
  // (y is read by backward only). jac: out_size * in_size entries (caller storage, or matrix()).
  // Errors: not_bound, null_pointer, invalid_argument (sample >= batch, batch > max_batch), and the
  // module's own errors (e.g. a batch other than its last forward's). Cost: min(in, out) passes (see
  // the header comment) plus O(batch (in + out)) per pass for the basis and the copy.
  Status compute(const T* x, const T* y, std::size_t batch, std::size_t sample, T* jac,
                 JacobianMethod method = JacobianMethod::automatic) noexcept;

  T* matrix() const noexcept { return matrix_.data; }
  std::size_t in_size() const noexcept { return in_size_; }
  std::size_t out_size() const noexcept { return out_size_; }

 private:
  nn::Module<T>* m_ = nullptr;
  std::size_t in_size_ = 0, out_size_ = 0, max_batch_ = 0;
  bool bound_ = false;
  nn::Buffer<T> basis_in_, image_out_, basis_out_, image_in_, matrix_;
};

// The explicit per-sample Jacobian of a Model (planned before this estimator is planned), through
// Model::jvp (columns) or Model::backward (rows). Same contract as ModuleJacobian; the point is the
// Model's last forward, and the Model keeps its own input and output, so none are passed.
template <class T>
class ModelJacobian {
 public:
  Status plan(nn::Model<T>& m, MemoryPlan& plan, bool own_matrix = false) noexcept;
  Status bind(const Arena& arena) noexcept;
  // batch must be the Model's last forward batch (the Model checks it).
  Status compute(std::size_t batch, std::size_t sample, T* jac,
                 JacobianMethod method = JacobianMethod::automatic) noexcept;

  T* matrix() const noexcept { return matrix_.data; }
  std::size_t in_size() const noexcept { return in_size_; }
  std::size_t out_size() const noexcept { return out_size_; }

 private:
  nn::Model<T>* m_ = nullptr;
  std::size_t in_size_ = 0, out_size_ = 0, max_batch_ = 0;
  bool bound_ = false;
  nn::Buffer<T> basis_in_, basis_out_, matrix_;
};

}  // namespace analysis
}  // namespace lipflow
