// The normalization modules of lipflow/nn/norm.hpp through the module harness: derivatives (finite
// differences, jvp, adjoint), PyTorch goldens, float against double, Lipschitz bounds against measured
// Jacobian norms (including small-variance and shifted inputs), no allocation, bad inputs; plus the
// BatchNorm running statistics against PyTorch's and the paper's LayerNorm-vs-CenterNorm point.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "lipflow/nn/norm.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::nn;
using namespace lipflow_test;

namespace {

// Gains 1 + 0.5 N(0, 1), shifts 0.5 N(0, 1): with PyTorch's init (1 and 0) a wrong gain index or a
// missing gain in a derivative would go unseen.
void randomize_params(Module<double>& m, std::uint64_t seed) {
  Rng rng(seed);
  for (std::size_t p = 0; p < m.param_count(); ++p) {
    const Param<double> prm = m.param(p);
    for (std::size_t i = 0; i < prm.size; ++i)
      prm.value[i] = (prm.flags & kParamNormGain) ? 1.0 + 0.5 * rng.normal_double() : 0.5 * rng.normal_double();
  }
}

// Plans, binds and randomizes m, then runs check_derivatives for each input distribution.
void derivatives(Module<double>& m, const Shape& in, std::size_t batch, std::uint64_t seed,
                 const std::vector<InputDist>& dists = {InputDist{}}) {
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, in, batch, seed).ok()) << m.kind();
  ASSERT_EQ(b.out, in);
  randomize_params(m, seed + 100);
  for (std::size_t i = 0; i < dists.size(); ++i) {
    SCOPED_TRACE(testing::Message() << m.kind() << " rank " << in.rank << " size " << in.size() << " batch "
                                    << batch << " params " << m.param_count() << " input scale "
                                    << dists[i].scale << " shift " << dists[i].shift);
    check_derivatives(m, b, batch, seed + 1 + i, dists[i]);
  }
}

// The distributions every bound is checked on: standard, small variance (where 1/sigma explodes and
// eps takes over), and a large shift with small variance (the statistics must not lose it).
const std::vector<InputDist> kBoundDists = {{1.0, 0.0}, {1e-3, 0.0}, {1e-2, 5.0}};

void lipschitz_checks(Module<double>& m, const Shape& in, std::size_t batch, std::uint64_t seed, Scope scope) {
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, in, batch, seed).ok()) << m.kind();
  randomize_params(m, seed + 100);
  check_lipschitz(m, b, batch, seed + 1, kBoundDists, 100);
  const Lipschitz l = m.lipschitz();
  EXPECT_EQ(l.scope, scope) << m.kind();
  EXPECT_TRUE(std::isfinite(l.global)) << m.kind();
  EXPECT_GT(std::string(l.formula).size(), 0u);
}

// Measured ||J(x)||_2 of a bound double module at x (batch given by x's size).
double measured_norm(Module<double>& m, Bench<double>& b, const std::vector<double>& x, std::size_t batch) {
  const std::vector<double> jac = explicit_jacobian(m, b, x, batch);
  return matrix_norm2(jac, b.out_total(batch), b.in_total(batch));
}

void float_matches_double(Module<double>& md, Module<float>& mf, const Shape& in, std::size_t batch, InputDist d = {}) {
  Bench<double> bd;
  Bench<float> bf;
  ASSERT_TRUE(bd.setup(md, in, batch, 1).ok());
  ASSERT_TRUE(bf.setup(mf, in, batch, 1).ok());
  randomize_params(md, 5);
  check_float_matches_double(md, bd, mf, batch, 2, d);
}

void no_allocation(Module<float>& m, const Shape& in, std::size_t batch) {
  Bench<float> b;
  ASSERT_TRUE(b.setup(m, in, batch, 1).ok());
  check_no_allocation(m, b, batch);
}

// Shared error paths of any module after plan: not bound, batch checks, NaN propagation.
void run_errors_and_nan(Module<double>& m, const Shape& in, std::size_t batch) {
  std::vector<double> x(in.size() * (batch + 1), 0.5), y(x.size()), dy(x.size(), 1.0), dx(x.size());
  EXPECT_EQ(m.forward(x.data(), 1, y.data()).code(), Code::not_bound) << m.kind();
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, in, batch, 1).ok());
  EXPECT_EQ(m.forward(x.data(), batch + 1, y.data()).code(), Code::invalid_argument) << m.kind();
  EXPECT_EQ(m.forward(nullptr, batch, y.data()).code(), Code::null_pointer) << m.kind();
  Rng rng(3);
  for (auto& v : x) v = rng.normal_double();
  x[1] = std::nan("");
  ASSERT_TRUE(m.forward(x.data(), batch, y.data()).ok()) << m.kind();
  bool any_nan = false;
  for (std::size_t i = 0; i < b.out_total(batch); ++i) any_nan = any_nan || std::isnan(y[i]);
  EXPECT_TRUE(any_nan) << m.kind() << ": NaN input must propagate";
  ASSERT_TRUE(m.backward(x.data(), y.data(), dy.data(), batch, dx.data()).ok()) << m.kind();
  ASSERT_TRUE(m.jvp(x.data(), dy.data(), batch, dx.data()).ok()) << m.kind();
  EXPECT_EQ(m.jvp(x.data(), dy.data(), batch, nullptr).code(), Code::null_pointer) << m.kind();
}

