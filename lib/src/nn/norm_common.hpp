// Internal to the normalization modules (lib/src/nn/*norm*.cpp): the pieces they share. Every helper
// works on one contiguous "normalized vector" of n entries (a row, a group, a gathered channel).
#pragma once

#include <cmath>
#include <cstddef>

#include "core/simd.hpp"
#include "lipflow/core/kernels.hpp"
#include "lipflow/nn/module.hpp"
#include "lipflow/nn/storage.hpp"

namespace lipflow {
namespace nn {
namespace norm_detail {

// eps must be finite and > 0 (the global bound max|gamma| / sqrt(eps) is infinite otherwise). A Status
// carries integers only, so the message names the value's rule rather than the value.
inline Status check_eps(const char* where, double eps) noexcept {
  if (!(eps > 0.0) || !std::isfinite(eps)) return Status::real(Code::invalid_argument, where, eps);
  return Status::success();
}

// backward() and jvp() act at the point of the last forward, whose per-vector statistics are cached:
// they need a forward to have run, with the same batch. value = the batch given, limit = the last one.
inline Status check_last_forward(const char* where, std::size_t batch, std::size_t last_batch) noexcept {
  if (batch != last_batch) return Status(Code::invalid_argument, where, static_cast<long long>(batch),
                                         static_cast<long long>(last_batch));
  return Status::success();
}

// The checks shared by the row-wise modules (LayerNorm, RMSNorm, CenterNorm): input (features) or
// (tokens, width), max_batch > 0, out not null. Sets *tokens (1 for a vector) and *width. The three
// strings name the module and what failed (out, the shape, max_batch).
inline Status check_row_input(const char* out_where, const char* shape_where, const char* batch_where,
                              const Shape& in, std::size_t max_batch, const Shape* out, std::size_t* tokens,
                              std::size_t* width) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, out_where);
  if (!in.valid() || in.rank > 2) return shape_error(shape_where, static_cast<std::size_t>(in.rank), 2);
  if (max_batch == 0) return Status(Code::invalid_argument, batch_where, 0, 1);
  *tokens = in.rank == 2 ? in.dims[0] : 1;
  *width = in.last();
  return Status::success();
}

// Declares gamma (kParamNormGain) and, when beta_name is not null, beta (kParamBias), n entries each;
// neither is decayed.
template <class T>
Status plan_affine(MemoryPlan& plan, std::size_t n, const char* gamma_name, ParamStorage<T>& gamma,
                   const char* beta_name, ParamStorage<T>* beta) noexcept {
  LIPFLOW_TRY(gamma.plan(plan, gamma_name, 1, n, kParamNormGain));
  if (beta_name != nullptr && beta != nullptr) LIPFLOW_TRY(beta->plan(plan, beta_name, 1, n, kParamBias));
  return Status::success();
}

// gamma = 1, beta = 0 (PyTorch's reset_parameters).
template <class T>
Status init_affine(ParamStorage<T>& gamma, ParamStorage<T>* beta) noexcept {
  LIPFLOW_TRY(kernels::fill<T>(gamma.value.size, T(1), gamma.value.data, 1));
  if (beta != nullptr) LIPFLOW_TRY(kernels::fill<T>(beta->value.size, T(0), beta->value.data, 1));
  return Status::success();
}

// max|gamma| (1 without affine). NaN in gamma gives NaN.
template <class T>
double max_abs_gain(bool affine, const ParamStorage<T>& gamma) noexcept {
  if (!affine) return 1.0;
  T m = T(0);
  if (!kernels::norm<T>(kernels::Norm::linf, gamma.value.size, gamma.value.data, 1, &m).ok()) return NAN;
  for (std::size_t i = 0; i < gamma.value.size; ++i)  // norm(linf) may skip NaN: a NaN gain is no bound
    if (std::isnan(gamma.value.data[i])) return NAN;
  return static_cast<double>(m);
}

// rstd = 1 / sqrt(var + eps), in place over n statistics.
template <class T>
void rstd_in_place(std::size_t n, T eps, T* var) noexcept {
  for (std::size_t i = 0; i < n; ++i) var[i] = T(1) / std::sqrt(var[i] + eps);
}

// xhat = (u - mean) * rstd.
template <class T>
void standardize(std::size_t n, const T* u, T mean, T rstd, T* xhat) noexcept {
  for (std::size_t i = 0; i < n; ++i) xhat[i] = (u[i] - mean) * rstd;
}

// out = rstd (v - mean(v) - xhat mean(xhat * v)) = d xhat / d u applied to v. The matrix is symmetric,
// so this is both the jvp and the vjp of the standardization. out may alias v (not xhat). The sums
// are kernels::sum's and kernels::dot's own code, inlined (the same bits; a call and its checks per
// row cost more than LayerNorm's 32-wide rows).
template <class T>
Status project_standardized(std::size_t n, const T* xhat, const T* v, T rstd, T* out) noexcept {
  using V = simd::Vec<T>;
  const T s = simd::reduce(n, v, [](V x) { return x; });
  const T d = simd::dot(n, xhat, v);
  const T inv_n = T(1) / static_cast<T>(n);
  const T a = s * inv_n, b = d * inv_n;
  for (std::size_t i = 0; i < n; ++i) out[i] = rstd * (v[i] - a - xhat[i] * b);
  return Status::success();
}

// The largest of n values (NaN when one of them is NaN, so that a NaN statistic gives no bound).
template <class T>
double max_value(std::size_t n, const T* v) noexcept {
  T m = T(0);
  if (n == 0 || !kernels::max<T>(n, v, 1, &m).ok()) return NAN;
  for (std::size_t i = 0; i < n; ++i)
    if (std::isnan(v[i])) return NAN;
  return static_cast<double>(m);
}

// The bound of a normalization whose Jacobian is diag(gain) rstd (projection): global
// max|gain| / sqrt(eps); local max|gain| times the largest rstd of the last forward's `count`
// normalized vectors (the smallest variance), or the global value before any forward.
template <class T>
Lipschitz rstd_bound(bool affine, const ParamStorage<T>& gain, double eps, std::size_t count, const T* rstd,
                     const char* formula) noexcept {
  Lipschitz l;
  const double g = max_abs_gain<T>(affine, gain);
  l.scope = Scope::local;
  l.global = g / std::sqrt(eps);
  l.local = count == 0 ? l.global : g * max_value<T>(count, rstd);
  l.formula = formula;
  return l;
}

// Parameter i of an affine normalization: the gain, then the shift (when there is one).
template <class T>
Param<T> affine_param(bool affine, const ParamStorage<T>& gain, const ParamStorage<T>* shift, std::size_t i) noexcept {
  if (!affine) return Param<T>();
  if (i == 0) return gain.param;
  if (i == 1 && shift != nullptr) return shift->param;
  return Param<T>();
}

}  // namespace norm_detail
}  // namespace nn
}  // namespace lipflow
