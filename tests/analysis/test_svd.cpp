// Singular values by one-sided Jacobi and by the Gram method against PyTorch's torch.linalg.svdvals
// (LAPACK) on fixed matrices (tests/golden/analysis_svd.py), against the exact Gram-matrix eigenvalue
// of the test harness and against each other on random ones, the condition number, the histogram, and
// every error path.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "lipflow/analysis/svd.hpp"
#include "support/golden.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::analysis;
using namespace lipflow_test;

TEST(Svd, MatchesPyTorchSvdvals) {
  const Golden g = load_golden("analysis_svd");
  ASSERT_TRUE(g.ok) << "missing tests/golden/analysis_svd.txt (run analysis_svd.py)";
  for (const char* name : {"square", "tall", "wide", "ill", "rank2"}) {
    SCOPED_TRACE(name);
    const std::string n(name);
    const auto& shape = g[n + "_shape"];
    ASSERT_EQ(shape.size(), 2u);
    const std::size_t rows = static_cast<std::size_t>(shape[0]), cols = static_cast<std::size_t>(shape[1]);
    std::vector<double> a = g[n + "_a"];
    const std::vector<double>& want = g[n + "_sigma"];
    ASSERT_EQ(a.size(), rows * cols);
    // The Gram-matrix method (first: Jacobi overwrites a) is absolutely accurate, relative to
    // sigma_max; the ill-conditioned case's small values are not relatively accurate there.
    std::vector<double> work(singular_values_gram_workspace(rows, cols)), gram(want.size());
    ASSERT_TRUE(singular_values_gram<double>(a.data(), rows, cols, cols, work.data(), work.size(), gram.data()).ok());
    for (std::size_t i = 0; i < gram.size(); ++i) EXPECT_NEAR(gram[i], want[i], 1e-7 * want[0]) << "gram sigma_" << i;
    EXPECT_EQ(a, g[n + "_a"]);  // not modified
    std::vector<double> sigma(std::min(rows, cols));
    int sweeps = 0;
    ASSERT_TRUE(singular_values<double>(a.data(), rows, cols, cols, sigma.data(), 60, &sweeps).ok());
    EXPECT_LT(sweeps, 60);
    ASSERT_EQ(sigma.size(), want.size());
    for (std::size_t i = 0; i < sigma.size(); ++i)
      EXPECT_NEAR(sigma[i], want[i], 1e-13 * want[0]) << "sigma_" << i;
    if (n == "ill") {  // the small ones are relatively accurate too (Jacobi's strength)
      for (std::size_t i = 0; i < sigma.size(); ++i) EXPECT_NEAR(sigma[i] / want[i], 1.0, 1e-6) << "sigma_" << i;
      EXPECT_NEAR(condition_number(sigma.data(), sigma.size()) / 1e9, 1.0, 1e-6);
    }
    if (n == "square") {
      EXPECT_NEAR(condition_number(sigma.data(), sigma.size()), want.front() / want.back(), 1e-9 * want.front() / want.back());
    }
  }
}

TEST(Svd, LargestAgreesWithExactGramEigenvalueOnRandomMatrices) {
  Rng rng(7);
  for (std::size_t rows : {1u, 2u, 5u, 13u})
    for (std::size_t cols : {1u, 3u, 8u, 17u}) {
      const std::vector<double> a = random_input(rng, rows * cols, {});
      // Stored with a row pitch wider than cols: the padding must be ignored.
      const std::size_t ld = cols + 3;
      std::vector<double> padded(rows * ld, 1e300);
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j) padded[i * ld + j] = a[i * cols + j];
      std::vector<double> sigma(std::min(rows, cols));
      ASSERT_TRUE(singular_values<double>(padded.data(), rows, cols, ld, sigma.data()).ok());
      EXPECT_NEAR(sigma[0], matrix_norm2(a, rows, cols), 1e-12 * sigma[0]) << rows << "x" << cols;
      double fro = 0, ss = 0;
      for (double v : a) fro += v * v;
      for (double s : sigma) ss += s * s;
      EXPECT_NEAR(ss, fro, 1e-12 * fro);  // sum sigma^2 = ||A||_F^2
      for (std::size_t i = 1; i < sigma.size(); ++i) EXPECT_GE(sigma[i - 1], sigma[i]);
      // float: the same values to float precision
      std::vector<float> af(a.begin(), a.end()), sf(sigma.size());
      ASSERT_TRUE(singular_values<float>(af.data(), rows, cols, cols, sf.data()).ok());
      for (std::size_t i = 0; i < sigma.size(); ++i) EXPECT_NEAR(sf[i], sigma[i], 1e-5 * sigma[0]);
    }
}

