#include "lipflow/nn/conv2d.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace lipflow {
namespace nn {

using kernels::Trans;

namespace {

// a * b into *out, false on overflow.
bool mul(std::size_t a, std::size_t b, std::size_t* out) noexcept {
  if (a != 0 && b > std::numeric_limits<std::size_t>::max() / a) return false;
  *out = a * b;
  return true;
}

// The output positions o in [0, n_out) whose input index o * s + tap - pad lies in [0, n): the
// half-open range [*lo, *hi) (empty when lo == hi). Signed arithmetic on small extents.
void valid_range(std::size_t n, std::size_t n_out, std::size_t s, std::size_t tap, std::size_t pad, std::size_t* lo,
                 std::size_t* hi) noexcept {
  const std::ptrdiff_t off = static_cast<std::ptrdiff_t>(tap) - static_cast<std::ptrdiff_t>(pad);  // input of o = 0
  const std::ptrdiff_t st = static_cast<std::ptrdiff_t>(s);
  std::ptrdiff_t first = 0;  // smallest o with o s + off >= 0
  if (off < 0) first = (-off + st - 1) / st;
  std::ptrdiff_t last_in = static_cast<std::ptrdiff_t>(n) - 1 - off;  // o s <= n - 1 - off
  std::ptrdiff_t end = last_in < 0 ? 0 : last_in / st + 1;
  end = std::min<std::ptrdiff_t>(end, static_cast<std::ptrdiff_t>(n_out));
  first = std::min(first, end);
  *lo = static_cast<std::size_t>(first);
  *hi = static_cast<std::size_t>(end);
}

// The largest number of (tap, output position) pairs that read one input index along one axis:
// max over u in [0, n) of #{(i, o) : 0 <= i < k, 0 <= o < n_out, o s + i - pad = u}. For a fixed u,
// o fixes i, and the valid i are those congruent to u + pad modulo s, so the count is at most
// ceil(k / s) and at most n_out. O(n k) at plan time.
std::size_t tap_multiplicity(std::size_t n, std::size_t n_out, std::size_t k, std::size_t s,
                             std::size_t pad) noexcept {
  std::size_t best = 0;
  for (std::size_t u = 0; u < n; ++u) {
    std::size_t count = 0;
    for (std::size_t i = 0; i < k; ++i) {
      const std::size_t shifted = u + pad;  // = o s + i
      if (shifted >= i && (shifted - i) % s == 0 && (shifted - i) / s < n_out) ++count;
    }
    best = std::max(best, count);
  }
  return best;
}

}  // namespace

template <class T>
bool Conv2d<T>::pointwise() const noexcept {
  const Conv2dOptions& o = options_;
  return o.kernel_h == 1 && o.kernel_w == 1 && o.stride_h == 1 && o.stride_w == 1 && o.pad_h == 0 && o.pad_w == 0;
}

template <class T>
Status Conv2d<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept {
  const Conv2dOptions& o = options_;
  if (out == nullptr) return Status(Code::null_pointer, "conv2d.plan: out");
  if (o.in_channels == 0) return Status(Code::invalid_argument, "conv2d: in channels", 0, 1);
  if (o.out_channels == 0) return Status(Code::invalid_argument, "conv2d: out channels", 0, 1);
  if (o.kernel_h == 0) return Status(Code::invalid_argument, "conv2d: kernel height", 0, 1);
  if (o.kernel_w == 0) return Status(Code::invalid_argument, "conv2d: kernel width", 0, 1);
  if (o.stride_h == 0) return Status(Code::invalid_argument, "conv2d: stride height", 0, 1);
  if (o.stride_w == 0) return Status(Code::invalid_argument, "conv2d: stride width", 0, 1);
  if (max_batch == 0) return Status(Code::invalid_argument, "conv2d.plan: max_batch", 0, 1);
  if (in.rank != 3) return shape_error("conv2d.plan: input rank (C_in, H, W)", static_cast<std::size_t>(in.rank), 3);
  if (in.dims[0] != o.in_channels) return shape_error("conv2d.plan: input channels", in.dims[0], o.in_channels);
  if (in.dims[1] == 0) return shape_error("conv2d.plan: input height", 0, 1);
  if (in.dims[2] == 0) return shape_error("conv2d.plan: input width", 0, 1);
  const std::size_t big = std::numeric_limits<std::size_t>::max() / 4;
  if (o.pad_h > big || in.dims[1] > big) return Status(Code::invalid_argument, "conv2d: padding height", (long long)o.pad_h);
  if (o.pad_w > big || in.dims[2] > big) return Status(Code::invalid_argument, "conv2d: padding width", (long long)o.pad_w);
  h_ = in.dims[1];
  w_ = in.dims[2];
  const std::size_t padded_h = h_ + 2 * o.pad_h, padded_w = w_ + 2 * o.pad_w;
  if (o.kernel_h > padded_h) return shape_error("conv2d.plan: kernel height > padded input height", o.kernel_h, padded_h);
  if (o.kernel_w > padded_w) return shape_error("conv2d.plan: kernel width > padded input width", o.kernel_w, padded_w);
  h_out_ = (padded_h - o.kernel_h) / o.stride_h + 1;
  w_out_ = (padded_w - o.kernel_w) / o.stride_w + 1;
  std::size_t kk = 0, out_size = 0;
  if (!mul(o.kernel_h, o.kernel_w, &kk) || !mul(o.in_channels, kk, &patch_) || !mul(h_out_, w_out_, &pixels_out_) ||
      !mul(o.out_channels, pixels_out_, &out_size) || !mul(patch_, pixels_out_, &cols_size_) || in.size() == 0)
    return Status(Code::invalid_argument, "conv2d.plan: sizes overflow");
  // The im2col matrix first in the workspace, rounded up so that the GEMM workspace after it stays
  // 64-byte aligned; none for a pointwise convolution (the sample is its own im2col matrix).
  const std::size_t per_line = MemoryPlan::kAlignment / sizeof(T);
  cols_size_ = pointwise() ? 0 : (cols_size_ + per_line - 1) / per_line * per_line;
  mult_h_ = tap_multiplicity(h_, h_out_, o.kernel_h, o.stride_h, o.pad_h);
  mult_w_ = tap_multiplicity(w_, w_out_, o.kernel_w, o.stride_w, o.pad_w);

  LIPFLOW_TRY(k_.plan(plan, "conv2d.weight", o.out_channels, patch_, kParamDecay));
  if (o.bias) LIPFLOW_TRY(b_.plan(plan, "conv2d.bias", 1, o.out_channels, kParamBias));
  if (in.size() > std::numeric_limits<std::size_t>::max() - out_size)
    return Status(Code::invalid_argument, "conv2d.plan: sizes overflow");
  LIPFLOW_TRY(power_.plan(plan, "conv2d.power_iteration", MemoryKind::scratch, in.size() + out_size));
  LIPFLOW_TRY(kernel_power_.plan(plan, "conv2d.kernel_power_iteration", MemoryKind::scratch, patch_ + o.out_channels));
  const std::size_t c_out = o.out_channels;
  const std::size_t gemm_ws = std::max({kernels::gemm_workspace<T>(c_out, pixels_out_, patch_),    // Y = K cols
                                        kernels::gemm_workspace<T>(c_out, patch_, pixels_out_),    // dK += dY cols^T
                                        kernels::gemm_workspace<T>(patch_, pixels_out_, c_out)});  // col = K^T dY
  if (gemm_ws > std::numeric_limits<std::size_t>::max() / sizeof(T) - cols_size_)
    return Status(Code::invalid_argument, "conv2d.plan: sizes overflow");
  LIPFLOW_TRY(plan.request_workspace((cols_size_ + gemm_ws) * sizeof(T)));
  const Shape y = Shape::image(c_out, h_out_, w_out_);
  this->set_planned(in, y, max_batch);
  *out = y;
  return Status::success();
}

template <class T>
Status Conv2d<T>::bind(const Arena& arena) noexcept {
  LIPFLOW_TRY(k_.bind(arena));
  if (options_.bias) LIPFLOW_TRY(b_.bind(arena));
  LIPFLOW_TRY(power_.bind(arena));
  LIPFLOW_TRY(kernel_power_.bind(arena));
  LIPFLOW_TRY(work_.bind(arena));
  if (work_.size < cols_size_)  // im2col writes without a check of its own
    return Status(Code::buffer_too_small, "conv2d.bind: workspace", (long long)work_.size, (long long)cols_size_);
  LIPFLOW_TRY(kernels::fill<T>(power_.size, T(0), power_.data, 1));  // cold starts on first use
  LIPFLOW_TRY(kernels::fill<T>(kernel_power_.size, T(0), kernel_power_.data, 1));
  this->bound_ = true;
  return Status::success();
}

template <class T>
Status Conv2d<T>::init(Rng& rng) noexcept {
  if (!this->bound_) return Status(Code::not_bound, "conv2d.init");
  LIPFLOW_TRY(init_weight<T>(options_.init, k_.value.data, options_.out_channels, patch_, rng, kernel_power_.data));
  if (options_.bias) LIPFLOW_TRY(init_bias<T>(b_.value.data, options_.out_channels, patch_, rng));
  LIPFLOW_TRY(kernels::fill<T>(power_.size, T(0), power_.data, 1));
  return kernels::fill<T>(kernel_power_.size, T(0), kernel_power_.data, 1);
}

template <class T>
Status Conv2d<T>::im2col(const T* x, T* cols) const noexcept {
  const Conv2dOptions& o = options_;
  const std::ptrdiff_t sw = static_cast<std::ptrdiff_t>(o.stride_w);
  for (std::size_t ci = 0; ci < o.in_channels; ++ci)
    for (std::size_t i = 0; i < o.kernel_h; ++i)
      for (std::size_t j = 0; j < o.kernel_w; ++j) {
        T* row = cols + ((ci * o.kernel_h + i) * o.kernel_w + j) * pixels_out_;
        std::size_t oh_lo = 0, oh_hi = 0, ow_lo = 0, ow_hi = 0;
        valid_range(h_, h_out_, o.stride_h, i, o.pad_h, &oh_lo, &oh_hi);
        valid_range(w_, w_out_, o.stride_w, j, o.pad_w, &ow_lo, &ow_hi);
        if (ow_lo == ow_hi) oh_hi = oh_lo;  // this tap reads only padding in every output row
        // Output rows whose tap row lies in the padding are contiguous runs at both ends: one fill each.
        if (oh_lo > 0) LIPFLOW_TRY(kernels::fill<T>(oh_lo * w_out_, T(0), row, 1));
        if (oh_hi < h_out_) LIPFLOW_TRY(kernels::fill<T>((h_out_ - oh_hi) * w_out_, T(0), row + oh_hi * w_out_, 1));
        for (std::size_t oh = oh_lo; oh < oh_hi; ++oh) {
          T* dst = row + oh * w_out_;
          const std::size_t ih = oh * o.stride_h + i - o.pad_h, iw = ow_lo * o.stride_w + j - o.pad_w;
          if (ow_lo > 0) LIPFLOW_TRY(kernels::fill<T>(ow_lo, T(0), dst, 1));
          LIPFLOW_TRY(kernels::copy<T>(ow_hi - ow_lo, x + (ci * h_ + ih) * w_ + iw, sw, dst + ow_lo, 1));
          if (ow_hi < w_out_) LIPFLOW_TRY(kernels::fill<T>(w_out_ - ow_hi, T(0), dst + ow_hi, 1));
        }
      }
  return Status::success();
}

template <class T>
Status Conv2d<T>::col2im(const T* cols, T* x) const noexcept {
  const Conv2dOptions& o = options_;
  const std::ptrdiff_t sw = static_cast<std::ptrdiff_t>(o.stride_w);
  LIPFLOW_TRY(kernels::fill<T>(o.in_channels * h_ * w_, T(0), x, 1));
  for (std::size_t ci = 0; ci < o.in_channels; ++ci)
    for (std::size_t i = 0; i < o.kernel_h; ++i)
      for (std::size_t j = 0; j < o.kernel_w; ++j) {
        const T* row = cols + ((ci * o.kernel_h + i) * o.kernel_w + j) * pixels_out_;
        std::size_t oh_lo = 0, oh_hi = 0, ow_lo = 0, ow_hi = 0;
        valid_range(h_, h_out_, o.stride_h, i, o.pad_h, &oh_lo, &oh_hi);
        valid_range(w_, w_out_, o.stride_w, j, o.pad_w, &ow_lo, &ow_hi);
        if (ow_lo == ow_hi) continue;
        for (std::size_t oh = oh_lo; oh < oh_hi; ++oh) {
          const std::size_t ih = oh * o.stride_h + i - o.pad_h, iw = ow_lo * o.stride_w + j - o.pad_w;
          LIPFLOW_TRY(kernels::axpy<T>(ow_hi - ow_lo, T(1), row + oh * w_out_ + ow_lo, 1,
                                       x + (ci * h_ + ih) * w_ + iw, sw));
        }
      }
  return Status::success();
}

template <class T>
Status Conv2d<T>::convolve(const T* x, T* y, bool with_bias) noexcept {
  const std::size_t c_out = options_.out_channels;
  const T* cols = x;
  if (!pointwise()) {
    LIPFLOW_TRY(im2col(x, work_.data));
    cols = work_.data;
  }
  T beta = T(0);
  if (with_bias && options_.bias) {  // Y = b per channel, then Y += K cols
    for (std::size_t co = 0; co < c_out; ++co)
      LIPFLOW_TRY(kernels::fill<T>(pixels_out_, b_.value.data[co], y + co * pixels_out_, 1));
    beta = T(1);
  }
  return kernels::gemm<T>(Trans::no, Trans::no, c_out, pixels_out_, patch_, T(1), k_.value.data, patch_, cols,
                          pixels_out_, beta, y, pixels_out_, work_.data + cols_size_, work_.size - cols_size_);
}

template <class T>
Status Conv2d<T>::convolve_t(const T* dy, T* dx) noexcept {
  const std::size_t c_out = options_.out_channels;
  T* col = pointwise() ? dx : work_.data;  // pointwise: col2im is the identity
  LIPFLOW_TRY(kernels::gemm<T>(Trans::yes, Trans::no, patch_, pixels_out_, c_out, T(1), k_.value.data, patch_, dy,
                               pixels_out_, T(0), col, pixels_out_, work_.data + cols_size_,
                               work_.size - cols_size_));
  if (pointwise()) return Status::success();
  return col2im(col, dx);
}

template <class T>
Status Conv2d<T>::forward(const T* x, std::size_t batch, T* y) noexcept {
  LIPFLOW_TRY(this->check_run("conv2d.forward", batch, x, y));
  const std::size_t ni = this->in_.size(), no = this->out_.size();
  for (std::size_t b = 0; b < batch; ++b) LIPFLOW_TRY(convolve(x + b * ni, y + b * no, true));
  return Status::success();
}

template <class T>
Status Conv2d<T>::backward(const T* x, const T* /*y*/, const T* dy, std::size_t batch, T* dx) noexcept {
  LIPFLOW_TRY(this->check_run("conv2d.backward", batch, x, dy));
  const std::size_t ni = this->in_.size(), no = this->out_.size(), c_out = options_.out_channels;
  for (std::size_t b = 0; b < batch; ++b) {
    const T* dy_b = dy + b * no;
    const T* cols = x + b * ni;
    if (!pointwise()) {  // recomputed rather than cached: O(patch * pixels) next to a GEMM of C_out times that
      LIPFLOW_TRY(im2col(cols, work_.data));
      cols = work_.data;
    }
    // dK += dY_b cols_b^T
    LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::yes, c_out, patch_, pixels_out_, T(1), dy_b, pixels_out_, cols,
                                 pixels_out_, T(1), k_.grad.data, patch_, work_.data + cols_size_,
                                 work_.size - cols_size_));
    if (options_.bias)
      for (std::size_t co = 0; co < c_out; ++co) {
        T s = T(0);
        LIPFLOW_TRY(kernels::sum<T>(pixels_out_, dy_b + co * pixels_out_, 1, &s));
        b_.grad.data[co] += s;
      }
    // dX_b = col2im(K^T dY_b); overwrites the im2col matrix, which dK no longer needs.
    if (dx != nullptr) LIPFLOW_TRY(convolve_t(dy_b, dx + b * ni));
  }
  return Status::success();
}

