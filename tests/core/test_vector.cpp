#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "lipflow/core/kernels.hpp"
#include "support/reference.hpp"

using namespace lipflow;

namespace {

template <class T>
class VectorTest : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(VectorTest, Scalars);

const std::size_t kSizes[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 64, 97, 128, 1000, 4099};
const std::ptrdiff_t kStrides[] = {1, 2, 3, -1, -2};

// Element i of a strided operand whose i-th element is at base[i * inc] (base may point past the
// start of the storage for negative strides).
template <class T>
struct Strided {
  std::vector<T> store;
  T* base;
  Strided(Rng& rng, std::size_t n, std::ptrdiff_t inc) {
    const std::size_t span = 1 + (n - 1) * static_cast<std::size_t>(inc < 0 ? -inc : inc);
    store = lipflow_test::random_vector<T>(rng, span + 2);  // +1 so that base is misaligned
    base = store.data() + 1 + (inc < 0 ? span - 1 : 0);
  }
  T& operator()(std::size_t i, std::ptrdiff_t inc) { return base[static_cast<std::ptrdiff_t>(i) * inc]; }
};

template <class T>
double tol(std::size_t n) {
  return (static_cast<double>(n) + 2) * lipflow_test::unit_roundoff<T>();
}

}  // namespace

TYPED_TEST(VectorTest, Level1AgainstDoubleReference) {
  using T = TypeParam;
  Rng rng(3u);
  for (std::size_t n : kSizes)
    for (std::ptrdiff_t incx : kStrides)
      for (std::ptrdiff_t incy : {std::ptrdiff_t(1), std::ptrdiff_t(-3)}) {
        Strided<T> x(rng, n, incx), y(rng, n, incy);
        std::vector<T> y0(y.store);
        const T alpha = T(0.37);
        ASSERT_TRUE(kernels::axpy<T>(n, alpha, x.base, incx, y.base, incy).ok());
        for (std::size_t i = 0; i < n; ++i) {
          const double yi0 = y0[static_cast<std::size_t>(&y(i, incy) - y.store.data())];
          ASSERT_NEAR(y(i, incy), yi0 + double(alpha) * double(x(i, incx)), 4 * lipflow_test::unit_roundoff<T>());
        }
        EXPECT_EQ(y.store.front(), y0.front());  // neighbours untouched
        EXPECT_EQ(y.store.back(), y0.back());

        double dot = 0, s = 0, ss = 0, l1 = 0, mx = -1e300, amax = 0, mag = 0;
        for (std::size_t i = 0; i < n; ++i) {
          const double xi = x(i, incx), yi = y(i, incy);
          dot += xi * yi;
          mag += std::fabs(xi * yi);
          s += xi;
          ss += xi * xi;
          l1 += std::fabs(xi);
          mx = std::max(mx, xi);
          amax = std::max(amax, std::fabs(xi));
        }
        T r = 0;
        ASSERT_TRUE(kernels::dot<T>(n, x.base, incx, y.base, incy, &r).ok());
        EXPECT_NEAR(r, dot, tol<T>(n) * mag);
        ASSERT_TRUE(kernels::sum<T>(n, x.base, incx, &r).ok());
        EXPECT_NEAR(r, s, tol<T>(n) * l1);
        ASSERT_TRUE(kernels::sum_squares<T>(n, x.base, incx, &r).ok());
        EXPECT_NEAR(r, ss, tol<T>(n) * ss);
        ASSERT_TRUE(kernels::max<T>(n, x.base, incx, &r).ok());
        EXPECT_EQ(r, T(mx));
        ASSERT_TRUE(kernels::norm<T>(kernels::Norm::l1, n, x.base, incx, &r).ok());
        EXPECT_NEAR(r, l1, tol<T>(n) * l1);
        ASSERT_TRUE(kernels::norm<T>(kernels::Norm::l2, n, x.base, incx, &r).ok());
        EXPECT_NEAR(r, std::sqrt(ss), tol<T>(n) * std::sqrt(ss));
        ASSERT_TRUE(kernels::norm<T>(kernels::Norm::linf, n, x.base, incx, &r).ok());
        EXPECT_EQ(r, T(amax));

        std::vector<T> before(x.store);
        ASSERT_TRUE(kernels::scale<T>(n, T(-2), x.base, incx).ok());
        for (std::size_t i = 0; i < n; ++i)
          ASSERT_EQ(x(i, incx), T(-2) * before[static_cast<std::size_t>(&x(i, incx) - x.store.data())]);
        ASSERT_TRUE(kernels::copy<T>(n, x.base, incx, y.base, incy).ok());
        for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(y(i, incy), x(i, incx));
        ASSERT_TRUE(kernels::fill<T>(n, T(5), y.base, incy).ok());
        for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(y(i, incy), T(5));
      }
}