// A module that caches statistics refuses backward/jvp before any forward and with another batch.
void needs_last_forward(Module<double>& m, const Shape& in, std::size_t batch) {
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, in, batch, 1).ok());
  std::vector<double> x(in.size() * batch, 0.0), y(x.size()), dy(x.size(), 1.0), dx(x.size());
  Rng rng(4);
  for (auto& v : x) v = rng.normal_double();
  EXPECT_EQ(m.backward(x.data(), y.data(), dy.data(), batch, dx.data()).code(), Code::invalid_argument) << m.kind();
  EXPECT_EQ(m.jvp(x.data(), dy.data(), batch, dx.data()).code(), Code::invalid_argument) << m.kind();
  ASSERT_TRUE(m.forward(x.data(), batch, y.data()).ok());
  EXPECT_EQ(m.backward(x.data(), y.data(), dy.data(), batch - 1, dx.data()).code(), Code::invalid_argument)
      << m.kind();
  EXPECT_TRUE(m.backward(x.data(), y.data(), dy.data(), batch, dx.data()).ok()) << m.kind();
}

Code plan_code(Module<double>& m, const Shape& in, std::size_t max_batch = 2) {
  MemoryPlan plan;
  Shape out;
  return m.plan(in, max_batch, plan, &out).code();
}

const double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

// ================================================================ LayerNorm

TEST(LayerNorm, DerivativesJvpAndAdjoint) {
  for (bool affine : {true, false}) {
    LayerNorm<double> vec(1e-5, affine), tok(1e-5, affine);
    derivatives(vec, Shape::vec(6), 3, 1, {{1.0, 0.0}, {0.1, 3.0}});
    derivatives(tok, Shape::tokens(3, 5), 2, 2);
  }
  LayerNorm<double> one(1e-5, true);
  derivatives(one, Shape::vec(4), 1, 3);
}

TEST(LayerNorm, MatchesPyTorch) {
  LayerNorm<double> a(1e-5, true), p(1e-5, false), s(1e-5, true);
  Bench<double> ba, bp, bs;
  ASSERT_TRUE(ba.setup(a, Shape::tokens(3, 5), 2, 1).ok());
  check_golden(a, ba, "norm_layer_affine_tokens", {"gamma", "beta"});
  ASSERT_TRUE(bp.setup(p, Shape::vec(6), 3, 1).ok());
  check_golden(p, bp, "norm_layer_plain_vec", {});
  ASSERT_TRUE(bs.setup(s, Shape::vec(7), 2, 1).ok());  // x = 5 + 1e-2 N(0, 1): the Jacobian is ~100
  check_golden(s, bs, "norm_layer_small_var", {"gamma", "beta"}, 1e-10);
}

TEST(LayerNorm, BoundHoldsOnSmallVarianceAndShiftedInputs) {
  for (bool affine : {true, false}) {
    LayerNorm<double> vec(1e-5, affine), tok(1e-5, affine);
    lipschitz_checks(vec, Shape::vec(8), 2, 1, Scope::local);
    lipschitz_checks(tok, Shape::tokens(3, 4), 2, 2, Scope::local);
  }
  // Global bound: max|gamma| / sqrt(eps); before any forward local = global.
  LayerNorm<double> m(1e-4, true);
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::vec(5), 1, 1).ok());
  EXPECT_DOUBLE_EQ(m.lipschitz().local, 100.0);
  m.gamma()[3] = -3.0;
  EXPECT_DOUBLE_EQ(m.lipschitz().global, 300.0);
}

TEST(LayerNorm, FloatMatchesDouble) {
  LayerNorm<double> md(1e-5, true);
  LayerNorm<float> mf(1e-5, true);
  float_matches_double(md, mf, Shape::tokens(5, 24), 4);
  LayerNorm<double> pd(1e-5, false);
  LayerNorm<float> pf(1e-5, false);
  float_matches_double(pd, pf, Shape::vec(16), 3, {0.5, 2.0});
}