TEST(Svd, ConditionNumberOfASingularMatrixIsInfinite) {
  std::vector<double> a = {1, 0, 2, 3, 0, 4};  // 2 x 3 is fine; make 3 x 2 with a zero column
  std::vector<double> b = {1, 0, 2, 0, 3, 0};
  std::vector<double> sigma(2);
  ASSERT_TRUE(singular_values<double>(b.data(), 3, 2, 2, sigma.data()).ok());
  EXPECT_EQ(sigma[1], 0.0);
  EXPECT_TRUE(std::isinf(condition_number(sigma.data(), 2)));
  ASSERT_TRUE(singular_values<double>(a.data(), 2, 3, 3, sigma.data()).ok());
  EXPECT_TRUE(std::isfinite(condition_number(sigma.data(), 2)));
  EXPECT_TRUE(std::isnan(condition_number<double>(nullptr, 2)));
}

TEST(Svd, Histogram) {
  const double s[] = {10.0, 9.99, 5.0, 2.4, 0.5, 0.0};
  std::size_t counts[4] = {};
  std::size_t below = 99;
  HistogramSpec lin;
  lin.bins = 4;  // [0, 2.5) [2.5, 5) [5, 7.5) [7.5, 10]
  ASSERT_TRUE(singular_value_histogram(s, 6, lin, counts, &below).ok());
  EXPECT_EQ(counts[0], 3u);
  EXPECT_EQ(counts[1], 0u);
  EXPECT_EQ(counts[2], 1u);
  EXPECT_EQ(counts[3], 2u);
  EXPECT_EQ(below, 0u);
  HistogramSpec lg;
  lg.bins = 3;
  lg.log_spaced = true;
  lg.lower = 0.01;  // decades [1e-2, 1e-1) [1e-1, 1) [1, 10]
  ASSERT_TRUE(singular_value_histogram(s, 6, lg, counts, &below).ok());
  EXPECT_EQ(counts[0], 0u);
  EXPECT_EQ(counts[1], 1u);
  EXPECT_EQ(counts[2], 4u);
  EXPECT_EQ(below, 1u);
  lg.lower = 0.0;
  EXPECT_EQ(singular_value_histogram(s, 6, lg, counts, &below).code(), Code::invalid_argument);
  HistogramSpec none;
  none.bins = 0;
  EXPECT_EQ(singular_value_histogram(s, 6, none, counts).code(), Code::invalid_argument);
  const double neg[] = {1.0, -1.0};
  EXPECT_EQ(singular_value_histogram(neg, 2, lin, counts).code(), Code::invalid_argument);
  EXPECT_EQ(singular_value_histogram<double>(nullptr, 2, lin, counts).code(), Code::null_pointer);
}

TEST(Svd, Errors) {
  std::vector<double> a(6, 1.0), sigma(2);
  EXPECT_EQ(singular_values<double>(nullptr, 2, 3, 3, sigma.data()).code(), Code::null_pointer);
  EXPECT_EQ(singular_values<double>(a.data(), 2, 3, 3, nullptr).code(), Code::null_pointer);
  EXPECT_EQ(singular_values<double>(a.data(), 0, 3, 3, sigma.data()).code(), Code::invalid_argument);
  Status s = singular_values<double>(a.data(), 2, 3, 2, sigma.data());
  EXPECT_EQ(s.code(), Code::invalid_argument);
  EXPECT_EQ(s.value(), 2);
  EXPECT_EQ(s.limit(), 3);
  EXPECT_EQ(singular_values<double>(a.data(), 2, 3, 3, sigma.data(), 0).code(), Code::invalid_argument);
  a[4] = std::numeric_limits<double>::quiet_NaN();
  s = singular_values<double>(a.data(), 2, 3, 3, sigma.data());
  EXPECT_EQ(s.code(), Code::invalid_argument);
  EXPECT_EQ(s.value(), 1);  // row 1
  EXPECT_EQ(s.limit(), 1);  // col 1
}

