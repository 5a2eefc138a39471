#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "lipflow/core/kernels.hpp"
#include "support/reference.hpp"

using namespace lipflow;
using kernels::Trans;
using lipflow_test::reference_gemm;

namespace {

struct Case {
  std::size_t m, n, k;
};

// Runs one GEMM against the double reference. Operands are padded (ld > width) and start one
// element into their vectors so that nothing is aligned.
template <class T>
void check_gemm(bool ta, bool tb, Case s, double alpha, double beta, Rng& rng) {
  const std::size_t pad = 3;
  const std::size_t a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k;
  const std::size_t b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
  const std::size_t lda = a_cols + pad, ldb = b_cols + pad, ldc = s.n + pad;
  std::vector<T> a = lipflow_test::random_vector<T>(rng, 1 + a_rows * lda);
  std::vector<T> b = lipflow_test::random_vector<T>(rng, 1 + b_rows * ldb);
  std::vector<T> c = lipflow_test::random_vector<T>(rng, 1 + s.m * ldc);
  if (beta == 0) std::fill(c.begin(), c.end(), std::numeric_limits<T>::quiet_NaN());  // never read
  std::vector<T> a0(a.begin() + 1, a.end()), b0(b.begin() + 1, b.end()), c0(c.begin() + 1, c.end());
  std::vector<double> ref, mag;
  reference_gemm(ta, tb, s.m, s.n, s.k, alpha, a0, lda, b0, ldb, beta, c0, ldc, &ref, &mag);

  std::vector<T> work(kernels::gemm_workspace<T>(s.m, s.n, s.k) + 1);
  Status st = kernels::gemm<T>(ta ? Trans::yes : Trans::no, tb ? Trans::yes : Trans::no, s.m, s.n, s.k,
                               T(alpha), a.data() + 1, lda, b.data() + 1, ldb, T(beta), c.data() + 1, ldc,
                               work.data() + 1, work.size() - 1);
  ASSERT_TRUE(st.ok());
  const double u = lipflow_test::unit_roundoff<T>();
  for (std::size_t i = 0; i < s.m; ++i) {
    for (std::size_t j = 0; j < s.n; ++j) {
      const double got = c[1 + i * ldc + j];
      // The standard bound for a length-k dot product, plus the alpha/beta update.
      const double bound = (static_cast<double>(s.k) + 3) * u * mag[i * s.n + j] * 1.01 + 1e-300;
      ASSERT_LE(std::fabs(got - ref[i * s.n + j]), bound)
          << "ta=" << ta << " tb=" << tb << " " << s.m << "x" << s.n << "x" << s.k << " at (" << i << ","
          << j << ")";
    }
    for (std::size_t j = s.n; j < ldc && i + 1 < s.m; ++j) {  // padding between rows untouched
      const T before = c0[i * ldc + j];
      const T after = c[1 + i * ldc + j];
      ASSERT_TRUE((std::isnan(before) && std::isnan(after)) || before == after);
    }
  }
}

template <class T>
class GemmTest : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(GemmTest, Scalars);

}  // namespace

// Sizes: 1, primes, powers of two, sizes straddling the tile and the cache blocks, C of at most one
// vector's width (nr / 2 columns: the one-vector panels), as attention's 12 x 12 x 16 per head, and
// op(B) exactly one panel wide (nr or nr / 2 columns: read in place when not transposed), also with k
// beyond one KC block.
TYPED_TEST(GemmTest, AllTransposesOddAndBlockedShapes) {
  using T = TypeParam;
  Rng rng(17u);
  std::size_t mr = 0, nr = 0;
  kernels::gemm_tile<T>(&mr, &nr);
  const std::vector<Case> cases = {
      {1, 1, 1},        {1, 7, 3},      {5, 1, 2},        {2, 3, 1},         {7, 13, 11},
      {mr, nr, 8},      {mr + 1, nr - 1, 17}, {2 * mr + 3, 3 * nr + 1, 31}, {16, 32, 64},
      {64, 64, 64},     {97, 89, 101},  {31, 257, 300},   {130, 47, 513},
      {12, 12, 16},     {12, 16, 12},   {mr, nr / 2, 9},  {2 * mr + 1, nr / 2 - 1, 300},
      {mr / 3 + 1, nr / 2 + 1, 5}, {20, nr, 300},  {5, nr / 2, 513},
  };
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const Case& s : cases) {
        check_gemm<T>(ta, tb, s, 1.0, 0.0, rng);
        check_gemm<T>(ta, tb, s, -0.75, 0.5, rng);
      }
}