TEST(LayerNorm, NoAllocationAfterBinding) {
  LayerNorm<float> m(1e-5, true);
  no_allocation(m, Shape::tokens(8, 16), 4);
}

TEST(LayerNorm, ParametersAndFlags) {
  LayerNorm<double> m(1e-5, true);
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::tokens(2, 3), 1, 1).ok());
  ASSERT_EQ(m.param_count(), 2u);
  EXPECT_EQ(m.param(0).flags, kParamNormGain);  // no decay
  EXPECT_EQ(m.param(1).flags, kParamBias);
  EXPECT_EQ(m.param(0).size, 3u);
  EXPECT_EQ(m.param(2).value, nullptr);
  for (std::size_t i = 0; i < 3; ++i) {  // PyTorch's init
    EXPECT_EQ(m.gamma()[i], 1.0);
    EXPECT_EQ(m.beta()[i], 0.0);
  }
  // Caches (mean, rstd) are activations, parameters only gamma and beta.
  EXPECT_EQ(b.plan.bytes(MemoryKind::parameters), 2 * MemoryPlan::kAlignment);  // each region padded to 64
  EXPECT_GT(b.plan.bytes(MemoryKind::activations), 0u);
  LayerNorm<double> plain(1e-5, false);
  EXPECT_EQ(plain.param_count(), 0u);
}

TEST(LayerNorm, BadInputs) {
  LayerNorm<double> zero(0.0), neg(-1e-5), nan(kNaN), inf(std::numeric_limits<double>::infinity());
  EXPECT_EQ(plan_code(zero, Shape::vec(4)), Code::invalid_argument);
  EXPECT_EQ(plan_code(neg, Shape::vec(4)), Code::invalid_argument);
  EXPECT_EQ(plan_code(nan, Shape::vec(4)), Code::invalid_argument);
  EXPECT_EQ(plan_code(inf, Shape::vec(4)), Code::invalid_argument);
  LayerNorm<double> r3, r0, mb, no;
  EXPECT_EQ(plan_code(r3, Shape::image(2, 3, 4)), Code::shape_mismatch);
  EXPECT_EQ(plan_code(r0, Shape()), Code::shape_mismatch);
  EXPECT_EQ(plan_code(mb, Shape::vec(4), 0), Code::invalid_argument);
  MemoryPlan plan;
  EXPECT_EQ(no.plan(Shape::vec(4), 2, plan, nullptr).code(), Code::null_pointer);
  LayerNorm<double> run, last;
  run_errors_and_nan(run, Shape::tokens(2, 4), 2);
  needs_last_forward(last, Shape::tokens(2, 4), 2);
}

// ================================================================ RMSNorm

TEST(RMSNorm, DerivativesJvpAndAdjoint) {
  for (bool affine : {true, false}) {
    RMSNorm<double> vec(1e-5, affine), tok(1e-6, affine);
    derivatives(vec, Shape::vec(6), 3, 1, {{1.0, 0.0}, {0.1, 3.0}});
    derivatives(tok, Shape::tokens(3, 5), 2, 2);
  }
}

TEST(RMSNorm, MatchesPyTorchExpression) {
  RMSNorm<double> a(1e-6, true), p(1e-5, false);
  Bench<double> ba, bp;
  ASSERT_TRUE(ba.setup(a, Shape::tokens(3, 5), 2, 1).ok());
  check_golden(a, ba, "norm_rms_affine_tokens", {"gain"});
  ASSERT_TRUE(bp.setup(p, Shape::vec(6), 3, 1).ok());
  check_golden(p, bp, "norm_rms_plain_vec", {});
}

TEST(RMSNorm, BoundHoldsOnSmallVarianceAndShiftedInputs) {
  for (bool affine : {true, false}) {
    RMSNorm<double> vec(1e-5, affine), tok(1e-5, affine);
    lipschitz_checks(vec, Shape::vec(8), 2, 1, Scope::local);
    lipschitz_checks(tok, Shape::tokens(3, 4), 2, 2, Scope::local);
  }
  RMSNorm<double> m(1e-6, false);
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::vec(5), 1, 1).ok());
  EXPECT_NEAR(m.lipschitz().global, 1000.0, 1e-9);
}

TEST(RMSNorm, FloatMatchesDouble) {
  RMSNorm<double> md(1e-5, true);
  RMSNorm<float> mf(1e-5, true);
  float_matches_double(md, mf, Shape::tokens(5, 24), 4);
}

TEST(RMSNorm, NoAllocationAfterBinding) {
  RMSNorm<float> m(1e-5, true);
  no_allocation(m, Shape::tokens(8, 16), 4);
}