TYPED_TEST(VectorTest, StrideZeroBroadcastsInputs) {
  using T = TypeParam;
  const T x = T(2);
  std::vector<T> y(9, T(1));
  ASSERT_TRUE(kernels::axpy<T>(9, T(3), &x, 0, y.data(), 1).ok());
  for (T v : y) EXPECT_EQ(v, T(7));
  T d = 0;
  ASSERT_TRUE(kernels::dot<T>(9, &x, 0, y.data(), 1, &d).ok());
  EXPECT_EQ(d, T(126));
  EXPECT_EQ(kernels::fill<T>(2, T(0), y.data(), 0).code(), Code::invalid_argument);
  EXPECT_TRUE(kernels::fill<T>(1, T(0), y.data(), 0).ok());
}

TYPED_TEST(VectorTest, NormTwoNeitherOverflowsNorUnderflows) {
  using T = TypeParam;
  const T big = std::numeric_limits<T>::max() / T(4);
  std::vector<T> x = {big, big, big};
  T r = 0;
  ASSERT_TRUE(kernels::norm<T>(kernels::Norm::l2, 3, x.data(), 1, &r).ok());
  EXPECT_NEAR(r / big, std::sqrt(3.0), 1e-6);
  const T tiny = std::numeric_limits<T>::denorm_min() * T(1024);
  std::vector<T> z(40, tiny);
  ASSERT_TRUE(kernels::norm<T>(kernels::Norm::l2, z.size(), z.data(), 1, &r).ok());
  EXPECT_NEAR(r / tiny, std::sqrt(40.0), 1e-2);
  x[1] = std::numeric_limits<T>::infinity();
  ASSERT_TRUE(kernels::norm<T>(kernels::Norm::l2, 3, x.data(), 1, &r).ok());
  EXPECT_TRUE(std::isinf(r));
  x[2] = std::numeric_limits<T>::quiet_NaN();
  ASSERT_TRUE(kernels::norm<T>(kernels::Norm::l2, 3, x.data(), 1, &r).ok());
  EXPECT_TRUE(std::isnan(r));
}

TYPED_TEST(VectorTest, MaxSkipsNanUnlessAllAreNan) {
  using T = TypeParam;
  const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
  std::vector<T> x(37, T(-1));
  x[0] = nan;
  x[20] = T(4);
  x[36] = nan;
  T r = 0;
  ASSERT_TRUE(kernels::max<T>(x.size(), x.data(), 1, &r).ok());
  EXPECT_EQ(r, T(4));
  std::vector<T> all_nan(19, nan), all_minf(19, -inf);
  ASSERT_TRUE(kernels::max<T>(all_nan.size(), all_nan.data(), 1, &r).ok());
  EXPECT_TRUE(std::isnan(r));
  ASSERT_TRUE(kernels::max<T>(all_minf.size(), all_minf.data(), 1, &r).ok());
  EXPECT_EQ(r, -inf);
  EXPECT_EQ(kernels::max<T>(0, x.data(), 1, &r).code(), Code::invalid_argument);
}

