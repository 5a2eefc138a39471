#include "lipflow/analysis/svd.hpp"

#include <cmath>
#include <limits>

namespace lipflow {
namespace analysis {

template <class T>
Status singular_values(T* a, std::size_t rows, std::size_t cols, std::size_t ld, T* sigma, int max_sweeps,
                       int* sweeps) noexcept {
  if (a == nullptr || sigma == nullptr) return Status(Code::null_pointer, "singular_values: a or sigma");
  if (rows == 0 || cols == 0) return Status(Code::invalid_argument, "singular_values: empty matrix");
  if (ld < cols) return Status(Code::invalid_argument, "singular_values: ld", (long long)ld, (long long)cols);
  if (max_sweeps < 1) return Status(Code::invalid_argument, "singular_values: max_sweeps", max_sweeps, 1);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j)
      if (!std::isfinite(static_cast<double>(a[i * ld + j])))
        return Status(Code::invalid_argument, "singular_values: a non-finite entry at (row, col)", (long long)i,
                      (long long)j);
  // The k vectors to orthogonalize: vector p starts at a + p * vstep, its entries are estep apart.
  const bool by_rows = rows <= cols;
  const std::size_t k = by_rows ? rows : cols, len = by_rows ? cols : rows;
  const std::size_t vstep = by_rows ? ld : 1, estep = by_rows ? 1 : ld;
  // Rotate when |<a_p, a_q>| > tol ||a_p|| ||a_q||: a few units of rounding of T.
  const double tol = 4.0 * static_cast<double>(std::numeric_limits<T>::epsilon());
  int sweep = 0;
  bool rotated = true;
  while (rotated && sweep < max_sweeps) {
    rotated = false;
    ++sweep;
    for (std::size_t p = 0; p + 1 < k; ++p)
      for (std::size_t q = p + 1; q < k; ++q) {
        T* ap = a + p * vstep;
        T* aq = a + q * vstep;
        double alpha = 0, beta = 0, gamma = 0;
        for (std::size_t t = 0; t < len; ++t) {
          const double x = ap[t * estep], y = aq[t * estep];
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma == 0.0 || std::fabs(gamma) <= tol * std::sqrt(alpha * beta)) continue;
        rotated = true;
        // The rotation that zeroes the (p, q) entry of the 2 x 2 Gram matrix [alpha gamma; gamma beta].
        const double zeta = (beta - alpha) / (2.0 * gamma);
        const double t = (zeta >= 0 ? 1.0 : -1.0) / (std::fabs(zeta) + std::sqrt(1.0 + zeta * zeta));
        const double c = 1.0 / std::sqrt(1.0 + t * t), s = c * t;
        for (std::size_t i = 0; i < len; ++i) {
          const double x = ap[i * estep], y = aq[i * estep];
          ap[i * estep] = static_cast<T>(c * x - s * y);
          aq[i * estep] = static_cast<T>(s * x + c * y);
        }
      }
  }
  for (std::size_t p = 0; p < k; ++p) {
    const T* ap = a + p * vstep;
    double ss = 0;
    for (std::size_t t = 0; t < len; ++t) ss += static_cast<double>(ap[t * estep]) * static_cast<double>(ap[t * estep]);
    sigma[p] = static_cast<T>(std::sqrt(ss));
  }
  // Insertion sort, descending (k is small).
  for (std::size_t i = 1; i < k; ++i) {
    const T v = sigma[i];
    std::size_t j = i;
    while (j > 0 && sigma[j - 1] < v) {
      sigma[j] = sigma[j - 1];
      --j;
    }
    sigma[j] = v;
  }
  if (sweeps != nullptr) *sweeps = sweep;
  return Status::success();
}

template <class T>
double condition_number(const T* sigma, std::size_t k) noexcept {
  if (sigma == nullptr || k == 0) return std::numeric_limits<double>::quiet_NaN();
  const double hi = static_cast<double>(sigma[0]), lo = static_cast<double>(sigma[k - 1]);
  if (lo == 0.0) return std::numeric_limits<double>::infinity();
  return hi / lo;
}

template <class T>
Status singular_value_histogram(const T* sigma, std::size_t k, const HistogramSpec& spec, std::size_t* counts,
                                std::size_t* below) noexcept {
  if (sigma == nullptr || counts == nullptr) return Status(Code::null_pointer, "singular_value_histogram: sigma or counts");
  if (spec.bins == 0) return Status(Code::invalid_argument, "singular_value_histogram: bins", 0, 1);
  if (spec.log_spaced && !(spec.lower > 0.0 && std::isfinite(spec.lower)))
    return Status::real(Code::invalid_argument, "singular_value_histogram: lower (finite, > 0)", spec.lower);
  double smax = 0.0;
  for (std::size_t i = 0; i < k; ++i) {
    const double s = static_cast<double>(sigma[i]);
    if (!(s >= 0.0) || !std::isfinite(s))
      return Status(Code::invalid_argument, "singular_value_histogram: a negative or non-finite value at", (long long)i);
    if (s > smax) smax = s;
  }
  for (std::size_t b = 0; b < spec.bins; ++b) counts[b] = 0;
  std::size_t under = 0;
  const double nb = static_cast<double>(spec.bins);
  const double log_lo = spec.log_spaced ? std::log10(spec.lower) : 0.0;
  const double log_span = spec.log_spaced && smax > spec.lower ? std::log10(smax) - log_lo : 0.0;
  for (std::size_t i = 0; i < k; ++i) {
    const double s = static_cast<double>(sigma[i]);
    double pos;  // position in [0, 1]
    if (spec.log_spaced) {
      if (s < spec.lower) {
        ++under;
        continue;
      }
      pos = log_span > 0.0 ? (std::log10(s) - log_lo) / log_span : 1.0;
    } else {
      pos = smax > 0.0 ? s / smax : 0.0;
    }
    std::size_t b = static_cast<std::size_t>(pos * nb);
    if (b >= spec.bins) b = spec.bins - 1;
    ++counts[b];
  }
  if (below != nullptr) *below = under;
  return Status::success();
}

#define LIPFLOW_SVD_INSTANTIATE(T)                                                                            \
  template Status singular_values<T>(T*, std::size_t, std::size_t, std::size_t, T*, int, int*) noexcept;      \
  template double condition_number<T>(const T*, std::size_t) noexcept;                                        \
  template Status singular_value_histogram<T>(const T*, std::size_t, const HistogramSpec&, std::size_t*,      \
                                              std::size_t*) noexcept;
LIPFLOW_SVD_INSTANTIATE(float)
LIPFLOW_SVD_INSTANTIATE(double)
#undef LIPFLOW_SVD_INSTANTIATE

}  // namespace analysis
}  // namespace lipflow
