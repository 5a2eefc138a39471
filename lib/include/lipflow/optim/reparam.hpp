// lipflow/optim/reparam.hpp: weight reparametrizations (PAPER.md 6.3.5 and 7.1). The effective weight W
// of a Linear or Conv2d (rows x cols: out x in, or C_out x C_in kh kw) becomes a function of parameters
// that the optimizer updates instead of W:
//
//   WeightNorm              W_i = g_i v_i / ||v_i||  (per output row)
//                           torch.nn.utils.weight_norm(module, dim=0), PyTorch 1.13: no eps, so a zero
//                           row of v gives NaN as in PyTorch. Parameters g (rows), v (rows x cols),
//                           derived from the module's weight as PyTorch does: g_i = ||W_i||, v = W.
//   WeightStandardization   W_i = (V_i - mean(V_i)) / sqrt(var(V_i) + eps)  (per output row)
//                           PyTorch has no such method: the convention is timm's StdConv2d (Qiao et al.,
//                           "Weight Standardization", as used in BiT with GroupNorm): biased variance
//                           (divided by cols), eps inside the square root, default eps 1e-6. Parameter
//                           V (rows x cols), derived from the weight: V = W.
//   SpectralNorm            W = W_orig / sigma,  sigma = u^T W_orig v
//                           torch.nn.utils.parametrizations.spectral_norm (PyTorch 1.13): before the
//                           weight is computed in training mode, n_power_iterations (default 1) of
//                             u = normalize(W_orig v),  v = normalize(W_orig^T u),
//                           where normalize(x) = x / max(||x||, eps) (F.normalize, eps default 1e-12);
//                           none in evaluation mode. u (rows) and v (cols) persist across steps; the
//                           gradient treats them as constants, as PyTorch's (they are detached):
//                             dL/dW_orig = dL/dW / sigma - (<dL/dW, W_orig> / sigma^2) u v^T.
//                           Derived from the weight as PyTorch does at registration: W_orig = W, u and v
//                           drawn N(0, 1) (from lipflow's Rng, not PyTorch's), normalized, then 15 power
//                           iterations. Parameter W_orig (rows x cols); buffers u, v.
//
// A reparametrization wraps its module: put the wrapper, not the module, in a Model (or call it in
// place of the module). Its forward() calls before_forward() (the effective weight into the module's
// own weight memory) then the module's forward; its backward() calls the module's backward then
// after_backward(), which ADDS the gradients of the reparametrization's parameters (the module
// contract: micro-batches accumulate) and consumes the module's weight gradient (sets it to zero), so
// that every forward/backward pair contributes exactly once even when the effective weight changes
// between micro-batches (SpectralNorm iterates at every training forward, as PyTorch does at every
// access of the weight). Its parameters are its own, then the module's other parameters (the bias),
// never the module's raw weight: Optimizer::add(model.layers()) or add(wrapper) therefore updates g and
// v (or V, or W_orig) and the bias, and zero_grad() clears them. child_count() is 0 so that nothing
// reaches the raw weight. jvp() and lipschitz() are the module's at the last effective weight.
//
// Lifecycle: plan() plans the module then the reparametrization (parameters, gradients, and a per-row
// cache or the u, v buffers); bind() binds both and zeroes the module's weight gradient; init(rng)
// initializes the module then calls reset_from_weight(rng). After loading weights into the module
// directly, call reset_from_weight() again. No heap after bind.
//
// Costs (rows x cols weight, n = rows cols): before_forward 2n (WeightNorm: norms then scaling),
// 3n (WeightStandardization: two-pass mean/variance then scaling), (4 k + 3) n (SpectralNorm: k power
// iterations, sigma, division); after_backward one fused pass over (grad, dW, v or W) per row after a
// per-row reduction (2n-3n in all; SpectralNorm one more n for <dW, W_orig>). These are two or three
// passes, not one: every method needs a reduction over the row (a norm, the moments, or sigma) before
// the element-wise pass can run.
//
// Errors (plan): invalid_argument for a bad hyper-parameter (eps <= 0 or not finite,
// n_power_iterations < 1) naming it, out_of_range for a weight index past the module's parameters,
// invalid_argument when the indexed parameter is not a weight matrix (a bias or a normalization gain,
// an empty one, or rows x cols != size), and the module's own plan errors.
#pragma once

#include <cstddef>

#include "lipflow/nn/module.hpp"
#include "lipflow/nn/storage.hpp"

namespace lipflow {
namespace optim {

template <class T>
class Reparam : public nn::Module<T> {
 public:
  // The module's parameters from which the effective weight is reset, and whose memory receives it.
  // target must outlive the wrapper; weight_index is the weight's index in target.param() (0 for Linear
  // and Conv2d).
  explicit Reparam(nn::Module<T>& target, std::size_t weight_index = 0) noexcept
      : target_(&target), index_(weight_index) {}