TYPED_TEST(VectorTest, ErrorPathsWriteNothing) {
  using T = TypeParam;
  std::vector<T> y(4, T(9));
  T r = T(-5);
  EXPECT_EQ(kernels::axpy<T>(4, T(1), nullptr, 1, y.data(), 1).code(), Code::null_pointer);
  EXPECT_EQ(kernels::axpy<T>(4, T(1), y.data(), 1, nullptr, 1).code(), Code::null_pointer);
  EXPECT_EQ(kernels::axpy<T>(4, T(1), y.data(), 1, y.data(), 0).code(), Code::invalid_argument);
  EXPECT_EQ(kernels::dot<T>(4, y.data(), 1, nullptr, 1, &r).code(), Code::null_pointer);
  EXPECT_EQ(kernels::dot<T>(4, y.data(), 1, y.data(), 1, nullptr).code(), Code::null_pointer);
  EXPECT_EQ(kernels::sum<T>(4, nullptr, 1, &r).code(), Code::null_pointer);
  EXPECT_EQ(kernels::norm<T>(static_cast<kernels::Norm>(7), 4, y.data(), 1, &r).code(), Code::invalid_argument);
  EXPECT_EQ(kernels::copy<T>(4, nullptr, 1, y.data(), 1).code(), Code::null_pointer);
  EXPECT_EQ(r, T(-5));
  for (T v : y) EXPECT_EQ(v, T(9));
  // n == 0 is valid with null pointers.
  EXPECT_TRUE(kernels::axpy<T>(0, T(1), nullptr, 1, nullptr, 1).ok());
  EXPECT_TRUE(kernels::sum<T>(0, nullptr, 1, &r).ok());
  EXPECT_EQ(r, T(0));
}

TYPED_TEST(VectorTest, RowwiseSoftmaxLogSoftmaxMeanVar) {
  using T = TypeParam;
  Rng rng(8u);
  for (std::size_t cols : {1, 3, 10, 12, 16, 17, 33, 256}) {  // one-vector rows (masked) and longer ones
    const std::size_t rows = 5, ld = cols + 2;
    std::vector<T> x = lipflow_test::random_vector<T>(rng, rows * ld + 1, T(-30), T(30));
    std::vector<T> y(rows * ld + 1, T(0)), ls(rows * ld + 1, T(0)), mean(rows), var(rows);
    ASSERT_TRUE(kernels::softmax_rows<T>(rows, cols, x.data() + 1, ld, y.data() + 1, ld).ok());
    ASSERT_TRUE(kernels::log_softmax_rows<T>(rows, cols, x.data() + 1, ld, ls.data() + 1, ld).ok());
    ASSERT_TRUE(kernels::mean_var_rows<T>(rows, cols, x.data() + 1, ld, mean.data(), var.data()).ok());
    const double u = lipflow_test::unit_roundoff<T>();
    for (std::size_t r = 0; r < rows; ++r) {
      const T* xr = x.data() + 1 + r * ld;
      double m = -1e300, s = 0, mu = 0, v = 0;
      for (std::size_t j = 0; j < cols; ++j) m = std::max(m, double(xr[j]));
      for (std::size_t j = 0; j < cols; ++j) s += std::exp(double(xr[j]) - m);
      for (std::size_t j = 0; j < cols; ++j) mu += xr[j];
      mu /= double(cols);
      for (std::size_t j = 0; j < cols; ++j) v += (xr[j] - mu) * (xr[j] - mu);
      v /= double(cols);
      for (std::size_t j = 0; j < cols; ++j) {
        const double p = std::exp(double(xr[j]) - m) / s;
        const double lp = double(xr[j]) - m - std::log(s);
        ASSERT_NEAR(y[1 + r * ld + j], p, 64 * u * (p + 1e-30) + 1e-300);
        ASSERT_NEAR(ls[1 + r * ld + j], lp, 64 * u * (std::fabs(lp) + 60));
      }
      EXPECT_NEAR(mean[r], mu, 8 * u * 30 * double(cols));
      EXPECT_NEAR(var[r], v, 16 * u * 900 * double(cols));
      for (std::size_t j = cols; j < ld && r + 1 < rows; ++j) ASSERT_EQ(y[1 + r * ld + j], T(0));  // padding
    }
    // In place gives the same bits as out of place.
    std::vector<T> inplace(x);
    ASSERT_TRUE(kernels::softmax_rows<T>(rows, cols, inplace.data() + 1, ld, inplace.data() + 1, ld).ok());
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t j = 0; j < cols; ++j) ASSERT_EQ(inplace[1 + r * ld + j], y[1 + r * ld + j]);
  }
  std::vector<T> x(6, T(1)), y(6), m(2), v(2);
  EXPECT_EQ(kernels::softmax_rows<T>(2, 3, x.data(), 2, y.data(), 3).code(), Code::invalid_argument);
  EXPECT_EQ(kernels::log_softmax_rows<T>(2, 3, x.data(), 3, nullptr, 3).code(), Code::null_pointer);
  EXPECT_EQ(kernels::mean_var_rows<T>(2, 0, x.data(), 3, m.data(), v.data()).code(), Code::invalid_argument);
  EXPECT_EQ(kernels::mean_var_rows<T>(2, 3, x.data(), 3, nullptr, v.data()).code(), Code::null_pointer);
}

