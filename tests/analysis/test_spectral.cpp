// Power iteration on weights, module Jacobians and Model Jacobians against the full SVD of the
// explicit Jacobian (the harness's exact Gram-matrix eigenvalue and our Jacobi SVD), warm start
// against cold start, no heap after bind, and the error paths.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lipflow/analysis/jacobian.hpp"
#include "lipflow/analysis/spectral.hpp"
#include "lipflow/analysis/svd.hpp"
#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/attention.hpp"
#include "lipflow/nn/blocks.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/norm.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::nn;
using namespace lipflow::analysis;
using namespace lipflow_test;
using A = kernels::Activation;

namespace {

const PowerOptions kTight{5000, 1e-13};

// sigma_max of J by both exact references; they must agree with each other first.
double exact_norm(std::vector<double> j, std::size_t rows, std::size_t cols) {
  const double gram = matrix_norm2(j, rows, cols);
  std::vector<double> s(std::min(rows, cols));
  EXPECT_TRUE(singular_values<double>(j.data(), rows, cols, cols, s.data()).ok());
  EXPECT_NEAR(s[0], gram, 1e-10 * gram);
  return s[0];
}

void check_module(Module<double>& m, const Shape& in, std::size_t batch, std::uint64_t seed, double scale = 1.0) {
  SCOPED_TRACE(m.kind());
  Memory mem;
  Shape out;
  ASSERT_TRUE(m.plan(in, batch, mem.plan, &out).ok());
  ModuleJacobian<double> jac;
  ModuleSpectralNorm<double> power;
  ASSERT_TRUE(jac.plan(m, mem.plan).ok());
  ASSERT_TRUE(power.plan(m, mem.plan).ok());
  ASSERT_TRUE(mem.bind().ok());
  ASSERT_TRUE(m.bind(mem.arena).ok());
  Rng rng(seed);
  ASSERT_TRUE(m.init(rng).ok());
  ASSERT_TRUE(jac.bind(mem.arena).ok());
  ASSERT_TRUE(power.bind(mem.arena).ok());
  const std::size_t ni = in.size(), no = out.size();
  const std::vector<double> x = random_input(rng, batch * ni, {scale, 0.0});
  std::vector<double> y(batch * no), j(no * ni);
  ASSERT_TRUE(m.forward(x.data(), batch, y.data()).ok());
  for (std::size_t b = 0; b < batch; ++b) {
    ASSERT_TRUE(jac.compute(x.data(), y.data(), batch, b, j.data(), JacobianMethod::columns).ok());
    const double exact = exact_norm(j, no, ni);
    SpectralReport r;
    ASSERT_TRUE(power.estimate(x.data(), y.data(), batch, b, kTight, &r).ok());
    EXPECT_TRUE(r.converged);
    EXPECT_NEAR(r.sigma, exact, 1e-6 * exact) << "sample " << b << " after " << r.iterations << " iterations";
    EXPECT_LE(r.sigma, exact * (1 + 1e-12));  // from below
  }
}

}  // namespace

TEST(Spectral, ModuleJacobianNormMatchesFullSvd) {
  Linear<double> lin(5);
  check_module(lin, Shape::tokens(2, 4), 3, 1);
  LayerNorm<double> ln;
  check_module(ln, Shape::tokens(2, 6), 2, 2);
  AttentionOptions dot;
  dot.heads = 2;
  SelfAttention<double> att(dot);
  check_module(att, Shape::tokens(4, 4), 2, 3, 2.0);
  AttentionOptions cos;
  cos.variant = AttentionVariant::cosine;
  SelfAttention<double> catt(cos);
  check_module(catt, Shape::tokens(3, 4), 2, 4);
  FeedForward<double> ffn(9, {A::silu});
  check_module(ffn, Shape::vec(5), 2, 5);
}

TEST(Spectral, WeightNormMatchesSvd) {
  Linear<double> lin(7);
  Memory mem;
  Shape out;
  ASSERT_TRUE(lin.plan(Shape::vec(4), 1, mem.plan, &out).ok());
  WeightSpectralNorm<double> w;
  ASSERT_TRUE(w.plan(7, 4, mem.plan).ok());
  ASSERT_TRUE(mem.bind().ok());
  ASSERT_TRUE(lin.bind(mem.arena).ok());
  Rng rng(3);
  ASSERT_TRUE(lin.init(rng).ok());
  ASSERT_TRUE(w.bind(mem.arena).ok());
  std::vector<double> copy(lin.weight(), lin.weight() + 28);
  const double exact = exact_norm(copy, 7, 4);
  SpectralReport r;
  ASSERT_TRUE(w.estimate(lin.param(0), kTight, &r).ok());
  EXPECT_NEAR(r.sigma, exact, 1e-9 * exact);
  EXPECT_EQ(w.estimate(lin.param(1), kTight, &r).code(), Code::shape_mismatch);  // the bias (1 x 7)
}