  Status plan(const nn::Shape& in, std::size_t max_batch, MemoryPlan& plan, nn::Shape* out) noexcept final;
  Status bind(const Arena& arena) noexcept final;
  // target.init(rng), then reset_from_weight(rng).
  Status init(Rng& rng) noexcept final;
  // before_forward(), then the module's forward (cost: the module's plus before_forward()).
  Status forward(const T* x, std::size_t batch, T* y) noexcept final;
  // The module's backward, then after_backward(): parameter gradients are added.
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept final;
  // The module's jvp at the effective weight of the last forward.
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept final;
  // The module's bound for the effective weight of the last forward.
  nn::Lipschitz lipschitz() noexcept final { return target_->lipschitz(); }
  std::size_t param_count() const noexcept final;
  // Own parameters first (own_param_count() of them), then the module's others in their order.
  nn::Param<T> param(std::size_t i) const noexcept final;
  // Training (SpectralNorm iterates) or evaluation (it does not); passed on to the module.
  void set_training(bool training) noexcept final {
    training_ = training;
    target_->set_training(training);
  }

  // Computes the effective weight into the module's weight memory from the current parameters.
  // Errors: not_bound.
  virtual Status before_forward() noexcept = 0;
  // Adds dL/d(own parameters), from the module's weight gradient dL/dW at the last before_forward(),
  // into the own gradients, and zeroes dL/dW. Errors: not_bound, or not_bound when no before_forward()
  // has run since bind.
  virtual Status after_backward() noexcept = 0;
  // Derives the own parameters from the module's current weight (the registration in PyTorch); rng
  // draws what needs drawing (SpectralNorm's u and v). Errors: not_bound.
  virtual Status reset_from_weight(Rng& rng) noexcept = 0;
  virtual std::size_t own_param_count() const noexcept = 0;

  nn::Module<T>& target() const noexcept { return *target_; }
  std::size_t rows() const noexcept { return rows_; }
  std::size_t cols() const noexcept { return cols_; }
  bool training() const noexcept { return training_; }

 protected:
  // The reparametrization's hyper-parameters (called first by plan()).
  virtual Status validate() const noexcept { return Status::success(); }
  virtual nn::Param<T> own_param(std::size_t i) const noexcept = 0;
  // Declares the own memory for a rows x cols weight (rows_, cols_ already set).
  virtual Status plan_own(MemoryPlan& plan) noexcept = 0;
  virtual Status bind_own(const Arena& arena) noexcept = 0;
  // The module's weight (values = effective W, grad = dL/dW), valid after bind().
  const nn::Param<T>& weight() const noexcept { return weight_; }
  Status check_bound(const char* where) const noexcept {
    return this->bound_ ? Status::success() : Status(Code::not_bound, where);
  }

  bool forwarded_ = false;  // a before_forward() has run since bind (the cache is valid)

 private:
  nn::Module<T>* target_;
  std::size_t index_;
  std::size_t rows_ = 0, cols_ = 0;
  nn::Param<T> weight_;
  bool training_ = true;
};

// ---------------------------------------------------------------- weight normalization
template <class T>
class WeightNorm final : public Reparam<T> {
 public:
  explicit WeightNorm(nn::Module<T>& target, std::size_t weight_index = 0) noexcept : Reparam<T>(target, weight_index) {}
  const char* kind() const noexcept override { return "weight_norm"; }
  // W_i = v_i (g_i / ||v_i||); caches ||v_i||. Cost 2n, no heap.
  Status before_forward() noexcept override;
  // grad_g_i += <dW_i, v_i> / ||v_i||;  grad_v_i += (g_i / ||v_i||) (dW_i - (<dW_i, v_i> / ||v_i||^2) v_i);
  // dW = 0. Cost 2n (a dot, then one fused pass), no heap.
  Status after_backward() noexcept override;
  // g_i = ||W_i||, v = W (exactly torch.nn.utils.weight_norm's registration). rng unused.
  Status reset_from_weight(Rng& rng) noexcept override;
  std::size_t own_param_count() const noexcept override { return 2; }
  // g: rows values (as a rows x 1 matrix), flagged kParamNormGain (no decay by default).
  T* g() const noexcept { return g_.value.data; }
  // v: the direction, rows x cols, flagged kParamDecay.
  T* v() const noexcept { return v_.value.data; }

 protected:
  nn::Param<T> own_param(std::size_t i) const noexcept override { return i == 0 ? g_.param : v_.param; }
  Status plan_own(MemoryPlan& plan) noexcept override;
  Status bind_own(const Arena& arena) noexcept override;

