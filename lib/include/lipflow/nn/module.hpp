// lipflow/nn/module.hpp: the module contract (DESIGN.md, "The module contract").
//
// A module maps a batch of samples of one shape to a batch of samples of another. Its life:
//   plan(in, max_batch, plan, &out)  declares parameters, gradients, caches and workspace, checks the
//                                    input shape and reports the output shape;
//   bind(arena)                      takes that memory from the bound arena;
//   init(rng)                        initializes the parameters;
//   forward / backward / jvp         run, for any batch <= max_batch, without touching the heap.
//
// Data are batch-major and contiguous: sample b of x starts at x + b * in.size(). forward() keeps in
// the module's own cache what backward() and jvp() need; both act at the point of the last forward,
// and are also given that forward's x (and y for backward) so that no module copies its input.
//
// Jacobians are in numerator layout, J[i][j] = dy_i / dx_j (PyTorch's; the paper writes the
// transpose). backward() computes dx = J^T dy (a vector-Jacobian product) and ADDS the parameter
// gradients into the gradient buffers (so micro-batches accumulate; zero them with zero_grad()).
// jvp() computes dy = J dx, where J is the Jacobian with respect to the input only (parameters fixed).
//
// Virtual dispatch is used, RTTI and exceptions are not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "lipflow/core/memory.hpp"
#include "lipflow/core/rng.hpp"
#include "lipflow/core/status.hpp"

namespace lipflow {
namespace nn {

// The shape of one sample: (features), (tokens, width) or (channels, height, width).
struct Shape {
  int rank = 0;
  std::size_t dims[3] = {0, 0, 0};

  static Shape vec(std::size_t n) { return Shape{1, {n, 0, 0}}; }
  static Shape tokens(std::size_t n, std::size_t width) { return Shape{2, {n, width, 0}}; }
  static Shape image(std::size_t c, std::size_t h, std::size_t w) { return Shape{3, {c, h, w}}; }

  std::size_t size() const noexcept {
    std::size_t n = rank > 0 ? 1 : 0;
    for (int d = 0; d < rank; ++d) n *= dims[d];
    return n;
  }
  std::size_t last() const noexcept { return rank > 0 ? dims[rank - 1] : 0; }
  bool valid() const noexcept {
    if (rank < 1 || rank > 3) return false;
    for (int d = 0; d < rank; ++d)
      if (dims[d] == 0) return false;
    return true;
  }
  bool operator==(const Shape& o) const noexcept {
    if (rank != o.rank) return false;
    for (int d = 0; d < rank; ++d)
      if (dims[d] != o.dims[d]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const noexcept { return !(*this == o); }
};

// A shape error names the module and the shape it got: value = the offending extent, limit = the
// expected one.
inline Status shape_error(const char* where, std::size_t got, std::size_t expected) noexcept {
  return Status(Code::shape_mismatch, where, static_cast<long long>(got), static_cast<long long>(expected));
}

// What a module can say about its Lipschitz constant in the 2-norm.
enum class Scope : std::uint8_t {
  global,     // `global` holds for every input (and `local` equals it or is tighter)
  local,      // only `local`, at the point of the last forward, is useful; `global` may be huge or inf
  unbounded,  // no finite bound is known analytically (e.g. dot-product attention)
};
const char* scope_name(Scope s) noexcept;

struct Lipschitz {
  Scope scope = Scope::unbounded;
  double global = std::numeric_limits<double>::infinity();  // for all inputs; inf when none
  double local = std::numeric_limits<double>::infinity();   // at the last forward; inf when unknown
  const char* formula = "";                                  // for display, e.g. "sigma_max(W)"
};

enum ParamFlags : std::uint8_t {
  kParamDecay = 1,     // weight decay applies by default
  kParamNormGain = 2,  // a normalization gain (gamma, g)
  kParamBias = 4,      // a bias or shift (b, beta)
};

template <class T>
struct Param {
  const char* name = "";
  T* value = nullptr;
  T* grad = nullptr;
  std::size_t size = 0;
  std::size_t rows = 0, cols = 0;  // as a matrix (rows x cols = size): units are rows (AGC, LARS)
  std::uint8_t flags = 0;
};

template <class T>
class Module {
 public:
  virtual ~Module() = default;

  // A short stable name of the module kind ("linear", "layer_norm"...).
  virtual const char* kind() const noexcept = 0;

  // Declares memory for inputs of shape `in` and batches of up to max_batch samples, and writes the
  // output shape. Errors: shape_mismatch naming the module and the shapes, invalid_argument for
  // max_batch == 0, and the plan's own errors. Call once.
  virtual Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept = 0;
  virtual Status bind(const Arena& arena) noexcept = 0;
  virtual Status init(Rng& rng) noexcept = 0;

  virtual Status forward(const T* x, std::size_t batch, T* y) noexcept = 0;
  // dx may be null when the input gradient is not needed.
  virtual Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept = 0;
  virtual Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept = 0;

  // The analytic bound. Non-const: it may run a warm-started power iteration on the weights.
  virtual Lipschitz lipschitz() noexcept = 0;

  // The module's OWN parameters; those of its children are reached through child(), so that an
  // optimizer walking the tree visits each parameter exactly once.
  virtual std::size_t param_count() const noexcept { return 0; }
  virtual Param<T> param(std::size_t /*i*/) const noexcept { return Param<T>(); }

  // The module's OWN persistent state that is not a parameter (BatchNorm's running statistics, the
  // warm-start vectors of a power iteration): what a checkpoint saves besides the parameters. Each is
  // a Param with grad == null and flags == 0; children's are reached through child().
  virtual std::size_t buffer_count() const noexcept { return 0; }
  virtual Param<T> buffer(std::size_t /*i*/) const noexcept { return Param<T>(); }

  // Training (batch statistics) or evaluation (running statistics) for BatchNorm; others ignore it.
  virtual void set_training(bool /*training*/) noexcept {}

  // Composite modules (FFN, residual, transformer block) expose their parts to the analysis layer.
  virtual std::size_t child_count() const noexcept { return 0; }
  virtual Module* child(std::size_t /*i*/) noexcept { return nullptr; }

  const Shape& input_shape() const noexcept { return in_; }
  const Shape& output_shape() const noexcept { return out_; }
  std::size_t max_batch() const noexcept { return max_batch_; }

 protected:
  // Common checks of forward/backward/jvp arguments: bound, 0 < batch <= max_batch, a and b non-null.
  Status check_run(const char* where, std::size_t batch, const void* a, const void* b) const noexcept {
    if (!bound_) return Status(Code::not_bound, where);
    if (batch == 0 || batch > max_batch_)
      return Status(Code::invalid_argument, where, static_cast<long long>(batch), static_cast<long long>(max_batch_));
    if (a == nullptr || b == nullptr) return Status(Code::null_pointer, where);
    return Status::success();
  }
  // Records the planned shapes (call at the end of a successful plan()).
  void set_planned(const Shape& in, const Shape& out, std::size_t max_batch) noexcept {
    in_ = in;
    out_ = out;
    max_batch_ = max_batch;
  }

  Shape in_, out_;
  std::size_t max_batch_ = 0;
  bool bound_ = false;  // set by bind() once every pointer is taken
};

// Sets every parameter gradient of a module to zero.
template <class T>
Status zero_grad(Module<T>& m) noexcept;

}  // namespace nn
}  // namespace lipflow