TYPED_TEST(GemmTest, LargeShapesCrossEveryCacheBlock) {
  using T = TypeParam;
  Rng rng(23u);
  check_gemm<T>(false, false, {301, 4133, 19}, 1.0, 1.0, rng);  // n beyond one NC block
  check_gemm<T>(true, false, {256, 256, 256}, 2.0, 0.0, rng);
  check_gemm<T>(false, true, {203, 150, 777}, 1.0, -1.0, rng);   // k beyond one KC block
}

TYPED_TEST(GemmTest, KZeroOrAlphaZeroScalesC) {
  using T = TypeParam;
  std::vector<T> c = {1, 2, 3, 4}, a = {1, 1}, b = {1, 1};
  ASSERT_TRUE(kernels::gemm<T>(Trans::no, Trans::no, 2, 2, 0, T(1), nullptr, 1, nullptr, 2, T(2), c.data(), 2,
                               nullptr, 0)
                  .ok());
  EXPECT_EQ(c, (std::vector<T>{2, 4, 6, 8}));
  ASSERT_TRUE(kernels::gemm<T>(Trans::no, Trans::no, 2, 2, 1, T(0), a.data(), 1, b.data(), 2, T(0), c.data(), 2,
                               nullptr, 0)
                  .ok());
  EXPECT_EQ(c, (std::vector<T>{0, 0, 0, 0}));
  // m == 0 or n == 0: nothing to do, nothing checked.
  EXPECT_TRUE(kernels::gemm<T>(Trans::no, Trans::no, 0, 5, 5, T(1), nullptr, 0, nullptr, 0, T(0), nullptr, 0,
                               nullptr, 0)
                  .ok());
}

TYPED_TEST(GemmTest, ErrorsNameTheBadArgumentAndLeaveCUntouched) {
  using T = TypeParam;
  const std::size_t m = 4, n = 5, k = 6;
  std::vector<T> a(m * k, T(1)), b(k * n, T(1)), c(m * n, T(7));
  std::vector<T> work(kernels::gemm_workspace<T>(m, n, k));
  auto run = [&](std::size_t lda, std::size_t ldb, std::size_t ldc, T* w, std::size_t wn, const T* pa,
                 const T* pb, T* pc) {
    return kernels::gemm<T>(Trans::no, Trans::no, m, n, k, T(1), pa, lda, pb, ldb, T(0), pc, ldc, w, wn);
  };
  Status s = run(k - 1, n, n, work.data(), work.size(), a.data(), b.data(), c.data());
  EXPECT_EQ(s.code(), Code::invalid_argument);
  EXPECT_STREQ(s.where(), "gemm: lda");
  EXPECT_EQ(s.value(), static_cast<long long>(k - 1));
  EXPECT_EQ(run(k, n - 1, n, work.data(), work.size(), a.data(), b.data(), c.data()).code(), Code::invalid_argument);
  EXPECT_EQ(run(k, n, n - 1, work.data(), work.size(), a.data(), b.data(), c.data()).code(), Code::invalid_argument);
  Status small = run(k, n, n, work.data(), work.size() - 1, a.data(), b.data(), c.data());
  EXPECT_EQ(small.code(), Code::buffer_too_small);
  EXPECT_EQ(small.limit(), static_cast<long long>(work.size()));
  EXPECT_EQ(run(k, n, n, nullptr, work.size(), a.data(), b.data(), c.data()).code(), Code::null_pointer);
  EXPECT_EQ(run(k, n, n, work.data(), work.size(), nullptr, b.data(), c.data()).code(), Code::null_pointer);
  EXPECT_EQ(run(k, n, n, work.data(), work.size(), a.data(), nullptr, c.data()).code(), Code::null_pointer);
  EXPECT_EQ(run(k, n, n, work.data(), work.size(), a.data(), b.data(), nullptr).code(), Code::null_pointer);
  for (T v : c) EXPECT_EQ(v, T(7));
  // Transposed A needs lda >= m.
  EXPECT_EQ(kernels::gemm<T>(Trans::yes, Trans::no, m, n, k, T(1), a.data(), m - 1, b.data(), n, T(0), c.data(),
                             n, work.data(), work.size())
                .code(),
            Code::invalid_argument);
}

TYPED_TEST(GemmTest, WorkspaceIsBoundedByTheCacheBlocks) {
  using T = TypeParam;
  EXPECT_EQ(kernels::gemm_workspace<T>(0, 10, 10), 0u);
  const std::size_t big = kernels::gemm_workspace<T>(100000, 100000, 100000);
  EXPECT_EQ(kernels::gemm_workspace<T>(200000, 300000, 400000), big);  // independent of size past blocks
  EXPECT_LT(big * sizeof(T), std::size_t(8) << 20);
}