// Against one-sided Jacobi on random float matrices up to 200 x 200 (the lab uses it for a transformer
// block's 384 x 384 Jacobian) and on small and degenerate ones: both shapes, a padded row pitch,
// repeated and zero singular values.
TEST(SvdGram, AgreesWithJacobi) {
  Rng rng(11);
  for (const auto& [rows, cols] : std::vector<std::pair<std::size_t, std::size_t>>{
           {1, 1}, {1, 5}, {5, 1}, {2, 2}, {7, 3}, {3, 7}, {40, 40}, {60, 25}, {25, 60}, {200, 200}}) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
    const std::vector<double> a = random_input(rng, rows * cols, {});
    const std::size_t ld = cols + 2;
    std::vector<float> af(rows * ld, 1e30f);
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < cols; ++j) af[i * ld + j] = static_cast<float>(a[i * cols + j]);
    const std::size_t k = std::min(rows, cols);
    std::vector<double> work(singular_values_gram_workspace(rows, cols));
    std::vector<float> gram(k), jacobi(k);
    ASSERT_TRUE(singular_values_gram<float>(af.data(), rows, cols, ld, work.data(), work.size(), gram.data()).ok());
    std::vector<float> copy = af;
    ASSERT_TRUE(singular_values<float>(copy.data(), rows, cols, ld, jacobi.data()).ok());
    for (std::size_t i = 0; i < k; ++i) EXPECT_NEAR(gram[i], jacobi[i], 2e-5f * jacobi[0]) << "sigma_" << i;
  }
  // diag(3, 3, 2, 0) padded to 4 x 6: the repeated value and the zero come out exactly enough.
  std::vector<double> d(4 * 6, 0.0);
  d[0 * 6 + 0] = 3;
  d[1 * 6 + 1] = -3;
  d[2 * 6 + 4] = 2;
  std::vector<double> work(singular_values_gram_workspace(4, 6)), sigma(4);
  ASSERT_TRUE(singular_values_gram<double>(d.data(), 4, 6, 6, work.data(), work.size(), sigma.data()).ok());
  EXPECT_NEAR(sigma[0], 3, 1e-14);
  EXPECT_NEAR(sigma[1], 3, 1e-14);
  EXPECT_NEAR(sigma[2], 2, 1e-14);
  EXPECT_EQ(sigma[3], 0);
  std::vector<double> zero(9, 0.0), s3(3, -1.0), w3(singular_values_gram_workspace(3, 3));
  ASSERT_TRUE(singular_values_gram<double>(zero.data(), 3, 3, 3, w3.data(), w3.size(), s3.data()).ok());
  for (double v : s3) EXPECT_EQ(v, 0.0);
}

TEST(SvdGram, Errors) {
  std::vector<double> a(6, 1.0), sigma(2, -1.0), work(singular_values_gram_workspace(2, 3));
  EXPECT_EQ(work.size(), 2u * 2u + 2u * 2u);
  EXPECT_EQ(singular_values_gram<double>(nullptr, 2, 3, 3, work.data(), work.size(), sigma.data()).code(), Code::null_pointer);
  EXPECT_EQ(singular_values_gram<double>(a.data(), 2, 3, 3, nullptr, work.size(), sigma.data()).code(), Code::null_pointer);
  EXPECT_EQ(singular_values_gram<double>(a.data(), 2, 3, 3, work.data(), work.size(), nullptr).code(), Code::null_pointer);
  EXPECT_EQ(singular_values_gram<double>(a.data(), 2, 0, 3, work.data(), work.size(), sigma.data()).code(), Code::invalid_argument);
  Status s = singular_values_gram<double>(a.data(), 2, 3, 2, work.data(), work.size(), sigma.data());
  EXPECT_EQ(s.code(), Code::invalid_argument);
  EXPECT_EQ(s.value(), 2);
  EXPECT_EQ(s.limit(), 3);
  s = singular_values_gram<double>(a.data(), 2, 3, 3, work.data(), work.size() - 1, sigma.data());
  EXPECT_EQ(s.code(), Code::buffer_too_small);
  EXPECT_EQ(s.limit(), static_cast<long long>(work.size()));
  a[5] = std::numeric_limits<double>::infinity();
  s = singular_values_gram<double>(a.data(), 2, 3, 3, work.data(), work.size(), sigma.data());
  EXPECT_EQ(s.code(), Code::invalid_argument);
  EXPECT_EQ(s.value(), 1);  // row 1
  EXPECT_EQ(s.limit(), 2);  // col 2
  for (double v : sigma) EXPECT_EQ(v, -1.0);  // nothing written on error
}
