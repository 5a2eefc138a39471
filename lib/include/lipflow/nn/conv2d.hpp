// lipflow/nn/conv2d.hpp: the 2-D convolution y = C_K x + b (PAPER.md 6.2) on samples of shape
// (C_in, H, W), batch-major NCHW, with zero padding and strides, as torch.nn.Conv2d (dilation 1,
// groups 1). The kernel K is C_out x (C_in kh kw): PyTorch's (C_out, C_in, kh, kw) weight flattened,
// so that column (ci kh + i) kw + j holds tap (i, j) of input channel ci.
//   output    H_out = (H + 2 ph - kh) / sh + 1, W_out = (W + 2 pw - kw) / sw + 1 (floor, PyTorch's)
//   forward   per sample: im2col into the shared workspace, then Y_b = K cols_b (+ b per channel)
//             2 C_out (C_in kh kw) H_out W_out flops per sample
//   backward  per sample: dK += dY_b cols_b^T, db += row sums of dY_b, dX_b = col2im(K^T dY_b)
//             two GEMMs (one without dx), im2col recomputed from x (nothing is cached per sample)
//   jvp       J dx = C_K dx: the convolution of the tangent without bias
//   lipschitz sigma_max(C_K), global: power iteration on C_K and C_K^T (the backward-data path) for
//             the planned input size, warm-started from the last call; when it does not converge,
//             the reshaped-kernel bound sqrt(m_h m_w) sigma_max(K) (see kernel_bound()).
#pragma once

#include "lipflow/core/spectral.hpp"
#include "lipflow/nn/init.hpp"
#include "lipflow/nn/module.hpp"
#include "lipflow/nn/storage.hpp"

namespace lipflow {
namespace nn {

// The hyper-parameters of a convolution. Chainable setters keep call sites short:
//   Conv2dOptions(3, 16, 3).padding(1), Conv2dOptions(2, 4, 2, 3).stride(2, 1).padding(1, 0).no_bias()
// plan() checks them: channels, kernel extents and strides must be > 0 (invalid_argument naming
// the value), and the kernel must fit in the padded input (shape_mismatch).
struct Conv2dOptions {
  std::size_t in_channels = 0, out_channels = 0;
  std::size_t kernel_h = 1, kernel_w = 1;
  std::size_t stride_h = 1, stride_w = 1;
  std::size_t pad_h = 0, pad_w = 0;
  bool bias = true;
  InitSpec init;  // of K, fan_in = C_in kh kw (PyTorch's default: torch_default)

  Conv2dOptions() noexcept = default;
  Conv2dOptions(std::size_t in, std::size_t out, std::size_t k) noexcept
      : in_channels(in), out_channels(out), kernel_h(k), kernel_w(k) {}
  Conv2dOptions(std::size_t in, std::size_t out, std::size_t kh, std::size_t kw) noexcept
      : in_channels(in), out_channels(out), kernel_h(kh), kernel_w(kw) {}
  Conv2dOptions& stride(std::size_t s) noexcept { return stride(s, s); }
  Conv2dOptions& stride(std::size_t sh, std::size_t sw) noexcept {
    stride_h = sh;
    stride_w = sw;
    return *this;
  }
  Conv2dOptions& padding(std::size_t p) noexcept { return padding(p, p); }
  Conv2dOptions& padding(std::size_t ph, std::size_t pw) noexcept {
    pad_h = ph;
    pad_w = pw;
    return *this;
  }
  Conv2dOptions& no_bias() noexcept {
    bias = false;
    return *this;
  }
  Conv2dOptions& initializer(InitSpec spec) noexcept {
    init = spec;
    return *this;
  }
};

template <class T>
class Conv2d final : public Module<T> {
 public:
  explicit Conv2d(const Conv2dOptions& options) noexcept : options_(options) {}