TEST(RMSNorm, BadInputs) {
  RMSNorm<double> zero(0.0), neg(-1.0);
  EXPECT_EQ(plan_code(zero, Shape::vec(4)), Code::invalid_argument);
  EXPECT_EQ(plan_code(neg, Shape::vec(4)), Code::invalid_argument);
  RMSNorm<double> r3;
  EXPECT_EQ(plan_code(r3, Shape::image(2, 3, 4)), Code::shape_mismatch);
  RMSNorm<double> m;
  EXPECT_EQ(m.param_count(), 1u);
  run_errors_and_nan(m, Shape::vec(5), 2);
  RMSNorm<double> last;
  needs_last_forward(last, Shape::vec(5), 3);
}

// ================================================================ CenterNorm

TEST(CenterNorm, DerivativesJvpAndAdjoint) {
  for (bool affine : {true, false}) {
    CenterNorm<double> vec(affine), tok(affine), two(affine);
    derivatives(vec, Shape::vec(6), 3, 1, {{1.0, 0.0}, {1e-2, 5.0}});
    derivatives(tok, Shape::tokens(3, 5), 2, 2);
    derivatives(two, Shape::vec(2), 2, 3);  // the smallest D
  }
}

TEST(CenterNorm, MatchesPyTorchExpression) {
  CenterNorm<double> a(true), p(false);
  Bench<double> ba, bp;
  ASSERT_TRUE(ba.setup(a, Shape::tokens(3, 5), 2, 1).ok());
  check_golden(a, ba, "norm_center_affine_tokens", {"gamma", "beta"});
  ASSERT_TRUE(bp.setup(p, Shape::vec(4), 3, 1).ok());
  check_golden(p, bp, "norm_center_plain_vec", {});
}

TEST(CenterNorm, GlobalBoundIsDOverDMinusOneTimesMaxGain) {
  for (bool affine : {true, false}) {
    CenterNorm<double> vec(affine), tok(affine);
    lipschitz_checks(vec, Shape::vec(8), 2, 1, Scope::global);
    lipschitz_checks(tok, Shape::tokens(3, 4), 2, 2, Scope::global);
  }
  CenterNorm<double> m(true);
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::vec(5), 1, 1).ok());
  m.gamma()[2] = -2.0;
  const Lipschitz l = m.lipschitz();
  EXPECT_DOUBLE_EQ(l.global, 2.5);
  EXPECT_DOUBLE_EQ(l.local, 2.5);
}

TEST(CenterNorm, FloatMatchesDouble) {
  CenterNorm<double> md(true);
  CenterNorm<float> mf(true);
  float_matches_double(md, mf, Shape::tokens(5, 24), 4);
}

TEST(CenterNorm, NoAllocationAfterBinding) {
  CenterNorm<float> m(true);
  no_allocation(m, Shape::tokens(8, 16), 4);
}

TEST(CenterNorm, BadInputs) {
  CenterNorm<double> d1, t1, r3;
  EXPECT_EQ(plan_code(d1, Shape::vec(1)), Code::shape_mismatch);  // D/(D-1) undefined
  EXPECT_EQ(plan_code(t1, Shape::tokens(4, 1)), Code::shape_mismatch);
  EXPECT_EQ(plan_code(r3, Shape::image(2, 3, 4)), Code::shape_mismatch);
  CenterNorm<double> m;
  run_errors_and_nan(m, Shape::tokens(2, 3), 2);
}

// ================================================================ The paper's point (PAPER.md 6.3.1, 6.3.3)

