// Naive double-precision references and random data for the kernel tests.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "lipflow/core/kernels.hpp"
#include "lipflow/core/rng.hpp"

namespace lipflow_test {

template <class T>
std::vector<T> random_vector(lipflow::Rng& rng, std::size_t n, T lo = T(-1), T hi = T(1)) {
  std::vector<T> v(n);
  for (auto& x : v) x = rng.uniform<T>(lo, hi);
  return v;
}

// Unit roundoff of T.
template <class T>
constexpr double unit_roundoff() {
  return std::numeric_limits<T>::epsilon() / 2;
}

// C = alpha op(A) op(B) + beta C in double, and |alpha| |op(A)| |op(B)| + |beta| |C| for error
// bounds. A and B are stored as gemm() expects.
template <class T>
void reference_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, double alpha,
                    const std::vector<T>& a, std::size_t lda, const std::vector<T>& b, std::size_t ldb,
                    double beta, const std::vector<T>& c, std::size_t ldc, std::vector<double>* out,
                    std::vector<double>* magnitude) {
  out->assign(m * n, 0.0);
  magnitude->assign(m * n, 0.0);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double s = 0, mag = 0;
      for (std::size_t p = 0; p < k; ++p) {
        const double x = ta ? a[p * lda + i] : a[i * lda + p];
        const double y = tb ? b[j * ldb + p] : b[p * ldb + j];
        s += x * y;
        mag += std::fabs(x * y);
      }
      const double cij = beta == 0 ? 0.0 : static_cast<double>(c[i * ldc + j]);
      (*out)[i * n + j] = alpha * s + beta * cij;
      (*magnitude)[i * n + j] = std::fabs(alpha) * mag + std::fabs(beta * cij);
    }
}

}  // namespace lipflow_test