TEST(Spectral, ModelJacobianNormMatchesFullSvdAndWarmStartIsFaster) {
  Linear<double> l1(8), l2(8), l3(3);
  Activation<double> a1({A::gelu_erf}), a2({A::tanh});
  LayerNorm<double> ln;
  Model<double> model;
  for (Module<double>* m : std::initializer_list<Module<double>*>{&l1, &a1, &ln, &l2, &a2, &l3}) ASSERT_TRUE(model.add(m).ok());
  Memory mem;
  ASSERT_TRUE(model.plan(Shape::vec(6), 4, mem.plan).ok());
  ModelJacobian<double> jac;
  ModelSpectralNorm<double> power;
  ASSERT_TRUE(jac.plan(model, mem.plan).ok());
  ASSERT_TRUE(power.plan(model, mem.plan).ok());
  ASSERT_TRUE(mem.bind().ok());
  ASSERT_TRUE(model.bind(mem.arena).ok());
  Rng rng(5);
  ASSERT_TRUE(model.init(rng).ok());
  ASSERT_TRUE(jac.bind(mem.arena).ok());
  ASSERT_TRUE(power.bind(mem.arena).ok());
  const std::size_t batch = 4;
  std::vector<double> x = random_input(rng, batch * 6, {});
  const double* y = nullptr;
  ASSERT_TRUE(model.forward(x.data(), batch, &y).ok());
  std::vector<double> j(3 * 6);
  for (std::size_t b = 0; b < batch; ++b) {
    ASSERT_TRUE(jac.compute(batch, b, j.data()).ok());
    const double exact = exact_norm(j, 3, 6);
    SpectralReport r;
    ASSERT_TRUE(power.estimate(batch, b, kTight, &r).ok());
    EXPECT_NEAR(r.sigma, exact, 1e-6 * exact) << "sample " << b;
  }
  // Warm start: after a small change of the input (as between two training steps) the kept vector
  // converges in fewer iterations than the fixed cold start.
  const PowerOptions opt{1000, 1e-10};
  SpectralReport first, cold, warm;
  ASSERT_TRUE(power.estimate(batch, 0, opt, &first).ok());
  for (std::size_t i = 0; i < 6; ++i) x[i] += 1e-3 * rng.normal_double();
  ASSERT_TRUE(model.forward(x.data(), batch, &y).ok());
  ASSERT_TRUE(power.estimate(batch, 0, opt, &warm).ok());
  power.reset();
  ASSERT_TRUE(power.estimate(batch, 0, opt, &cold).ok());
  EXPECT_TRUE(warm.converged);
  EXPECT_TRUE(cold.converged);
  EXPECT_NEAR(warm.sigma, cold.sigma, 1e-8 * cold.sigma);
  EXPECT_LT(warm.iterations, cold.iterations);
  EXPECT_LE(warm.iterations, 6) << "cold " << cold.iterations;
}

TEST(Spectral, NoHeapAfterBindAndErrors) {
  Linear<float> l1(6), l2(3);
  Activation<float> act({A::silu});
  Model<float> model;
  ASSERT_TRUE(model.add(&l1).ok());
  ASSERT_TRUE(model.add(&act).ok());
  ASSERT_TRUE(model.add(&l2).ok());
  Memory mem;
  ASSERT_TRUE(model.plan(Shape::vec(4), 2, mem.plan).ok());
  ModelSpectralNorm<float> pm;
  ModuleSpectralNorm<float> pl;
  WeightSpectralNorm<float> pw;
  ASSERT_TRUE(pm.plan(model, mem.plan).ok());
  ASSERT_TRUE(pl.plan(l1, mem.plan).ok());
  ASSERT_TRUE(pw.plan(6, 4, mem.plan).ok());
  ASSERT_TRUE(mem.bind().ok());
  ASSERT_TRUE(model.bind(mem.arena).ok());
  Rng rng(1);
  ASSERT_TRUE(model.init(rng).ok());
  ASSERT_TRUE(pm.bind(mem.arena).ok());
  ASSERT_TRUE(pl.bind(mem.arena).ok());
  ASSERT_TRUE(pw.bind(mem.arena).ok());
  std::vector<float> x(8, 0.25f);
  const float* y = nullptr;
  SpectralReport r;
  AllocationWatch watch;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(model.forward(x.data(), 2, &y).ok());
    ASSERT_TRUE(pm.estimate(2, 1, {50, 1e-5}, &r).ok());
    ASSERT_TRUE(pl.estimate(model.layer_input(0), model.layer_output(0), 2, 0, {50, 1e-5}, &r).ok());
    ASSERT_TRUE(pw.estimate(l1.param(0), {50, 1e-5}, &r).ok());
    pm.reset();
  }
  EXPECT_EQ(watch.count(), 0u);
  EXPECT_EQ(pm.estimate(2, 2, {}, &r).code(), Code::invalid_argument);
  EXPECT_EQ(pm.estimate(2, 0, {0, 1e-5}, &r).code(), Code::invalid_argument);  // max_iterations < 1
  EXPECT_EQ(pm.estimate(2, 0, {10, 1.0}, &r).code(), Code::invalid_argument);  // tolerance not < 1
  EXPECT_EQ(pm.estimate(2, 0, {}, nullptr).code(), Code::null_pointer);
  EXPECT_EQ(pl.estimate(nullptr, y, 2, 0, {}, &r).code(), Code::null_pointer);
  ModelSpectralNorm<float> unbound;
  EXPECT_EQ(unbound.estimate(1, 0, {}, &r).code(), Code::not_bound);
  WeightSpectralNorm<float> empty;
  MemoryPlan p2;
  EXPECT_EQ(empty.plan(0, 3, p2).code(), Code::invalid_argument);
}