// LayerNorm's local Jacobian norm is 1/sqrt(sigma^2 + eps): it grows like 1/sigma as the input's
// standard deviation shrinks, until eps caps it at 1/sqrt(eps). CenterNorm's is D/(D-1) at any scale.
TEST(NormalizationPaperPoint, LayerNormGrowsLikeOneOverSigmaCenterNormDoesNot) {
  const std::size_t d = 16;
  Rng rng(11);
  const std::vector<double> z = random_input(rng, d, {});
  auto scaled = [&](double sigma) {
    std::vector<double> x(z);
    for (auto& v : x) v *= sigma;
    return x;
  };
  LayerNorm<double> ln(1e-12, false);
  CenterNorm<double> cn(false);
  Bench<double> bl, bc;
  ASSERT_TRUE(bl.setup(ln, Shape::vec(d), 1, 1).ok());
  ASSERT_TRUE(bc.setup(cn, Shape::vec(d), 1, 1).ok());
  const double ln1 = measured_norm(ln, bl, scaled(1e-1), 1);
  const double ln_local1 = ln.lipschitz().local;
  const double ln2 = measured_norm(ln, bl, scaled(1e-2), 1);
  const double ln_local2 = ln.lipschitz().local;
  EXPECT_NEAR(ln2 / ln1, 10.0, 1e-4);
  // The local bound is attained (gamma = 1, D >= 3): it is the measured norm.
  EXPECT_NEAR(ln_local1, ln1, 1e-8 * ln1);
  EXPECT_NEAR(ln_local2, ln2, 1e-8 * ln2);
  const double cn1 = measured_norm(cn, bc, scaled(1e-1), 1);
  const double cn2 = measured_norm(cn, bc, scaled(1e-2), 1);
  EXPECT_NEAR(cn2 / cn1, 1.0, 1e-10);
  EXPECT_NEAR(cn1, 16.0 / 15.0, 1e-10);
  EXPECT_NEAR(cn.lipschitz().global, cn1, 1e-10);

  // With PyTorch's eps = 1e-5 the growth stops at 1/sqrt(eps) = 316.2: sigma * norm stays ~1/std(z)
  // while sigma >> sqrt(eps), and the norm tends to the global bound as sigma -> 0.
  LayerNorm<double> ln5(1e-5, false);
  Bench<double> b5;
  ASSERT_TRUE(b5.setup(ln5, Shape::vec(d), 1, 1).ok());
  const double n_big = measured_norm(ln5, b5, scaled(1.0), 1);
  const double n_mid = measured_norm(ln5, b5, scaled(1e-1), 1);
  EXPECT_NEAR(1e-1 * n_mid / n_big, 1.0, 1e-3);
  const double n_tiny = measured_norm(ln5, b5, scaled(1e-6), 1);
  EXPECT_LE(n_tiny, ln5.lipschitz().global * (1 + 1e-9));
  EXPECT_GE(n_tiny, 0.99 * ln5.lipschitz().global);
  EXPECT_NEAR(ln5.lipschitz().global, 1.0 / std::sqrt(1e-5), 1e-9);
}

// ================================================================ BatchNorm

namespace {
void set_running(BatchNorm<double>& m, std::uint64_t seed) {
  Rng rng(seed);
  for (std::size_t c = 0; c < m.channels(); ++c) {
    m.running_mean()[c] = 0.3 * rng.normal_double();
    m.running_var()[c] = 0.2 + rng.uniform_double();
  }
}
}  // namespace

TEST(BatchNorm, TrainingDerivativesCoupleTheBatch) {
  for (bool affine : {true, false}) {
    BatchNorm<double> vec(1e-5, 0.1, affine), img(1e-5, 0.1, affine);
    derivatives(vec, Shape::vec(4), 5, 1, {{1.0, 0.0}, {0.1, 3.0}});
    derivatives(img, Shape::image(3, 2, 2), 3, 2);
  }
  BatchNorm<double> one(1e-5, 0.1, true);  // batch 1 of an image: each channel over H W
  derivatives(one, Shape::image(2, 2, 3), 1, 3);
}

TEST(BatchNorm, EvaluationDerivativesAreTheAffineMap) {
  for (bool affine : {true, false}) {
    BatchNorm<double> m(1e-5, 0.1, affine);
    Bench<double> b;
    ASSERT_TRUE(b.setup(m, Shape::image(3, 2, 2), 3, 1).ok());
    randomize_params(m, 7);
    set_running(m, 8);
    m.set_training(false);
    check_derivatives(m, b, 3, 9);
    check_derivatives(m, b, 1, 10);  // evaluation accepts a single value per channel
    // The Jacobian is diagonal: gamma_c / sqrt(running_var_c + eps).
    Rng rng(12);
    const auto jac = explicit_jacobian(m, b, random_input(rng, 12, {}), 1);
    for (std::size_t i = 0; i < 12; ++i)
      for (std::size_t j = 0; j < 12; ++j) {
        const std::size_t c = i / 4;
        const double g = affine ? m.gamma()[c] : 1.0;
        const double want = i == j ? g / std::sqrt(m.running_var()[c] + 1e-5) : 0.0;
        EXPECT_NEAR(jac[i * 12 + j], want, 1e-14);
      }
  }
}

