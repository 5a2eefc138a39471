// lipflow/core/spectral.hpp: the largest singular value of a linear operator by power iteration.
//
// power_iteration() needs only the operator and its transpose (so it serves matrices, convolutions
// and, in the analysis layer, Jacobians through jvp and vjp). It iterates v <- A^T A v / ||.||,
// warm-started from the caller's vector, which it leaves holding the top right singular vector so
// that the next call (the next training step) converges in a few iterations. Cost per iteration:
// one apply and one apply_t. No allocation.
#pragma once

#include <cmath>
#include <cstddef>

#include "lipflow/core/kernels.hpp"
#include "lipflow/core/status.hpp"

namespace lipflow {

struct SpectralEstimate {
  double sigma = 0.0;   // the estimate of sigma_max (from below: ||A v|| for a unit v)
  int iterations = 0;   // iterations run
  bool converged = false;  // |sigma_k - sigma_{k-1}| <= rel_tol * sigma_k was reached
};

// apply(const T* v, T* u) computes u = A v (n_in -> n_out); apply_t(const T* u, T* v) computes
// v = A^T u. v (n_in entries) is the warm start and receives the top singular vector; a v that is zero
// or not finite is replaced by a fixed deterministic start. u holds n_out entries of scratch.
// Errors: null pointers, n_in or n_out == 0, max_iters < 1, rel_tol not in [0, 1), and the first
// error of apply or apply_t.
template <class T, class Apply, class ApplyT>
Status power_iteration(std::size_t n_in, std::size_t n_out, Apply&& apply, ApplyT&& apply_t, T* v, T* u,
                       int max_iters, double rel_tol, SpectralEstimate* out) noexcept {
  if (v == nullptr || u == nullptr || out == nullptr) return Status(Code::null_pointer, "power_iteration: v, u or out");
  if (n_in == 0 || n_out == 0) return Status(Code::invalid_argument, "power_iteration: empty operator");
  if (max_iters < 1) return Status(Code::invalid_argument, "power_iteration: max_iters", max_iters, 1);
  if (!(rel_tol >= 0.0 && rel_tol < 1.0)) return Status::real(Code::invalid_argument, "power_iteration: rel_tol (in [0, 1))", rel_tol);
  T norm = T(0);
  LIPFLOW_TRY(kernels::norm<T>(kernels::Norm::l2, n_in, v, 1, &norm));
  if (!(norm > T(0)) || !std::isfinite(static_cast<double>(norm))) {
    // A fixed start with no symmetry that would make it orthogonal to a structured top vector.
    for (std::size_t i = 0; i < n_in; ++i) v[i] = T(1) + T(0.1) * static_cast<T>(i % 7);
    LIPFLOW_TRY(kernels::norm<T>(kernels::Norm::l2, n_in, v, 1, &norm));
  }
  LIPFLOW_TRY(kernels::scale<T>(n_in, T(1) / norm, v, 1));
  SpectralEstimate est;
  double previous = -1.0;
  for (int it = 1; it <= max_iters; ++it) {
    LIPFLOW_TRY(apply(v, u));
    T sigma = T(0);
    LIPFLOW_TRY(kernels::norm<T>(kernels::Norm::l2, n_out, u, 1, &sigma));
    est.sigma = static_cast<double>(sigma);
    est.iterations = it;
    if (!std::isfinite(est.sigma)) break;  // NaN or inf in the operator: not converged
    if (!(sigma > T(0))) {  // A v = 0: v is in the null space (or A = 0); sigma 0 is exact for A = 0
      est.converged = true;
      break;
    }
    LIPFLOW_TRY(apply_t(u, v));
    T vnorm = T(0);
    LIPFLOW_TRY(kernels::norm<T>(kernels::Norm::l2, n_in, v, 1, &vnorm));
    if (!(vnorm > T(0)) || !std::isfinite(static_cast<double>(vnorm))) break;
    LIPFLOW_TRY(kernels::scale<T>(n_in, T(1) / vnorm, v, 1));
    if (previous >= 0.0 && std::fabs(est.sigma - previous) <= rel_tol * est.sigma) {
      est.converged = true;
      break;
    }
    previous = est.sigma;
  }
  *out = est;
  return Status::success();
}

// sigma_max of the rows x cols matrix W (row pitch ld >= cols); v has cols entries, u rows entries.
template <class T>
Status spectral_norm(const T* w, std::size_t rows, std::size_t cols, std::size_t ld, T* v, T* u, int max_iters,
                     double rel_tol, SpectralEstimate* out) noexcept {
  if (w == nullptr) return Status(Code::null_pointer, "spectral_norm: w");
  if (ld < cols) return Status(Code::invalid_argument, "spectral_norm: ld", (long long)ld, (long long)cols);
  auto apply = [&](const T* x, T* y) -> Status {  // y = W x
    for (std::size_t i = 0; i < rows; ++i) LIPFLOW_TRY(kernels::dot<T>(cols, w + i * ld, 1, x, 1, y + i));
    return Status::success();
  };
  auto apply_t = [&](const T* y, T* x) -> Status {  // x = W^T y
    LIPFLOW_TRY(kernels::fill<T>(cols, T(0), x, 1));
    for (std::size_t i = 0; i < rows; ++i) LIPFLOW_TRY(kernels::axpy<T>(cols, y[i], w + i * ld, 1, x, 1));
    return Status::success();
  };
  return power_iteration<T>(cols, rows, apply, apply_t, v, u, max_iters, rel_tol, out);
}

}  // namespace lipflow
