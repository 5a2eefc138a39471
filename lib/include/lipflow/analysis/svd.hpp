// lipflow/analysis/svd.hpp: singular values of a small dense matrix (an explicit Jacobian, a weight),
// its condition number and a histogram of the spectrum (PAPER.md 4.5: the singular values of the
// end-to-end Jacobian govern vanishing and exploding).
//
// singular_values() is the one-sided Jacobi (Hestenes) method: plane rotations orthogonalize the
// k = min(rows, cols) vectors of the shorter side (the rows when rows <= cols, else the columns) until
// every pair is orthogonal to rounding; the singular values are then their norms. It is accurate to
// rounding relative to sigma_max (and often relatively accurate for the small ones), needs no
// workspace beyond the matrix it overwrites, and costs about 3 k^2 max(rows, cols) flops per sweep,
// with typically 6 to 10 sweeps. Meant for matrices up to a few hundred on a side.
//
// singular_values_gram() is for larger ones (the Jacobian of a transformer block: 384 x 384): the
// eigenvalues of the k x k Gram matrix, formed in double, by Householder tridiagonalization and
// implicit QL. 13 times faster than Jacobi there (lipflow_bench analysis/svd); absolutely accurate
// (to about k eps_double sigma_max^2 / sigma_i, far below a float matrix's own rounding), not
// relatively.
#pragma once

#include <cstddef>

#include "lipflow/core/status.hpp"

namespace lipflow {
namespace analysis {

// Computes the k = min(rows, cols) singular values of the rows x cols row-major matrix a (row pitch
// ld >= cols), sorted descending, into sigma (k entries). a is overwritten (its rows or columns become
// the orthogonalized vectors U Sigma or Sigma V^T); no other workspace is used. Sums are accumulated in
// double for T = float. *sweeps (may be null) receives the sweeps run.
// Errors: null_pointer, invalid_argument (rows or cols 0, ld < cols, max_sweeps < 1, a non-finite
// entry). Reaching max_sweeps without convergence is not an error: *sweeps == max_sweeps says it.
template <class T>
Status singular_values(T* a, std::size_t rows, std::size_t cols, std::size_t ld, T* sigma, int max_sweeps = 60,
                       int* sweeps = nullptr) noexcept;

// The doubles of workspace singular_values_gram needs: k^2 + 2k for k = min(rows, cols). O(1).
std::size_t singular_values_gram_workspace(std::size_t rows, std::size_t cols) noexcept;

// Computes the k = min(rows, cols) singular values of the rows x cols row-major matrix a (row pitch
// ld >= cols), sorted descending, into sigma: the square roots of the eigenvalues of G = A A^T (rows <=
// cols) or A^T A, G formed in double in work, reduced to tridiagonal form by Householder reflections,
// whose eigenvalues implicit QL with Wilkinson shifts finds. a is not modified. Cost: k^2 max(rows,
// cols) + 4/3 k^3 flops in double. Errors: null_pointer, invalid_argument (rows or cols 0, ld < cols,
// a non-finite entry), buffer_too_small (work_size below singular_values_gram_workspace), and
// out_of_range when QL has not converged in 60 iterations for an eigenvalue (not seen in practice).
// Nothing is written to sigma on error.
template <class T>
Status singular_values_gram(const T* a, std::size_t rows, std::size_t cols, std::size_t ld, double* work,
                            std::size_t work_size, T* sigma) noexcept;

// sigma_max / sigma_min of a descending list of k >= 1 singular values; +inf when sigma_min is 0
// (a singular matrix), NaN for k == 0 or a null list. O(1).
template <class T>
double condition_number(const T* sigma, std::size_t k) noexcept;

struct HistogramSpec {
  std::size_t bins = 10;  // >= 1
  // false: bins of equal width over [0, sigma_max]. true: bins of equal width in log10 over
  // [lower, sigma_max], lower > 0; values below lower (zeros included) are counted in *below instead.
  bool log_spaced = false;
  double lower = 1e-6;  // log_spaced only, > 0 and < sigma_max (else everything falls in the last bin)
};

// Counts the k singular values (any order) into counts[0 .. bins-1]; sigma_max itself goes in the last
// bin. *below (may be null) receives the count under spec.lower (log_spaced; 0 otherwise). When
// sigma_max is 0 all values go in bin 0 (linear) or below (log). Errors: null_pointer,
// invalid_argument (bins 0, lower <= 0 or not finite with log_spaced, a negative or non-finite value).
// O(k + bins).
template <class T>
Status singular_value_histogram(const T* sigma, std::size_t k, const HistogramSpec& spec, std::size_t* counts,
                                std::size_t* below = nullptr) noexcept;

}  // namespace analysis
}  // namespace lipflow