template <class T>
Status Conv2d<T>::jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept {
  LIPFLOW_TRY(this->check_run("conv2d.jvp", batch, x, dx));
  if (dy == nullptr) return Status(Code::null_pointer, "conv2d.jvp: dy");
  const std::size_t ni = this->in_.size(), no = this->out_.size();
  for (std::size_t b = 0; b < batch; ++b) LIPFLOW_TRY(convolve(dx + b * ni, dy + b * no, false));
  return Status::success();
}

// Why kernel_bound() is an upper bound of sigma_max(C_K), for any stride and zero padding.
// Write one output sample as Y = K X, where X = im2col(x) is (C_in kh kw) x (H_out W_out). Then
//   ||C_K x||^2 = ||K X||_F^2 <= ||K||_2^2 ||X||_F^2.
// Every entry of X is an input pixel x[c, u, v] or a zero of the padding, and x[c, u, v] appears in X
// once per (tap, output position) pair that reads it: n_h(u) n_w(v) times, where
// n_h(u) = #{(i, o) : o sh + i - ph = u} (and n_w likewise). So ||X||_F^2 <= m_h m_w ||x||^2 with
// m_h = max_u n_h(u), and sigma_max(C_K) <= sqrt(m_h m_w) ||K||_2. For a fixed u each output row o
// fixes the tap i = u + ph - o sh, and the taps in [0, kh) congruent to u + ph modulo sh number at
// most ceil(kh / sh): m_h <= min(ceil(kh / sh), H_out). Stride 1 on an input larger than the kernel
// gives the paper's sqrt(kh kw); a stride equal to the kernel (non-overlapping patches) gives 1, and
// then the bound is attained (C_K is K applied to each patch). Zero padding only removes terms.
template <class T>
double Conv2d<T>::kernel_bound() noexcept {
  if (!this->bound_) return std::numeric_limits<double>::infinity();
  const std::size_t c_out = options_.out_channels;
  const double tol = sizeof(T) == sizeof(float) ? 1e-6 : 1e-10;
  T* v = kernel_power_.data;
  T* u = kernel_power_.data + patch_;
  kernel_estimate_ = SpectralEstimate();  // not converged unless this call says so
  Status s = spectral_norm<T>(k_.value.data, c_out, patch_, patch_, v, u, 1000, tol, &kernel_estimate_);
  double norm_k = kernel_estimate_.sigma;
  if (!s.ok() || !kernel_estimate_.converged) {  // ||K||_F >= ||K||_2
    T f = T(0);
    (void)kernels::norm<T>(kernels::Norm::l2, k_.value.size, k_.value.data, 1, &f);
    norm_k = static_cast<double>(f);
  }
  return std::sqrt(static_cast<double>(mult_h_) * static_cast<double>(mult_w_)) * norm_k;
}