 private:
  nn::ParamStorage<T> g_, v_;
  nn::Buffer<T> norms_;  // ||v_i|| at the last before_forward()
};

// ---------------------------------------------------------------- weight standardization
struct WeightStandardizationOptions {
  double eps = 1e-6;  // > 0, inside the square root (timm's StdConv2d default)
};

template <class T>
class WeightStandardization final : public Reparam<T> {
 public:
  explicit WeightStandardization(nn::Module<T>& target, const WeightStandardizationOptions& o = {},
                                 std::size_t weight_index = 0) noexcept
      : Reparam<T>(target, weight_index), o_(o) {}
  const char* kind() const noexcept override { return "weight_standardization"; }
  // W_i = (V_i - mean_i) / sqrt(var_i + eps), population variance; caches 1 / sqrt(var_i + eps).
  // Cost 3n (two-pass moments, then one pass), no heap.
  Status before_forward() noexcept override;
  // With s_i = sqrt(var_i + eps) and W the effective weight (the standardized rows):
  // grad_V_i += (dW_i - mean(dW_i) - W_i mean(dW_i . W_i)) / s_i;  dW = 0. Cost 3n, no heap.
  Status after_backward() noexcept override;
  // V = W. rng unused.
  Status reset_from_weight(Rng& rng) noexcept override;
  std::size_t own_param_count() const noexcept override { return 1; }
  T* v() const noexcept { return v_.value.data; }
  const WeightStandardizationOptions& options() const noexcept { return o_; }

 protected:
  Status validate() const noexcept override;
  nn::Param<T> own_param(std::size_t /*i*/) const noexcept override { return v_.param; }
  Status plan_own(MemoryPlan& plan) noexcept override;
  Status bind_own(const Arena& arena) noexcept override;

 private:
  WeightStandardizationOptions o_;
  nn::ParamStorage<T> v_;
  nn::Buffer<T> moments_;  // rows means, then rows variances turned into 1 / sqrt(var + eps)
};

// ---------------------------------------------------------------- spectral normalization
struct SpectralNormOptions {
  int n_power_iterations = 1;  // >= 1, per training forward (PyTorch's default)
  double eps = 1e-12;          // > 0, in the normalization of u and v (PyTorch's default)
};

template <class T>
class SpectralNorm final : public Reparam<T> {
 public:
  explicit SpectralNorm(nn::Module<T>& target, const SpectralNormOptions& o = {}, std::size_t weight_index = 0) noexcept
      : Reparam<T>(target, weight_index), o_(o) {}
  const char* kind() const noexcept override { return "spectral_norm"; }
  // In training mode, n_power_iterations updates of u and v; then sigma = u^T W_orig v and
  // W = W_orig / sigma. Cost (4 k + 3) n, no heap.
  Status before_forward() noexcept override;
  // grad_orig += dW / sigma - (<dW, W_orig> / sigma^2) u v^T with u, v, sigma of the last
  // before_forward(); dW = 0. Cost 3n, no heap.
  Status after_backward() noexcept override;
  // W_orig = W; u, v ~ N(0, 1) from rng, normalized; then 15 power iterations (PyTorch's registration).
  Status reset_from_weight(Rng& rng) noexcept override;
  std::size_t own_param_count() const noexcept override { return 1; }
  // u then v as one persistent buffer (rows + cols entries), as PyTorch's _u and _v.
  std::size_t buffer_count() const noexcept override { return 1; }
  nn::Param<T> buffer(std::size_t /*i*/) const noexcept override { return nn::buffer_param("spectral_norm.uv", uv_); }
  T* weight_orig() const noexcept { return orig_.value.data; }
  // The persistent power-iteration vectors (rows and cols entries): write them to start from chosen
  // vectors (they are used as given, not normalized).
  T* u() const noexcept { return uv_.data; }
  T* v() const noexcept { return uv_.data == nullptr ? nullptr : uv_.data + this->rows(); }
  // sigma of the last before_forward() (0 before any).
  T sigma() const noexcept { return sigma_; }
  const SpectralNormOptions& options() const noexcept { return o_; }

 protected:
  Status validate() const noexcept override;
  nn::Param<T> own_param(std::size_t /*i*/) const noexcept override { return orig_.param; }
  Status plan_own(MemoryPlan& plan) noexcept override;
  Status bind_own(const Arena& arena) noexcept override;

 private:
  // k power iterations on W_orig, updating u and v in place.
  Status power_method(int k) noexcept;

  SpectralNormOptions o_;
  nn::ParamStorage<T> orig_;
  nn::Buffer<T> uv_;  // u (rows) then v (cols): persistent, as PyTorch's _u and _v buffers
  T sigma_ = T(0);
};

}  // namespace optim
}  // namespace lipflow
