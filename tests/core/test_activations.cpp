#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lipflow/core/kernels.hpp"
#include "support/reference.hpp"

using namespace lipflow;
using kernels::Activation;

namespace {

const Activation kAll[] = {Activation::identity, Activation::relu,    Activation::gelu_erf, Activation::gelu_tanh,
                           Activation::silu,     Activation::sigmoid, Activation::tanh};

// Independent double-precision definitions, straight from the formulas.
double reference(Activation f, double x) {
  const double pi = 3.14159265358979323846;
  switch (f) {
    case Activation::identity: return x;
    case Activation::relu: return x > 0 ? x : 0;
    case Activation::gelu_erf: return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    case Activation::gelu_tanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / pi) * (x + 0.044715 * x * x * x)));
    case Activation::silu: return x / (1 + std::exp(-x));
    case Activation::sigmoid: return 1 / (1 + std::exp(-x));
    case Activation::tanh: return std::tanh(x);
  }
  return 0;
}

template <class T>
class ActivationTest : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ActivationTest, Scalars);

}  // namespace

TYPED_TEST(ActivationTest, ForwardMatchesReference) {
  using T = TypeParam;
  Rng rng(4u);
  // xsimd's erfc is good to about 4e-12 (double) and 2e-6 (float) relative; the rest to a few ulp.
  const double tol = std::is_same<T, float>::value ? 3e-6 : 1e-11;
  for (Activation f : kAll)
    for (std::size_t n : {std::size_t(1), std::size_t(5), std::size_t(16), std::size_t(67), std::size_t(1001)}) {
      std::vector<T> x = lipflow_test::random_vector<T>(rng, n + 1, T(-8), T(8));
      std::vector<T> y(n + 1, T(0));
      ASSERT_TRUE(kernels::activation_forward<T>(f, n, x.data() + 1, y.data() + 1).ok());
      for (std::size_t i = 1; i <= n; ++i) {
        const double r = reference(f, x[i]);
        ASSERT_NEAR(y[i], r, tol * (1 + std::fabs(r))) << kernels::activation_name(f) << " x=" << x[i];
      }
      EXPECT_EQ(y[0], T(0));
    }
}

// The derivative against central finite differences of the double reference (not of our kernel), away
// from ReLU's kink.
TYPED_TEST(ActivationTest, BackwardMatchesFiniteDifferences) {
  using T = TypeParam;
  Rng rng(6u);
  const double tol = std::is_same<T, float>::value ? 2e-5 : 1e-8;
  for (Activation f : kAll) {
    const std::size_t n = 203;
    std::vector<T> x = lipflow_test::random_vector<T>(rng, n, T(-6), T(6));
    for (auto& v : x)
      if (std::fabs(double(v)) < 1e-3) v = T(0.5);
    std::vector<T> dy = lipflow_test::random_vector<T>(rng, n), dx(n);
    ASSERT_TRUE(kernels::activation_backward<T>(f, n, x.data(), dy.data(), dx.data()).ok());
    for (std::size_t i = 0; i < n; ++i) {
      const double h = 1e-6;
      const double d = (reference(f, double(x[i]) + h) - reference(f, double(x[i]) - h)) / (2 * h);
      ASSERT_NEAR(dx[i], d * double(dy[i]), tol * (1 + std::fabs(d))) << kernels::activation_name(f) << " x=" << x[i];
    }
  }
}

// Every element gets the same arithmetic wherever it sits (SIMD body or tail).
TYPED_TEST(ActivationTest, ResultDoesNotDependOnPosition) {
  using T = TypeParam;
  Rng rng(10u);
  std::vector<T> x = lipflow_test::random_vector<T>(rng, 37, T(-4), T(4));
  for (Activation f : kAll) {
    std::vector<T> all(x.size()), one(1);
    ASSERT_TRUE(kernels::activation_forward<T>(f, x.size(), x.data(), all.data()).ok());
    for (std::size_t i = 0; i < x.size(); ++i) {
      ASSERT_TRUE(kernels::activation_forward<T>(f, 1, x.data() + i, one.data()).ok());
      ASSERT_EQ(one[0], all[i]) << kernels::activation_name(f) << " at " << i;
    }
  }
}

TYPED_TEST(ActivationTest, InPlaceAndSaturation) {
  using T = TypeParam;
  std::vector<T> x = {T(-200), T(-50), T(0), T(50), T(200)};
  std::vector<T> s(x);
  ASSERT_TRUE(kernels::activation_forward<T>(Activation::sigmoid, s.size(), s.data(), s.data()).ok());
  const double e200 = std::is_same<T, float>::value ? 0.0 : 1.3838965267367376e-87;  // underflows in float
  EXPECT_NEAR(s[0], e200, 1e-100);
  EXPECT_EQ(s[2], T(0.5));
  EXPECT_EQ(s[4], T(1));
  std::vector<T> d(x.size()), ones(x.size(), T(1));
  for (Activation f : kAll) {
    ASSERT_TRUE(kernels::activation_backward<T>(f, x.size(), x.data(), ones.data(), d.data()).ok());
    for (T v : d) EXPECT_TRUE(std::isfinite(v)) << kernels::activation_name(f);
  }
}

TYPED_TEST(ActivationTest, Errors) {
  using T = TypeParam;
  std::vector<T> x(3, T(1)), y(3, T(2));
  EXPECT_EQ(kernels::activation_forward<T>(static_cast<Activation>(42), 3, x.data(), y.data()).code(),
            Code::invalid_argument);
  EXPECT_EQ(kernels::activation_forward<T>(Activation::relu, 3, nullptr, y.data()).code(), Code::null_pointer);
  EXPECT_EQ(kernels::activation_backward<T>(Activation::relu, 3, x.data(), nullptr, y.data()).code(),
            Code::null_pointer);
  for (T v : y) EXPECT_EQ(v, T(2));
  EXPECT_TRUE(kernels::activation_forward<T>(Activation::relu, 0, nullptr, nullptr).ok());
  EXPECT_STREQ(kernels::activation_name(Activation::gelu_tanh), "gelu_tanh");
}
