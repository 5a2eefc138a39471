#include "lipflow/nn/init.hpp"

#include <cmath>

#include "lipflow/core/spectral.hpp"

namespace lipflow {
namespace nn {
namespace {

template <class T>
void fill_uniform(T* w, std::size_t n, double a, Rng& rng) {
  for (std::size_t i = 0; i < n; ++i) w[i] = static_cast<T>(rng.uniform<double>(-a, a));
}

template <class T>
void fill_normal(T* w, std::size_t n, double stddev, Rng& rng) {
  for (std::size_t i = 0; i < n; ++i) w[i] = static_cast<T>(stddev * rng.normal_double());
}

// Makes the rows (rows <= cols) or the columns (rows > cols) of a Gaussian matrix orthonormal by
// modified Gram-Schmidt in place (two projection passes). A vector that comes out (nearly)
// zero is redrawn.
template <class T>
void orthonormalize(T* w, std::size_t rows, std::size_t cols, Rng& rng) {
  const bool by_rows = rows <= cols;
  const std::size_t count = by_rows ? rows : cols, len = by_rows ? cols : rows;
  const std::ptrdiff_t inc = by_rows ? 1 : static_cast<std::ptrdiff_t>(cols);
  auto vec = [&](std::size_t i) { return by_rows ? w + i * cols : w + i; };
  for (std::size_t i = 0; i < count; ++i) {
    for (int attempt = 0; attempt < 8; ++attempt) {
      for (std::size_t j = 0; j < i; ++j) {  // two passes of projection for stability
        for (int pass = 0; pass < 2; ++pass) {
          T d = T(0);
          (void)kernels::dot<T>(len, vec(j), inc, vec(i), inc, &d);
          (void)kernels::axpy<T>(len, -d, vec(j), inc, vec(i), inc);
        }
      }
      T nrm = T(0);
      (void)kernels::norm<T>(kernels::Norm::l2, len, vec(i), inc, &nrm);
      if (nrm > T(1e-3)) {
        (void)kernels::scale<T>(len, T(1) / nrm, vec(i), inc);
        break;
      }
      for (std::size_t k = 0; k < len; ++k) vec(i)[static_cast<std::ptrdiff_t>(k) * inc] = static_cast<T>(rng.normal_double());
    }
  }
}

}  // namespace

const char* init_name(InitKind k) noexcept {
  switch (k) {
    case InitKind::torch_default: return "torch_default";
    case InitKind::xavier_uniform: return "xavier_uniform";
    case InitKind::xavier_normal: return "xavier_normal";
    case InitKind::kaiming_uniform: return "kaiming_uniform";
    case InitKind::kaiming_normal: return "kaiming_normal";
    case InitKind::orthogonal: return "orthogonal";
    case InitKind::spectral: return "spectral";
  }
  return "unknown";
}

double gain_for(const kernels::ActivationSpec& f) noexcept {
  switch (f.kind) {
    case kernels::Activation::relu: return std::sqrt(2.0);
    case kernels::Activation::leaky_relu: return std::sqrt(2.0 / (1.0 + f.alpha * f.alpha));
    case kernels::Activation::tanh: return 5.0 / 3.0;
    default: return 1.0;
  }
}

template <class T>
Status init_weight(const InitSpec& spec, T* w, std::size_t rows, std::size_t cols, Rng& rng, T* scratch) noexcept {
  if (w == nullptr) return Status(Code::null_pointer, "init_weight: w");
  if (rows == 0 || cols == 0) return Status(Code::invalid_argument, "init_weight: empty weight");
  if (!(spec.gain > 0.0) || !std::isfinite(spec.gain))
    return Status::real(Code::invalid_argument, "init_weight: gain (finite, > 0)", spec.gain);
  const std::size_t n = rows * cols;
  const double fan_in = static_cast<double>(cols), fan_out = static_cast<double>(rows);
  const double fan = spec.fan_out ? fan_out : fan_in;
  switch (spec.kind) {
    case InitKind::torch_default: fill_uniform(w, n, 1.0 / std::sqrt(fan_in), rng); break;
    case InitKind::xavier_uniform: fill_uniform(w, n, spec.gain * std::sqrt(6.0 / (fan_in + fan_out)), rng); break;
    case InitKind::xavier_normal: fill_normal(w, n, spec.gain * std::sqrt(2.0 / (fan_in + fan_out)), rng); break;
    case InitKind::kaiming_uniform: fill_uniform(w, n, spec.gain * std::sqrt(3.0 / fan), rng); break;
    case InitKind::kaiming_normal: fill_normal(w, n, spec.gain / std::sqrt(fan), rng); break;
    case InitKind::orthogonal:
      fill_normal(w, n, 1.0, rng);
      orthonormalize(w, rows, cols, rng);
      LIPFLOW_TRY(kernels::scale<T>(n, static_cast<T>(spec.gain), w, 1));
      break;
    case InitKind::spectral: {
      if (scratch == nullptr) return Status(Code::null_pointer, "init_weight: spectral needs scratch");
      fill_uniform(w, n, 1.0 / std::sqrt(fan_in), rng);
      SpectralEstimate est;
      LIPFLOW_TRY(kernels::fill<T>(cols, T(0), scratch, 1));
      LIPFLOW_TRY(spectral_norm<T>(w, rows, cols, cols, scratch, scratch + cols, 10000, 1e-10, &est));
      if (est.sigma > 0.0) LIPFLOW_TRY(kernels::scale<T>(n, static_cast<T>(spec.gain / est.sigma), w, 1));
      break;
    }
    default: return Status(Code::invalid_argument, "init_weight: kind", static_cast<long long>(spec.kind));
  }
  return Status::success();
}

template <class T>
Status init_bias(T* b, std::size_t n, std::size_t fan_in, Rng& rng) noexcept {
  if (n == 0) return Status::success();
  if (b == nullptr) return Status(Code::null_pointer, "init_bias: b");
  if (fan_in == 0) return Status(Code::invalid_argument, "init_bias: fan_in", 0, 1);
  fill_uniform(b, n, 1.0 / std::sqrt(static_cast<double>(fan_in)), rng);
  return Status::success();
}

template Status init_weight<float>(const InitSpec&, float*, std::size_t, std::size_t, Rng&, float*) noexcept;
template Status init_weight<double>(const InitSpec&, double*, std::size_t, std::size_t, Rng&, double*) noexcept;
template Status init_bias<float>(float*, std::size_t, std::size_t, Rng&) noexcept;
template Status init_bias<double>(double*, std::size_t, std::size_t, Rng&) noexcept;

}  // namespace nn
}  // namespace lipflow