TYPED_TEST(VectorTest, SoftmaxIsStableForHugeLogits) {
  using T = TypeParam;
  std::vector<T> x = {T(1000), T(999), T(-1000)}, y(3), ls(3);
  ASSERT_TRUE(kernels::softmax_rows<T>(1, 3, x.data(), 3, y.data(), 3).ok());
  ASSERT_TRUE(kernels::log_softmax_rows<T>(1, 3, x.data(), 3, ls.data(), 3).ok());
  const double e = std::exp(-1.0);
  EXPECT_NEAR(y[0], 1 / (1 + e), 1e-6);
  EXPECT_NEAR(y[1], e / (1 + e), 1e-6);
  EXPECT_EQ(y[2], T(0));
  EXPECT_NEAR(ls[0], -std::log1p(e), 1e-5);
  EXPECT_NEAR(ls[2], -2000 - std::log1p(e), 1e-2);
}

// Reference: out_r = scale p_r .* (g_r - <p_r, g_r>) in double; rows shorter than a vector take the
// kernel's one-vector-per-row path, 4 rows at a time and then one.
TYPED_TEST(VectorTest, SoftmaxRowsVjpAgainstDoubleReference) {
  using T = TypeParam;
  Rng rng(12u);
  const double u = lipflow_test::unit_roundoff<T>();
  for (std::size_t cols : {1, 3, 12, 16, 17, 33, 100}) {
    const std::size_t rows = 5, ld = cols + 3;  // 4 rows at once, then one
    const T sentinel = T(-7);
    std::vector<T> x = lipflow_test::random_vector<T>(rng, rows * ld, T(-3), T(3)), p(rows * ld, sentinel);
    ASSERT_TRUE(kernels::softmax_rows<T>(rows, cols, x.data(), ld, p.data(), ld).ok());
    const std::vector<T> g = lipflow_test::random_vector<T>(rng, rows * ld, T(-2), T(2));
    std::vector<T> out(rows * ld, sentinel), inplace(g);
    ASSERT_TRUE(kernels::softmax_rows_vjp<T>(rows, cols, p.data(), ld, g.data(), ld, T(0.5), out.data(), ld).ok());
    ASSERT_TRUE(kernels::softmax_rows_vjp<T>(rows, cols, p.data(), ld, inplace.data(), ld, T(0.5), inplace.data(), ld).ok());
    for (std::size_t r = 0; r < rows; ++r) {
      double c = 0, mag = 0;
      for (std::size_t j = 0; j < cols; ++j) {
        c += double(p[r * ld + j]) * double(g[r * ld + j]);
        mag += std::fabs(double(p[r * ld + j]) * double(g[r * ld + j]));
      }
      for (std::size_t j = 0; j < cols; ++j) {
        const double pj = p[r * ld + j], want = 0.5 * pj * (double(g[r * ld + j]) - c);
        ASSERT_NEAR(out[r * ld + j], want, 8 * u * pj * (std::fabs(double(g[r * ld + j])) + double(cols) * mag) + 1e-300)
            << "cols " << cols << " row " << r << " col " << j;
        ASSERT_EQ(inplace[r * ld + j], out[r * ld + j]);  // in place: the same bits
      }
      for (std::size_t j = cols; j < ld; ++j) ASSERT_EQ(out[r * ld + j], sentinel);  // nothing else written
    }
  }
  std::vector<T> a(6, T(1)), b(6);
  EXPECT_EQ(kernels::softmax_rows_vjp<T>(2, 3, a.data(), 2, a.data(), 3, T(1), b.data(), 3).code(), Code::invalid_argument);
  EXPECT_EQ(kernels::softmax_rows_vjp<T>(2, 3, a.data(), 3, nullptr, 3, T(1), b.data(), 3).code(), Code::null_pointer);
  EXPECT_EQ(kernels::softmax_rows_vjp<T>(2, 3, a.data(), 3, a.data(), 3, T(1), b.data(), 2).code(), Code::invalid_argument);
  EXPECT_TRUE(kernels::softmax_rows_vjp<T>(0, 3, nullptr, 3, nullptr, 3, T(1), nullptr, 3).ok());
}