template <class T>
Lipschitz Conv2d<T>::lipschitz() noexcept {
  Lipschitz l;
  if (!this->bound_) return l;
  l.scope = Scope::global;
  // Clustered top singular values are common for convolutions (neighbouring frequencies), so the
  // first, cold call may need many iterations; warm calls need 2-3.
  const double tol = sizeof(T) == sizeof(float) ? 1e-6 : 1e-10;
  const std::size_t n_in = this->in_.size(), n_out = this->out_.size();
  T* v = power_.data;
  T* u = power_.data + n_in;
  auto apply = [this](const T* a, T* b) -> Status { return convolve(a, b, false); };  // u = C_K v
  auto apply_t = [this](const T* a, T* b) -> Status { return convolve_t(a, b); };   // v = C_K^T u
  estimate_ = SpectralEstimate();
  Status s = power_iteration<T>(n_in, n_out, apply, apply_t, v, u, max_power_iterations_, tol, &estimate_);
  // A non-finite sigma (NaN or inf weights) is never taken as the bound.
  if (s.ok() && estimate_.converged && std::isfinite(estimate_.sigma)) {
    l.global = l.local = estimate_.sigma;
    l.formula = "sigma_max(conv operator), power iteration on conv and conv^T";
    return l;
  }
  l.global = l.local = kernel_bound();
  l.formula = kernel_estimate_.converged
                  ? "sqrt(m_h m_w) sigma_max(K reshaped) (power iteration on the conv did not converge)"
                  : "sqrt(m_h m_w) ||K||_F (power iterations on the conv and on K did not converge)";
  return l;
}

template <class T>
Status Conv2d<T>::set_max_power_iterations(int max_iters) noexcept {
  if (max_iters < 1) return Status(Code::invalid_argument, "conv2d: max power iterations", max_iters, 1);
  max_power_iterations_ = max_iters;
  return Status::success();
}

template <class T>
Param<T> Conv2d<T>::param(std::size_t i) const noexcept {
  if (i == 0) return k_.param;
  if (i == 1 && options_.bias) return b_.param;
  return Param<T>();
}

template class Conv2d<float>;
template class Conv2d<double>;

}  // namespace nn
}  // namespace lipflow