TEST(BatchNorm, MatchesPyTorch) {
  struct Case {
    const char* name;
    Shape in;
    std::size_t batch;
    bool affine, training;
  };
  const Case cases[] = {
      {"norm_batch1d_train", Shape::vec(4), 5, true, true},
      {"norm_batch1d_eval", Shape::vec(4), 5, true, false},
      {"norm_batch2d_train", Shape::image(3, 2, 2), 2, true, true},
      {"norm_batch2d_eval", Shape::image(3, 2, 2), 2, true, false},
      {"norm_batch2d_train_plain", Shape::image(2, 2, 3), 2, false, true},
  };
  for (const Case& c : cases) {
    BatchNorm<double> m(1e-5, 0.1, c.affine);
    Bench<double> b;
    ASSERT_TRUE(b.setup(m, c.in, c.batch, 1).ok());
    const Golden g = load_golden(c.name);
    ASSERT_TRUE(g.ok) << c.name;
    // Running statistics first: evaluation uses them, training must ignore them.
    std::copy(g["running_mean"].begin(), g["running_mean"].end(), m.running_mean());
    std::copy(g["running_var"].begin(), g["running_var"].end(), m.running_var());
    m.set_training(c.training);
    if (c.affine)
      check_golden(m, b, c.name, {"gamma", "beta"});
    else
      check_golden(m, b, c.name, {});
  }
}

TEST(BatchNorm, RunningStatisticsMatchPyTorch) {
  struct Case {
    const char* name;
    Shape in;
    std::size_t batch;
  };
  const Case cases[] = {{"norm_batch1d_running", Shape::vec(3), 4}, {"norm_batch2d_running", Shape::image(2, 2, 3), 3}};
  for (const Case& c : cases) {
    const Golden g = load_golden(c.name);
    ASSERT_TRUE(g.ok) << c.name;
    BatchNorm<double> m(1e-5, g["momentum"].at(0), true);
    Bench<double> b;
    ASSERT_TRUE(b.setup(m, c.in, c.batch, 1).ok());
    std::copy(g["gamma"].begin(), g["gamma"].end(), m.gamma());
    std::copy(g["beta"].begin(), g["beta"].end(), m.beta());
    const int steps = static_cast<int>(g["steps"].at(0));
    std::vector<double> y(b.out_total(c.batch));
    for (int s = 0; s < steps; ++s) {
      const std::string k = std::to_string(s);
      ASSERT_TRUE(m.forward(g["x" + k].data(), c.batch, y.data()).ok());
      EXPECT_LE(rel_err(y, g["y" + k]), 1e-12) << c.name << " training forward " << s;
    }
    const std::vector<double> rm(m.running_mean(), m.running_mean() + m.channels());
    const std::vector<double> rv(m.running_var(), m.running_var() + m.channels());
    EXPECT_LE(rel_err(rm, g["running_mean"]), 1e-12) << c.name;
    EXPECT_LE(rel_err(rv, g["running_var"]), 1e-12) << c.name;  // the unbiased variance
    m.set_training(false);
    ASSERT_TRUE(m.forward(g["x_eval"].data(), c.batch, y.data()).ok());
    EXPECT_LE(rel_err(y, g["y_eval"]), 1e-12) << c.name << " evaluation forward";
    // Evaluation leaves the running statistics alone.
    EXPECT_EQ(std::vector<double>(m.running_var(), m.running_var() + m.channels()), rv);
  }
}

TEST(BatchNorm, TrainingOutputIgnoresRunningStatistics) {
  BatchNorm<double> m(1e-5, 0.1, true);
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::vec(3), 4, 1).ok());
  Rng rng(2);
  const std::vector<double> x = random_input(rng, 12, {});
  std::vector<double> y1(12), y2(12);
  ASSERT_TRUE(m.forward(x.data(), 4, y1.data()).ok());
  const double rm0 = m.running_mean()[0];
  EXPECT_NE(rm0, 0.0);  // the forward updated it
  set_running(m, 3);
  ASSERT_TRUE(m.forward(x.data(), 4, y2.data()).ok());
  EXPECT_EQ(y1, y2);
  // After init() the running statistics are PyTorch's reset values.
  ASSERT_TRUE(m.init(rng).ok());
  EXPECT_EQ(m.running_mean()[1], 0.0);
  EXPECT_EQ(m.running_var()[1], 1.0);
}

