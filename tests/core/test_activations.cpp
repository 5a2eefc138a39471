#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lipflow/core/kernels.hpp"
#include "support/reference.hpp"

using namespace lipflow;
using kernels::Activation;

namespace {

using kernels::ActivationSpec;

// Every kind, with non-default parameters where it has them.
const ActivationSpec kAll[] = {
    {Activation::identity},  {Activation::relu}, {Activation::leaky_relu, 0.1}, {Activation::leaky_relu, -1.5},
    {Activation::elu, 1.0},  {Activation::elu, 2.5}, {Activation::gelu_erf},   {Activation::gelu_tanh},
    {Activation::silu},      {Activation::mish}, {Activation::softplus, 0, 1.0}, {Activation::softplus, 0, 3.0},
    {Activation::sigmoid},   {Activation::tanh},
};

double log1pexp(double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }

// Independent double-precision definitions, straight from PyTorch's documented formulas.
double reference(const ActivationSpec& s, double x) {
  const double pi = 3.14159265358979323846;
  switch (s.kind) {
    case Activation::identity: return x;
    case Activation::relu: return x > 0 ? x : 0;
    case Activation::leaky_relu: return x > 0 ? x : s.alpha * x;
    case Activation::elu: return x > 0 ? x : s.alpha * (std::exp(x) - 1);
    case Activation::mish: return x * std::tanh(log1pexp(x));
    case Activation::softplus: return s.beta * x > 20 ? x : log1pexp(s.beta * x) / s.beta;
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
  for (const ActivationSpec& f : kAll)
    for (std::size_t n : {std::size_t(1), std::size_t(5), std::size_t(16), std::size_t(67), std::size_t(1001)}) {
      std::vector<T> x = lipflow_test::random_vector<T>(rng, n + 1, T(-8), T(8));
      std::vector<T> y(n + 1, T(0));
      ASSERT_TRUE(kernels::activation_forward<T>(f, n, x.data() + 1, y.data() + 1).ok());
      for (std::size_t i = 1; i <= n; ++i) {
        const double r = reference(f, x[i]);
        ASSERT_NEAR(y[i], r, tol * (1 + std::fabs(r))) << kernels::activation_name(f.kind) << " x=" << x[i];
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
  for (const ActivationSpec& f : kAll) {
    const std::size_t n = 203;
    std::vector<T> x = lipflow_test::random_vector<T>(rng, n, T(-6), T(6));
    for (auto& v : x)
      if (std::fabs(double(v)) < 1e-3) v = T(0.5);  // away from kinks
    for (auto& v : x)
      if (f.kind == Activation::softplus && std::fabs(f.beta * double(v) - 20) < 1e-3) v = T(0.5);
    std::vector<T> dy = lipflow_test::random_vector<T>(rng, n), dx(n);
    ASSERT_TRUE(kernels::activation_backward<T>(f, n, x.data(), dy.data(), dx.data()).ok());
    for (std::size_t i = 0; i < n; ++i) {
      const double h = 1e-6;
      const double d = (reference(f, double(x[i]) + h) - reference(f, double(x[i]) - h)) / (2 * h);
      ASSERT_NEAR(dx[i], d * double(dy[i]), tol * (1 + std::fabs(d))) << kernels::activation_name(f.kind) << " x=" << x[i];
    }
  }
}

// Every element gets the same arithmetic wherever it sits (SIMD body or tail).
TYPED_TEST(ActivationTest, ResultDoesNotDependOnPosition) {
  using T = TypeParam;
  Rng rng(10u);
  std::vector<T> x = lipflow_test::random_vector<T>(rng, 37, T(-4), T(4));
  for (const ActivationSpec& f : kAll) {
    std::vector<T> all(x.size()), one(1);
    ASSERT_TRUE(kernels::activation_forward<T>(f, x.size(), x.data(), all.data()).ok());
    for (std::size_t i = 0; i < x.size(); ++i) {
      ASSERT_TRUE(kernels::activation_forward<T>(f, 1, x.data() + i, one.data()).ok());
      ASSERT_EQ(one[0], all[i]) << kernels::activation_name(f.kind) << " at " << i;
    }
  }
}

TYPED_TEST(ActivationTest, InPlaceAndSaturation) {
  using T = TypeParam;
  std::vector<T> x = {T(-200), T(-50), T(0), T(50), T(200)};
  std::vector<T> s(x);
  ASSERT_TRUE(kernels::activation_forward<T>({Activation::sigmoid}, s.size(), s.data(), s.data()).ok());
  const double e200 = std::is_same<T, float>::value ? 0.0 : 1.3838965267367376e-87;  // underflows in float
  EXPECT_NEAR(s[0], e200, 1e-100);
  EXPECT_EQ(s[2], T(0.5));
  EXPECT_EQ(s[4], T(1));
  std::vector<T> d(x.size()), ones(x.size(), T(1));
  for (const ActivationSpec& f : kAll) {
    ASSERT_TRUE(kernels::activation_backward<T>(f, x.size(), x.data(), ones.data(), d.data()).ok());
    for (T v : d) EXPECT_TRUE(std::isfinite(v)) << kernels::activation_name(f.kind);
  }
}

TYPED_TEST(ActivationTest, Errors) {
  using T = TypeParam;
  std::vector<T> x(3, T(1)), y(3, T(2));
  EXPECT_EQ(kernels::activation_forward<T>({static_cast<Activation>(42)}, 3, x.data(), y.data()).code(),
            Code::invalid_argument);
  EXPECT_EQ(kernels::activation_forward<T>({Activation::softplus, 0, 0.0}, 3, x.data(), y.data()).code(),
            Code::invalid_argument);
  EXPECT_EQ(kernels::activation_forward<T>({Activation::elu, -1.0}, 3, x.data(), y.data()).code(),
            Code::invalid_argument);
  EXPECT_EQ(kernels::activation_forward<T>({Activation::relu}, 3, nullptr, y.data()).code(), Code::null_pointer);
  EXPECT_EQ(kernels::activation_backward<T>({Activation::relu}, 3, x.data(), nullptr, y.data()).code(),
            Code::null_pointer);
  for (T v : y) EXPECT_EQ(v, T(2));
  EXPECT_TRUE(kernels::activation_forward<T>({Activation::relu}, 0, nullptr, nullptr).ok());
  EXPECT_STREQ(kernels::activation_name(Activation::gelu_tanh), "gelu_tanh");
}

// The Lipschitz constants of PAPER.md Table 2: sup |f'| found by a dense search of the double
// reference's finite-difference derivative, then compared with the stored constant.
TEST(ActivationLipschitz, MatchesTheSupremumOfTheDerivative) {
  for (const ActivationSpec& f : kAll) {
    double sup = 0;
    for (double u = -12; u <= 12; u += 1e-4) {
      const double h = 1e-6;
      sup = std::max(sup, std::fabs((reference(f, u + h) - reference(f, u - h)) / (2 * h)));
    }
    for (double u : {-1e-7, 1e-7}) {  // both sides of the kink at 0 (elu's sup is its left limit)
      const double h = 1e-9;
      sup = std::max(sup, std::fabs((reference(f, u + h) - reference(f, u - h)) / (2 * h)));
    }
    EXPECT_NEAR(kernels::activation_lipschitz(f), sup, 5e-5) << kernels::activation_name(f.kind);
  }
  // The values of the paper's Table 2 (PAPER.md 6.6), to 4 decimals.
  EXPECT_NEAR(kernels::activation_lipschitz({Activation::gelu_erf}), 1.1289, 5e-5);
  EXPECT_NEAR(kernels::activation_lipschitz({Activation::gelu_tanh}), 1.1290, 5e-5);
  EXPECT_NEAR(kernels::activation_lipschitz({Activation::silu}), 1.0998, 5e-5);
  EXPECT_NEAR(kernels::activation_lipschitz({Activation::mish}), 1.0885, 5e-5);
  EXPECT_EQ(kernels::activation_lipschitz({Activation::sigmoid}), 0.25);
  EXPECT_EQ(kernels::activation_lipschitz({Activation::leaky_relu, -1.5}), 1.5);
  EXPECT_EQ(kernels::activation_lipschitz({Activation::elu, 2.5}), 2.5);
}