// broadcast_row copies exactly; add_column_sums gives the bits of one axpy per row (the loop it replaces)
// and matches a double reference; neither writes outside its rows.
TYPED_TEST(VectorTest, BroadcastRowAndColumnSums) {
  using T = TypeParam;
  Rng rng(13u);
  const double u = lipflow_test::unit_roundoff<T>();
  for (std::size_t cols : {1, 3, 10, 16, 17, 32, 64, 65, 100}) {
    for (std::size_t rows : {1, 5, 384}) {
      const std::size_t ld = cols + 2;
      const T sentinel = T(-7);
      const std::vector<T> v = lipflow_test::random_vector<T>(rng, cols);
      std::vector<T> y(rows * ld, sentinel);
      ASSERT_TRUE(kernels::broadcast_row<T>(rows, cols, v.data(), y.data(), ld).ok());
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < ld; ++j) ASSERT_EQ(y[r * ld + j], j < cols ? v[j] : sentinel);

      const std::vector<T> x = lipflow_test::random_vector<T>(rng, rows * ld);
      std::vector<T> sums(v), by_rows(v);
      sums.push_back(sentinel);
      ASSERT_TRUE(kernels::add_column_sums<T>(rows, cols, x.data(), ld, sums.data()).ok());
      for (std::size_t r = 0; r < rows; ++r)
        ASSERT_TRUE(kernels::axpy<T>(cols, T(1), x.data() + r * ld, 1, by_rows.data(), 1).ok());
      for (std::size_t j = 0; j < cols; ++j) {
        ASSERT_EQ(sums[j], by_rows[j]) << "rows " << rows << " cols " << cols << " col " << j;
        double want = v[j], mag = std::fabs(double(v[j]));
        for (std::size_t r = 0; r < rows; ++r) {
          want += x[r * ld + j];
          mag += std::fabs(double(x[r * ld + j]));
        }
        ASSERT_NEAR(sums[j], want, double(rows + 1) * u * mag);
      }
      ASSERT_EQ(sums[cols], sentinel);
    }
  }
  std::vector<T> a(6, T(1)), b(3);
  EXPECT_EQ(kernels::broadcast_row<T>(2, 3, nullptr, b.data(), 3).code(), Code::null_pointer);
  EXPECT_EQ(kernels::broadcast_row<T>(2, 3, a.data(), a.data(), 2).code(), Code::invalid_argument);
  EXPECT_EQ(kernels::add_column_sums<T>(2, 3, a.data(), 2, b.data()).code(), Code::invalid_argument);
  EXPECT_EQ(kernels::add_column_sums<T>(2, 3, a.data(), 3, nullptr).code(), Code::null_pointer);
  EXPECT_TRUE(kernels::add_column_sums<T>(0, 3, nullptr, 3, nullptr).ok());
}