TEST(BatchNorm, BoundsInTrainingAndEvaluation) {
  for (bool affine : {true, false}) {
    BatchNorm<double> vec(1e-5, 0.1, affine), img(1e-5, 0.1, affine);
    lipschitz_checks(vec, Shape::vec(3), 4, 1, Scope::local);
    lipschitz_checks(img, Shape::image(2, 2, 2), 2, 2, Scope::local);
  }
  // Training: per channel the Jacobian is gamma_c rstd_c (I - 11^T/n - xhat xhat^T/n), whose norm is
  // gamma_c rstd_c for n >= 3, so the local bound max_c |gamma_c| rstd_c is attained.
  BatchNorm<double> t(1e-5, 0.1, true);
  Bench<double> bt;
  ASSERT_TRUE(bt.setup(t, Shape::vec(3), 5, 1).ok());
  randomize_params(t, 4);
  Rng rng(5);
  const double mt = measured_norm(t, bt, random_input(rng, 15, {}), 5);
  EXPECT_NEAR(t.lipschitz().local, mt, 1e-8 * mt);
  double tmax = 0;
  for (std::size_t c = 0; c < 3; ++c) tmax = std::max(tmax, std::fabs(t.gamma()[c]));
  EXPECT_NEAR(t.lipschitz().global, tmax / std::sqrt(1e-5), 1e-9 * tmax / std::sqrt(1e-5));
  // Evaluation: scope global, global = local = max_c |gamma_c| / sqrt(running_var_c + eps), exact.
  BatchNorm<double> e(1e-5, 0.1, true);
  Bench<double> be;
  ASSERT_TRUE(be.setup(e, Shape::image(3, 2, 2), 2, 1).ok());
  randomize_params(e, 6);
  for (int trial = 0; trial < 20; ++trial) {
    set_running(e, 100 + trial);
    e.set_training(false);
    check_lipschitz(e, be, 2, 7 + trial, kBoundDists, 5);
    const Lipschitz l = e.lipschitz();
    EXPECT_EQ(l.scope, Scope::global);
    EXPECT_EQ(l.global, l.local);
    const double me = measured_norm(e, be, random_input(rng, 24, {}), 2);
    EXPECT_NEAR(l.global, me, 1e-10 * me);
  }
  // Back in training: the bound is the batch's again (scope local, global max|gamma|/sqrt(eps)).
  e.set_training(true);
  double gmax = 0;
  for (std::size_t c = 0; c < 3; ++c) gmax = std::max(gmax, std::fabs(e.gamma()[c]));
  EXPECT_EQ(e.lipschitz().scope, Scope::local);
  EXPECT_NEAR(e.lipschitz().global, gmax / std::sqrt(1e-5), 1e-9);
  EXPECT_EQ(e.lipschitz().local, e.lipschitz().global);  // the last forward ran in evaluation
}

TEST(BatchNorm, FloatMatchesDouble) {
  BatchNorm<double> md(1e-5, 0.1, true);
  BatchNorm<float> mf(1e-5, 0.1, true);
  float_matches_double(md, mf, Shape::image(4, 3, 3), 4);
  BatchNorm<double> ed(1e-5, 0.1, true);
  BatchNorm<float> ef(1e-5, 0.1, true);
  ed.set_training(false);
  ef.set_training(false);
  float_matches_double(ed, ef, Shape::vec(8), 3);
}

TEST(BatchNorm, NoAllocationAfterBinding) {
  BatchNorm<float> m(1e-5, 0.1, true);
  no_allocation(m, Shape::image(4, 3, 3), 4);
  BatchNorm<float> e(1e-5, 0.1, true);
  e.set_training(false);
  no_allocation(e, Shape::vec(16), 4);
}

TEST(BatchNorm, BadInputs) {
  BatchNorm<double> zero(0.0), neg(-1e-3), mneg(1e-5, -0.1), mbig(1e-5, 1.5), mnan(1e-5, kNaN);
  EXPECT_EQ(plan_code(zero, Shape::vec(4)), Code::invalid_argument);
  EXPECT_EQ(plan_code(neg, Shape::vec(4)), Code::invalid_argument);
  EXPECT_EQ(plan_code(mneg, Shape::vec(4)), Code::invalid_argument);
  EXPECT_EQ(plan_code(mbig, Shape::vec(4)), Code::invalid_argument);
  EXPECT_EQ(plan_code(mnan, Shape::vec(4)), Code::invalid_argument);
  BatchNorm<double> tok, empty;
  EXPECT_EQ(plan_code(tok, Shape::tokens(3, 4)), Code::shape_mismatch);
  EXPECT_EQ(plan_code(empty, Shape()), Code::shape_mismatch);
  // Training needs more than one value per channel (as PyTorch); evaluation does not.
  BatchNorm<double> m;
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::vec(3), 2, 1).ok());
  double x[3] = {1, 2, 3}, y[3];
  EXPECT_EQ(m.forward(x, 1, y).code(), Code::invalid_argument);
  m.set_training(false);
  EXPECT_TRUE(m.forward(x, 1, y).ok());
  BatchNorm<double> img;
  Bench<double> bi;
  ASSERT_TRUE(bi.setup(img, Shape::image(3, 1, 1), 2, 1).ok());
  EXPECT_EQ(img.forward(x, 1, y).code(), Code::invalid_argument);
  BatchNorm<double> run, last;
  run_errors_and_nan(run, Shape::image(2, 2, 2), 2);
  needs_last_forward(last, Shape::vec(3), 3);
}

