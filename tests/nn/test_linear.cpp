#include <gtest/gtest.h>

#include "lipflow/nn/linear.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::nn;
using namespace lipflow_test;

TEST(Linear, DerivativesJvpAndAdjoint) {
  for (bool bias : {true, false}) {
    Linear<double> m(4, bias);
    Bench<double> b;
    ASSERT_TRUE(b.setup(m, Shape::vec(5), 3, 1).ok());
    EXPECT_EQ(b.out, Shape::vec(4));
    check_derivatives(m, b, 3, 2);
    check_derivatives(m, b, 1, 3);
  }
  Linear<double> tokens(6, true);
  Bench<double> bt;
  ASSERT_TRUE(bt.setup(tokens, Shape::tokens(3, 4), 2, 4).ok());
  EXPECT_EQ(bt.out, Shape::tokens(3, 6));
  check_derivatives(tokens, bt, 2, 5);
}

TEST(Linear, MatchesPyTorch) {
  Linear<double> m(4, true);
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::vec(5), 3, 1).ok());
  check_golden(m, b, "linear_bias", {"weight", "bias"});
  Linear<double> t(6, false);
  Bench<double> bt;
  ASSERT_TRUE(bt.setup(t, Shape::tokens(3, 4), 2, 1).ok());
  check_golden(t, bt, "linear_nobias_tokens", {"weight"});
}

TEST(Linear, BoundIsTheSpectralNorm) {
  Linear<double> m(7, true);
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::vec(9), 2, 6).ok());
  check_lipschitz(m, b, 2, 7, {{1.0, 0.0}, {1e-3, 0.0}, {100.0, 5.0}}, 10);
  // For a linear map the bound is tight: it equals the measured norm.
  Rng rng(1);
  const auto jac = explicit_jacobian(m, b, random_input(rng, 9, {}), 1);
  EXPECT_NEAR(m.lipschitz().global, matrix_norm2(jac, 7, 9), 1e-9);
  EXPECT_EQ(m.lipschitz().scope, Scope::global);
  EXPECT_TRUE(m.spectral_estimate().converged);
  // Warm start: a second call converges at once.
  (void)m.lipschitz();
  EXPECT_LE(m.spectral_estimate().iterations, 3);
}

TEST(Linear, FloatMatchesDouble) {
  Linear<double> md(16, true);
  Linear<float> mf(16, true);
  Bench<double> bd;
  Bench<float> bf;
  ASSERT_TRUE(bd.setup(md, Shape::tokens(5, 24), 4, 1).ok());
  ASSERT_TRUE(bf.setup(mf, Shape::tokens(5, 24), 4, 1).ok());
  check_float_matches_double(md, bd, mf, 4, 2);
}

TEST(Linear, NoAllocationAfterBinding) {
  Linear<float> m(32, true);
  Bench<float> b;
  ASSERT_TRUE(b.setup(m, Shape::tokens(8, 16), 4, 1).ok());
  check_no_allocation(m, b, 4);
}

TEST(Linear, BadInputs) {
  MemoryPlan plan;
  Shape out;
  Linear<double> zero(0, true);
  EXPECT_EQ(zero.plan(Shape::vec(3), 2, plan, &out).code(), Code::invalid_argument);
  Linear<double> m(3, true);
  EXPECT_EQ(m.plan(Shape(), 2, plan, &out).code(), Code::shape_mismatch);
  EXPECT_EQ(m.plan(Shape::vec(3), 0, plan, &out).code(), Code::invalid_argument);
  // Not bound yet: running is an error, not a crash.
  double x[3] = {1, 2, 3}, y[3];
  EXPECT_EQ(m.forward(x, 1, y).code(), Code::not_bound);
  Linear<double> ok(3, true);
  Bench<double> b;
  ASSERT_TRUE(b.setup(ok, Shape::vec(3), 2, 1).ok());
  EXPECT_EQ(ok.forward(x, 3, y).code(), Code::invalid_argument);  // batch above max_batch
  EXPECT_EQ(ok.forward(nullptr, 1, y).code(), Code::null_pointer);
  // NaN propagates, never crashes.
  double nan_x[3] = {std::nan(""), 0, 0};
  ASSERT_TRUE(ok.forward(nan_x, 1, y).ok());
  EXPECT_TRUE(std::isnan(y[0]) || std::isnan(y[1]) || std::isnan(y[2]));
}

TEST(Init, ScalesAndOrthogonality) {
  Rng rng(3);
  std::vector<double> w(64 * 32), scratch(96);
  ASSERT_TRUE(init_weight<double>({InitKind::orthogonal, 1.0}, w.data(), 32, 64, rng, nullptr).ok());
  for (std::size_t i = 0; i < 32; ++i)
    for (std::size_t j = 0; j < 32; ++j) {
      double d = 0;
      for (std::size_t k = 0; k < 64; ++k) d += w[i * 64 + k] * w[j * 64 + k];
      ASSERT_NEAR(d, i == j ? 1.0 : 0.0, 1e-12);
    }
  ASSERT_TRUE(init_weight<double>({InitKind::orthogonal, 2.0}, w.data(), 64, 32, rng, nullptr).ok());
  EXPECT_NEAR(matrix_norm2(w, 64, 32), 2.0, 1e-9);  // columns orthonormal, times the gain
  ASSERT_TRUE(init_weight<double>({InitKind::spectral, 1.0}, w.data(), 64, 32, rng, scratch.data()).ok());
  EXPECT_NEAR(matrix_norm2(w, 64, 32), 1.0, 1e-6);
  // Variances of the random initializers over a large matrix.
  std::vector<double> big(256 * 512);
  auto var = [&]() {
    double s = 0;
    for (double v : big) s += v * v;
    return s / static_cast<double>(big.size());
  };
  ASSERT_TRUE(init_weight<double>({InitKind::xavier_normal, 1.0}, big.data(), 256, 512, rng, nullptr).ok());
  EXPECT_NEAR(var(), 2.0 / 768, 0.02 * 2.0 / 768);
  ASSERT_TRUE(init_weight<double>({InitKind::kaiming_uniform, std::sqrt(2.0)}, big.data(), 256, 512, rng, nullptr).ok());
  EXPECT_NEAR(var(), 2.0 / 512, 0.02 * 2.0 / 512);
  ASSERT_TRUE(init_weight<double>({InitKind::kaiming_normal, 1.0, true}, big.data(), 256, 512, rng, nullptr).ok());
  EXPECT_NEAR(var(), 1.0 / 256, 0.02 / 256);
  ASSERT_TRUE(init_weight<double>({InitKind::torch_default}, big.data(), 256, 512, rng, nullptr).ok());
  EXPECT_NEAR(var(), 1.0 / (3 * 512), 0.02 / (3 * 512));
  EXPECT_NEAR(gain_for({kernels::Activation::relu}), std::sqrt(2.0), 1e-15);
  EXPECT_EQ(init_weight<double>({InitKind::xavier_uniform, -1.0}, w.data(), 2, 2, rng, nullptr).code(),
            Code::invalid_argument);
  EXPECT_EQ(init_weight<double>({InitKind::spectral, 1.0}, w.data(), 2, 2, rng, nullptr).code(), Code::null_pointer);
}
