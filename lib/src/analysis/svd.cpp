#include "lipflow/analysis/svd.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
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

namespace {

// Reduces the symmetric n x n matrix g (row-major, both triangles; overwritten) to a tridiagonal
// matrix with the same eigenvalues, Q^T G Q, by n - 2 Householder reflections: d[0 .. n) receives its
// diagonal and e[0 .. n-1) its subdiagonal (e[n-1] = 0). Reflection k maps x = G[k+1 .., k] to
// (alpha, 0, ..., 0) with H = I - beta v v^T, v = x - alpha e_1, and updates the trailing block as
// B <- H B H = B - v w^T - w v^T, where p = beta B v and w = p - (beta/2) (v^T p) v. The entries of e
// past k hold p meanwhile. O(4/3 n^3).
void tridiagonalize(double* g, std::size_t n, double* d, double* e) {
  for (std::size_t k = 0; k + 2 < n; ++k) {
    const std::size_t m = n - k - 1;
    double* v = g + k * n + k + 1;  // row k right of the diagonal = column k below it
    double norm2 = 0;
    for (std::size_t i = 0; i < m; ++i) norm2 += v[i] * v[i];
    d[k] = g[k * n + k];
    if (norm2 == 0) {
      e[k] = 0;
      continue;
    }
    const double norm = std::sqrt(norm2), alpha = v[0] > 0 ? -norm : norm;
    const double beta = 1.0 / (norm2 - v[0] * alpha);  // 2 / (v^T v) for v = x - alpha e_1
    v[0] -= alpha;
    double* b = g + (k + 1) * n + (k + 1);
    double* p = e + k + 1;
    double vp = 0;
    for (std::size_t i = 0; i < m; ++i) {
      double sum = 0;
      for (std::size_t j = 0; j < m; ++j) sum += b[i * n + j] * v[j];
      p[i] = beta * sum;
      vp += v[i] * p[i];
    }
    const double half = 0.5 * beta * vp;
    for (std::size_t i = 0; i < m; ++i) p[i] -= half * v[i];  // p is w now
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < m; ++j) b[i * n + j] -= v[i] * p[j] + p[i] * v[j];
    e[k] = alpha;
  }
  if (n >= 2) {
    d[n - 2] = g[(n - 2) * n + n - 2];
    e[n - 2] = g[(n - 1) * n + n - 2];
  }
  d[n - 1] = g[(n - 1) * n + n - 1];
  e[n - 1] = 0;
}

// The eigenvalues of the symmetric tridiagonal matrix (diagonal d, subdiagonal e[0 .. n-1)) into d, by
// implicit QL: for each l, QL steps with the eigenvalue of the leading 2 x 2 block as the shift, each a
// chase of plane rotations from the bottom of the unreduced block [l, m] up, until e[l] is negligible
// next to its diagonal neighbours. e is destroyed. false when an eigenvalue needs more than 60 steps.
bool tridiagonal_eigenvalues(double* d, double* e, std::size_t n) {
  const double eps = std::numeric_limits<double>::epsilon();
  for (std::size_t l = 0; l < n; ++l) {
    for (int step = 0;; ++step) {
      std::size_t m = l;  // the end of the unreduced block starting at l
      while (m + 1 < n && std::fabs(e[m]) > eps * (std::fabs(d[m]) + std::fabs(d[m + 1]))) ++m;
      if (m == l) break;
      if (step == 60) return false;
      double g = (d[l + 1] - d[l]) / (2.0 * e[l]);
      double r = std::hypot(g, 1.0);
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
      double s = 1, c = 1, p = 0;
      bool split = false;
      for (std::size_t i = m; i-- > l;) {
        const double f = s * e[i], h = c * e[i];
        r = std::hypot(f, g);
        e[i + 1] = r;
        if (r == 0) {  // the block splits at i + 1: finish this step there
          d[i + 1] -= p;
          e[m] = 0;
          split = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2.0 * c * h;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - h;
      }
      if (split) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
  return true;
}

}  // namespace

std::size_t singular_values_gram_workspace(std::size_t rows, std::size_t cols) noexcept {
  const std::size_t k = rows < cols ? rows : cols;
  return k * k + 2 * k;
}

template <class T>
Status singular_values_gram(const T* a, std::size_t rows, std::size_t cols, std::size_t ld, double* work,
                            std::size_t work_size, T* sigma) noexcept {
  if (a == nullptr || sigma == nullptr || work == nullptr)
    return Status(Code::null_pointer, "singular_values_gram: a, work or sigma");
  if (rows == 0 || cols == 0) return Status(Code::invalid_argument, "singular_values_gram: empty matrix");
  if (ld < cols) return Status(Code::invalid_argument, "singular_values_gram: ld", (long long)ld, (long long)cols);
  const std::size_t need = singular_values_gram_workspace(rows, cols);
  if (work_size < need)
    return Status(Code::buffer_too_small, "singular_values_gram: work_size", (long long)work_size, (long long)need);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j)
      if (!std::isfinite(static_cast<double>(a[i * ld + j])))
        return Status(Code::invalid_argument, "singular_values_gram: a non-finite entry at (row, col)", (long long)i,
                      (long long)j);
  const std::size_t k = rows < cols ? rows : cols;
  double* g = work;
  double* d = work + k * k;
  double* e = d + k;
  // The upper triangle of G, mirrored: dots of rows (A A^T), or a sum of outer products of rows (A^T A).
  if (rows <= cols) {
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = i; j < k; ++j) {
        double sum = 0;
        for (std::size_t t = 0; t < cols; ++t)
          sum += static_cast<double>(a[i * ld + t]) * static_cast<double>(a[j * ld + t]);
        g[i * k + j] = sum;
      }
  } else {
    std::fill(g, g + k * k, 0.0);
    for (std::size_t t = 0; t < rows; ++t) {
      const T* row = a + t * ld;
      for (std::size_t i = 0; i < k; ++i) {
        const double x = static_cast<double>(row[i]);
        for (std::size_t j = i; j < k; ++j) g[i * k + j] += x * static_cast<double>(row[j]);
      }
    }
  }
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j < i; ++j) g[i * k + j] = g[j * k + i];
  tridiagonalize(g, k, d, e);
  if (!tridiagonal_eigenvalues(d, e, k))
    return Status(Code::out_of_range, "singular_values_gram: QL steps for one eigenvalue", 60, 60);
  std::sort(d, d + k, std::greater<double>());
  for (std::size_t i = 0; i < k; ++i) sigma[i] = static_cast<T>(std::sqrt(d[i] > 0 ? d[i] : 0.0));
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
  template Status singular_values_gram<T>(const T*, std::size_t, std::size_t, std::size_t, double*,           \
                                          std::size_t, T*) noexcept;                                          \
  template double condition_number<T>(const T*, std::size_t) noexcept;                                        \
  template Status singular_value_histogram<T>(const T*, std::size_t, const HistogramSpec&, std::size_t*,      \
                                              std::size_t*) noexcept;
LIPFLOW_SVD_INSTANTIATE(float)
LIPFLOW_SVD_INSTANTIATE(double)
#undef LIPFLOW_SVD_INSTANTIATE

}  // namespace analysis
}  // namespace lipflow