// ================================================================ GroupNorm and InstanceNorm

TEST(GroupNorm, DerivativesJvpAndAdjoint) {
  for (bool affine : {true, false}) {
    GroupNorm<double> img(2, 1e-5, affine), vec(2, 1e-5, affine), pairs(3, 0.5, affine), one(1, 1e-5, affine);
    derivatives(img, Shape::image(4, 2, 2), 2, 1, {{1.0, 0.0}, {0.1, 3.0}});
    derivatives(vec, Shape::vec(6), 3, 2);
    // Groups of 2 scalars: the Jacobian is rstd eps/(var + eps) along (1, -1) and 0 elsewhere, so with
    // a small eps it is ~1e-5 and finite differences lose their relative accuracy; a large eps keeps
    // this path's check meaningful.
    derivatives(pairs, Shape::vec(6), 3, 5);
    derivatives(one, Shape::image(3, 1, 2), 2, 3);  // one group: LayerNorm over the whole sample
    GroupNorm<double> inst = GroupNorm<double>::instance_norm(1e-5, affine);
    derivatives(inst, Shape::image(3, 2, 2), 2, 4);
  }
}

TEST(GroupNorm, MatchesPyTorch) {
  GroupNorm<double> img(2, 1e-5, true), vec(3, 1e-5, true), plain(2, 1e-5, false);
  Bench<double> bi, bv, bp;
  ASSERT_TRUE(bi.setup(img, Shape::image(4, 2, 2), 2, 1).ok());
  check_golden(img, bi, "norm_group_image", {"gamma", "beta"});
  ASSERT_TRUE(bv.setup(vec, Shape::vec(6), 2, 1).ok());
  check_golden(vec, bv, "norm_group_vec", {"gamma", "beta"});
  ASSERT_TRUE(bp.setup(plain, Shape::image(6, 1, 2), 2, 1).ok());
  check_golden(plain, bp, "norm_group_plain", {});
}

TEST(GroupNorm, InstanceNormMatchesPyTorchInstanceNorm2d) {
  GroupNorm<double> inst = GroupNorm<double>::instance_norm(1e-5, true);
  Bench<double> b;
  ASSERT_TRUE(b.setup(inst, Shape::image(3, 2, 3), 2, 1).ok());
  EXPECT_STREQ(inst.kind(), "instance_norm");
  EXPECT_EQ(inst.groups(), 3u);
  check_golden(inst, b, "norm_instance2d", {"gamma", "beta"});
}

TEST(GroupNorm, BoundHoldsOnSmallVarianceAndShiftedInputs) {
  for (bool affine : {true, false}) {
    GroupNorm<double> img(2, 1e-5, affine), vec(2, 1e-5, affine);
    lipschitz_checks(img, Shape::image(4, 2, 1), 2, 1, Scope::local);
    lipschitz_checks(vec, Shape::vec(6), 2, 2, Scope::local);
    GroupNorm<double> inst = GroupNorm<double>::instance_norm(1e-5, affine);
    lipschitz_checks(inst, Shape::image(2, 2, 2), 2, 3, Scope::local);
  }
}

TEST(GroupNorm, FloatMatchesDouble) {
  GroupNorm<double> md(4, 1e-5, true);
  GroupNorm<float> mf(4, 1e-5, true);
  float_matches_double(md, mf, Shape::image(8, 3, 3), 3);
  GroupNorm<double> id = GroupNorm<double>::instance_norm();
  GroupNorm<float> jf = GroupNorm<float>::instance_norm();
  float_matches_double(id, jf, Shape::image(4, 4, 4), 2);
}

TEST(GroupNorm, NoAllocationAfterBinding) {
  GroupNorm<float> m(4, 1e-5, true);
  no_allocation(m, Shape::image(8, 3, 3), 4);
}

TEST(GroupNorm, BadInputs) {
  GroupNorm<double> three(3), zero(0), eps0(2, 0.0), tok(2), empty(1);
  EXPECT_EQ(plan_code(three, Shape::image(4, 2, 2)), Code::invalid_argument);  // 3 does not divide 4
  EXPECT_EQ(plan_code(zero, Shape::vec(4)), Code::invalid_argument);
  EXPECT_EQ(plan_code(eps0, Shape::vec(4)), Code::invalid_argument);
  EXPECT_EQ(plan_code(tok, Shape::tokens(4, 4)), Code::shape_mismatch);
  EXPECT_EQ(plan_code(empty, Shape()), Code::shape_mismatch);
  GroupNorm<double> run(2), last(2);
  run_errors_and_nan(run, Shape::image(4, 1, 2), 2);
  needs_last_forward(last, Shape::vec(4), 2);
}