  const char* kind() const noexcept override { return "conv2d"; }
  // Input: Shape::image(C_in, H, W) with C_in == options.in_channels; output
  // Shape::image(C_out, H_out, W_out). Plans K (and b), their gradients, the power-iteration vectors
  // (one input and one output sample, plus C_in kh kw + C_out for the kernel bound) and a workspace
  // of one sample's im2col matrix (C_in kh kw x H_out W_out) plus the largest GEMM workspace.
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  Status init(Rng& rng) noexcept override;
  Status forward(const T* x, std::size_t batch, T* y) noexcept override;
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override;
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override;
  // sigma_max of the convolution operator for the planned input size (global). Cost per power
  // iteration: one convolution and one transposed convolution of one sample; a cold call takes a few
  // hundred iterations at the lab's sizes (clustered top singular values), a warm call (weights
  // changed little since the last one) 2-3. Like Linear's, the value is the power iteration's
  // estimate from below, within its tolerance (1e-10 relative in double, 1e-6 per step in float).
  // The formula string says which value was returned: the power iteration, or kernel_bound() when it
  // did not converge within set_max_power_iterations() or gave a non-finite value (NaN weights).
  Lipschitz lipschitz() noexcept override;
  std::size_t param_count() const noexcept override { return options_.bias ? 2 : 1; }
  Param<T> param(std::size_t i) const noexcept override;
  // The power iterations' warm-start vectors (operator, then kernel), so that a resumed run's bounds
  // match too.
  std::size_t buffer_count() const noexcept override { return 2; }
  Param<T> buffer(std::size_t i) const noexcept override {
    return i == 0 ? buffer_param("conv2d.power_iteration", power_) : buffer_param("conv2d.kernel_power_iteration", kernel_power_);
  }

  // The cheap upper bound sqrt(m_h m_w) sigma_max(K reshaped C_out x C_in kh kw), where m_h (m_w)
  // is the largest number of (tap, output position) pairs that read one input row (column): at most
  // min(kh, H_out) for stride 1 and ceil(kh / sh) for stride sh (see conv2d.cpp for the proof).
  // For stride 1 and an input larger than the kernel this is the paper's sqrt(kh kw) ||K||_2.
  // Cost: a warm-started power iteration on K (C_out x C_in kh kw); if that does not converge,
  // ||K||_F replaces sigma_max(K) (still an upper bound). inf when not bound.
  double kernel_bound() noexcept;
  // Caps the power iterations of one lipschitz() call (default 5000; a training loop that tracks the
  // bound every step may want a few, relying on the warm start). Errors: invalid_argument for < 1.
  Status set_max_power_iterations(int max_iters) noexcept;
  // The tap multiplicities m_h, m_w of kernel_bound() for the planned input (0 before plan()).
  std::size_t multiplicity_h() const noexcept { return mult_h_; }
  std::size_t multiplicity_w() const noexcept { return mult_w_; }

  T* weight() const noexcept { return k_.value.data; }
  T* bias() const noexcept { return b_.value.data; }
  const Conv2dOptions& options() const noexcept { return options_; }
  // The last power iteration on the convolution operator behind lipschitz().
  const SpectralEstimate& spectral_estimate() const noexcept { return estimate_; }
  // The last power iteration on the reshaped kernel behind kernel_bound().
  const SpectralEstimate& kernel_estimate() const noexcept { return kernel_estimate_; }

 private:
  // True for a 1x1 kernel with stride 1 and no padding: the im2col matrix is the sample itself.
  bool pointwise() const noexcept;
  // cols (patch_ x pixels_out_) = im2col(x) of one sample; zeros where a tap reads the padding.
  Status im2col(const T* x, T* cols) const noexcept;
  // x (one sample, C_in H W) = col2im(cols): zero, then scatter-add every column entry to the input
  // pixel it was read from (the adjoint of im2col).
  Status col2im(const T* cols, T* x) const noexcept;
  // y = C_K x (+ b when with_bias) for one sample.
  Status convolve(const T* x, T* y, bool with_bias) noexcept;
  // dx = C_K^T dy for one sample (the transposed convolution).
  Status convolve_t(const T* dy, T* dx) noexcept;

  Conv2dOptions options_;
  std::size_t h_ = 0, w_ = 0, h_out_ = 0, w_out_ = 0;
  std::size_t patch_ = 0;       // C_in kh kw: the columns of K, the rows of the im2col matrix
  std::size_t pixels_out_ = 0;  // H_out W_out
  std::size_t cols_size_ = 0;   // elements of the workspace taken by the im2col matrix (padded to 64 B)
  std::size_t mult_h_ = 0, mult_w_ = 0;
  int max_power_iterations_ = 5000;
  ParamStorage<T> k_, b_;
  Buffer<T> power_;         // persistent power-iteration vectors on C_K: v (C_in H W), u (C_out H_out W_out)
  Buffer<T> kernel_power_;  // persistent power-iteration vectors on K: v (patch_), u (C_out)
  Workspace<T> work_;       // the im2col matrix of one sample, then the GEMM workspace
  SpectralEstimate estimate_, kernel_estimate_;
};

}  // namespace nn
}  // namespace lipflow
