// AdaGrad, RMSprop, NAdam, RAdam and Adamax against PyTorch 1.13 (tests/golden/optim_adaptive.py).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "lipflow/optim/adagrad.hpp"
#include "lipflow/optim/adamax.hpp"
#include "lipflow/optim/nadam.hpp"
#include "lipflow/optim/radam.hpp"
#include "lipflow/optim/rmsprop.hpp"
#include "support/optim_harness.hpp"

using namespace lipflow;
using namespace lipflow::optim;
using namespace lipflow_test;

namespace {

// Each golden case of tests/golden/optim_adaptive.py, with the same hyper-parameters (the *Defaults
// cases construct the options untouched, so they check the defaults too).

LIPFLOW_OPTIMIZER_CASE(AdagradDefaults, Adagrad, AdagradOptions, (void)o)
LIPFLOW_OPTIMIZER_CASE(AdagradPlain, Adagrad, AdagradOptions, o.lr = 0.1)
LIPFLOW_OPTIMIZER_CASE(AdagradDecayWd, Adagrad, AdagradOptions, o.lr = 0.1; o.lr_decay = 0.01;
                      o.initial_accumulator_value = 0.1; o.weight_decay = 0.05; o.eps = 1e-8)

LIPFLOW_OPTIMIZER_CASE(RmspropDefaults, Rmsprop, RmspropOptions, (void)o)
LIPFLOW_OPTIMIZER_CASE(RmspropWd, Rmsprop, RmspropOptions, o.lr = 0.002; o.alpha = 0.95; o.weight_decay = 0.01)
LIPFLOW_OPTIMIZER_CASE(RmspropCentered, Rmsprop, RmspropOptions, o.lr = 0.01; o.centered = true)
LIPFLOW_OPTIMIZER_CASE(RmspropMomentum, Rmsprop, RmspropOptions, o.lr = 0.005; o.momentum = 0.9)
LIPFLOW_OPTIMIZER_CASE(RmspropCenteredMomentumWd, Rmsprop, RmspropOptions, o.lr = 0.003; o.eps = 1e-6;
                      o.momentum = 0.5; o.centered = true; o.weight_decay = 0.05)

LIPFLOW_OPTIMIZER_CASE(NadamDefaults, Nadam, NadamOptions, (void)o)
LIPFLOW_OPTIMIZER_CASE(NadamPlain, Nadam, NadamOptions, o.lr = 0.01)
LIPFLOW_OPTIMIZER_CASE(NadamWd, Nadam, NadamOptions, o.lr = 0.02; o.beta1 = 0.8; o.beta2 = 0.99;
                      o.weight_decay = 0.1; o.momentum_decay = 0.01)

LIPFLOW_OPTIMIZER_CASE(RadamDefaults, Radam, RadamOptions, (void)o)
LIPFLOW_OPTIMIZER_CASE(RadamPlain, Radam, RadamOptions, o.lr = 0.02)
LIPFLOW_OPTIMIZER_CASE(RadamWd, Radam, RadamOptions, o.lr = 0.02; o.beta1 = 0.8; o.beta2 = 0.99; o.eps = 1e-6;
                      o.weight_decay = 0.1)

LIPFLOW_OPTIMIZER_CASE(AdamaxDefaults, Adamax, AdamaxOptions, (void)o)
LIPFLOW_OPTIMIZER_CASE(AdamaxPlain, Adamax, AdamaxOptions, o.lr = 0.02)
LIPFLOW_OPTIMIZER_CASE(AdamaxWd, Adamax, AdamaxOptions, o.lr = 0.02; o.beta1 = 0.8; o.beta2 = 0.99; o.eps = 1e-6;
                      o.weight_decay = 0.1)

// plan() refuses the optimizer with invalid_argument, and the error names the parameter.
::testing::AssertionResult refused(Optimizer<double>& opt, const char* parameter) {
  MemoryPlan plan;
  const Status s = opt.plan(plan);
  if (s.code() != Code::invalid_argument)
    return ::testing::AssertionFailure() << opt.name() << ": " << parameter << " accepted";
  if (std::strstr(s.where(), parameter) == nullptr)
    return ::testing::AssertionFailure() << opt.name() << ": the error '" << s.where() << "' does not name " << parameter;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult accepted(Optimizer<double>& opt) {
  MemoryPlan plan;
  const Status s = opt.plan(plan);
  if (!s.ok()) return ::testing::AssertionFailure() << opt.name() << ": refused (" << s.where() << ")";
  return ::testing::AssertionSuccess();
}

// Bytes of optimizer state planned for one parameter of n doubles.
template <class Opt, class Options>
std::size_t state_bytes(const Options& o, std::size_t n) {
  static double w[64], g[64];
  nn::Param<double> p;
  p.name = "w";
  p.value = w;
  p.grad = g;
  p.size = n;
  p.rows = 1;
  p.cols = n;
  Opt opt(o);
  EXPECT_TRUE(opt.add(p).ok());
  MemoryPlan plan;
  EXPECT_TRUE(opt.plan(plan).ok());
  return plan.bytes(MemoryKind::optimizer_state);
}

}  // namespace

TEST(Adagrad, MatchesPyTorch) {
  check_trajectories<AdagradDefaults>("adagrad_defaults");
  check_trajectories<AdagradPlain>("adagrad");
  check_trajectories<AdagradDecayWd>("adagrad_decay_wd");
}

TEST(Rmsprop, MatchesPyTorch) {
  check_trajectories<RmspropDefaults>("rmsprop_defaults");
  check_trajectories<RmspropWd>("rmsprop_wd");
  check_trajectories<RmspropCentered>("rmsprop_centered");
  check_trajectories<RmspropMomentum>("rmsprop_momentum");
  check_trajectories<RmspropCenteredMomentumWd>("rmsprop_centered_momentum_wd");
}

TEST(Nadam, MatchesPyTorch) {
  check_trajectories<NadamDefaults>("nadam_defaults");
  check_trajectories<NadamPlain>("nadam");
  check_trajectories<NadamWd>("nadam_wd");
}

// PyTorch 1.13 with its float32 default dtype rounds mu_product to float32 at each step; we keep it in
// double (nadam.hpp). The two PyTorch trajectories differ by more than the double tolerance (so the
// 1e-10 match above is against the float64 one, not a coincidence: 4e-10 here), and ours is within
// 1e-8 of the float32-product one.
TEST(Nadam, Float32MuProductOfPyTorchDefaultDtype) {
  const Golden f64 = load_golden("optim_nadam"), f32 = load_golden("optim_nadam_f32_mu_product");
  ASSERT_TRUE(f64.ok && f32.ok);
  ASSERT_EQ(f64["quad_w0"], f32["quad_w0"]);
  ASSERT_EQ(f64["mlp_init"], f32["mlp_init"]);
  const auto& a = f64["mlp_traj"];
  const auto& b = f32["mlp_traj"];
  ASSERT_EQ(a.size(), b.size());
  const double d = rel_diff(a, b.data(), a.size());
  EXPECT_GT(d, 1e-10);
  EXPECT_LT(d, 1e-8);
  check_trajectories<NadamPlain>("nadam_f32_mu_product", 1e-8, 1e-5);
}

// The running product P_t = mu_1 ... mu_t, independent of the number of parameters.
TEST(Nadam, MuProductFollowsTheStepCount) {
  double w[3] = {1, 2, 3}, g[3] = {0.5, -0.5, 0.25};
  nn::Param<double> p;
  p.name = "w";
  p.value = w;
  p.grad = g;
  p.size = 3;
  p.rows = 1;
  p.cols = 3;
  NadamOptions o;
  o.momentum_decay = 0.1;
  Nadam<double> opt(o);
  ASSERT_TRUE(opt.add(p).ok());
  MemoryPlan plan;
  ASSERT_TRUE(opt.plan(plan).ok());
  AlignedBuffer buf(plan.total_bytes());
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  ASSERT_TRUE(opt.bind(arena).ok());
  EXPECT_EQ(opt.mu_product(), 1.0);
  double want = 1.0;
  for (int t = 1; t <= 5; ++t) {
    ASSERT_TRUE(opt.step().ok());
    want *= 0.9 * (1.0 - 0.5 * std::pow(0.96, t * 0.1));
    EXPECT_NEAR(opt.mu_product(), want, 1e-15 * want) << "t = " << t;
  }
}

TEST(Radam, MatchesPyTorch) {
  check_trajectories<RadamDefaults>("radam_defaults");
  check_trajectories<RadamPlain>("radam");
  check_trajectories<RadamWd>("radam_wd");
}

TEST(Adamax, MatchesPyTorch) {
  check_trajectories<AdamaxDefaults>("adamax_defaults");
  check_trajectories<AdamaxPlain>("adamax");
  check_trajectories<AdamaxWd>("adamax_wd");
}

// State per weight: AdaGrad 1; RMSprop 1 + centered + momentum; NAdam, RAdam, Adamax 2.
TEST(AdaptiveOptimizers, StateSizes) {
  const std::size_t n = 8;  // 8 doubles = 64 bytes, one aligned block per element of state
  EXPECT_EQ((state_bytes<Adagrad<double>>(AdagradOptions(), n)), 64u);
  RmspropOptions r;
  EXPECT_EQ((state_bytes<Rmsprop<double>>(r, n)), 64u);
  r.centered = true;
  EXPECT_EQ((state_bytes<Rmsprop<double>>(r, n)), 128u);
  r.momentum = 0.5;
  EXPECT_EQ((state_bytes<Rmsprop<double>>(r, n)), 192u);
  r.centered = false;
  EXPECT_EQ((state_bytes<Rmsprop<double>>(r, n)), 128u);
  EXPECT_EQ((state_bytes<Nadam<double>>(NadamOptions(), n)), 128u);
  EXPECT_EQ((state_bytes<Radam<double>>(RadamOptions(), n)), 128u);
  EXPECT_EQ((state_bytes<Adamax<double>>(AdamaxOptions(), n)), 128u);
}

TEST(AdaptiveOptimizers, InvalidHyperParametersAreRefusedAtPlan) {
  const double nan = std::nan("");
  {
    Adagrad<double> ok;
    EXPECT_TRUE(accepted(ok));
    AdagradOptions o;
    o.lr = -0.1;
    Adagrad<double> lr(o);
    EXPECT_TRUE(refused(lr, "lr"));
    o = AdagradOptions();
    o.lr_decay = -1e-3;
    Adagrad<double> lr_decay(o);
    EXPECT_TRUE(refused(lr_decay, "lr_decay"));
    o = AdagradOptions();
    o.initial_accumulator_value = -0.1;
    Adagrad<double> acc(o);
    EXPECT_TRUE(refused(acc, "initial_accumulator_value"));
    o = AdagradOptions();
    o.eps = 0;
    Adagrad<double> eps(o);
    EXPECT_TRUE(refused(eps, "eps"));
    o = AdagradOptions();
    o.weight_decay = -0.5;
    Adagrad<double> wd(o);
    EXPECT_TRUE(refused(wd, "weight_decay"));
    o = AdagradOptions();
    o.lr_decay = HUGE_VAL;
    Adagrad<double> inf(o);
    EXPECT_TRUE(refused(inf, "lr_decay"));
  }
  {
    Rmsprop<double> ok;
    EXPECT_TRUE(accepted(ok));
    RmspropOptions o;
    o.lr = -1;
    Rmsprop<double> lr(o);
    EXPECT_TRUE(refused(lr, "lr"));
    o = RmspropOptions();
    o.alpha = 1.0;
    Rmsprop<double> alpha1(o);
    EXPECT_TRUE(refused(alpha1, "alpha"));
    o = RmspropOptions();
    o.alpha = -0.01;
    Rmsprop<double> alpha_neg(o);
    EXPECT_TRUE(refused(alpha_neg, "alpha"));
    o = RmspropOptions();
    o.alpha = 0.0;  // the lower end is allowed: v = g^2
    Rmsprop<double> alpha0(o);
    EXPECT_TRUE(accepted(alpha0));
    o = RmspropOptions();
    o.eps = -1e-8;
    Rmsprop<double> eps(o);
    EXPECT_TRUE(refused(eps, "eps"));
    o = RmspropOptions();
    o.momentum = -0.9;
    Rmsprop<double> momentum(o);
    EXPECT_TRUE(refused(momentum, "momentum"));
    o = RmspropOptions();
    o.momentum = nan;
    Rmsprop<double> momentum_nan(o);
    EXPECT_TRUE(refused(momentum_nan, "momentum"));
  }
  {
    Nadam<double> ok;
    EXPECT_TRUE(accepted(ok));
    NadamOptions o;
    o.lr = -2e-3;
    Nadam<double> lr(o);
    EXPECT_TRUE(refused(lr, "lr"));
    o = NadamOptions();
    o.beta1 = 1.0;
    Nadam<double> b1(o);
    EXPECT_TRUE(refused(b1, "beta1"));
    o = NadamOptions();
    o.beta2 = -0.1;
    Nadam<double> b2(o);
    EXPECT_TRUE(refused(b2, "beta2"));
    o = NadamOptions();
    o.eps = 0;
    Nadam<double> eps(o);
    EXPECT_TRUE(refused(eps, "eps"));
    o = NadamOptions();
    o.momentum_decay = -4e-3;
    Nadam<double> psi(o);
    EXPECT_TRUE(refused(psi, "momentum_decay"));
    o = NadamOptions();
    o.momentum_decay = 0;  // allowed: mu_t = b1 / 2 at every step
    Nadam<double> psi0(o);
    EXPECT_TRUE(accepted(psi0));
  }
  {
    Radam<double> ok;
    EXPECT_TRUE(accepted(ok));
    RadamOptions o;
    o.lr = -1e-3;
    Radam<double> lr(o);
    EXPECT_TRUE(refused(lr, "lr"));
    o = RadamOptions();
    o.beta1 = -0.5;
    Radam<double> b1(o);
    EXPECT_TRUE(refused(b1, "beta1"));
    o = RadamOptions();
    o.beta2 = 1.0;
    Radam<double> b2(o);
    EXPECT_TRUE(refused(b2, "beta2"));
    o = RadamOptions();
    o.eps = 0;
    Radam<double> eps(o);
    EXPECT_TRUE(refused(eps, "eps"));
    o = RadamOptions();
    o.weight_decay = nan;
    Radam<double> wd(o);
    EXPECT_TRUE(refused(wd, "weight_decay"));
  }
  {
    Adamax<double> ok;
    EXPECT_TRUE(accepted(ok));
    AdamaxOptions o;
    o.lr = -2e-3;
    Adamax<double> lr(o);
    EXPECT_TRUE(refused(lr, "lr"));
    o = AdamaxOptions();
    o.beta1 = 1.5;
    Adamax<double> b1(o);
    EXPECT_TRUE(refused(b1, "beta1"));
    o = AdamaxOptions();
    o.beta2 = 1.0;
    Adamax<double> b2(o);
    EXPECT_TRUE(refused(b2, "beta2"));
    o = AdamaxOptions();
    o.eps = -1;
    Adamax<double> eps(o);
    EXPECT_TRUE(refused(eps, "eps"));
  }
}

// The rate of each group is the one a schedule sets: with lr 0 in group 1, its parameter stays put
// while group 0's moves (every optimizer reads group.lr, not its options).
TEST(AdaptiveOptimizers, GroupLearningRates) {
  auto check = [](Optimizer<double>& opt) {
    double w0[4] = {1, -1, 2, -2}, g0[4] = {0.3, -0.2, 0.1, 0.4};
    double w1[4] = {1, -1, 2, -2}, g1[4] = {0.3, -0.2, 0.1, 0.4};
    nn::Param<double> p0, p1;
    p0.name = "w0";
    p0.value = w0;
    p0.grad = g0;
    p1.name = "w1";
    p1.value = w1;
    p1.grad = g1;
    p0.size = p1.size = 4;
    p0.rows = p1.rows = 1;
    p0.cols = p1.cols = 4;
    ASSERT_TRUE(opt.add(p0, 0).ok());
    ASSERT_TRUE(opt.add(p1, 1).ok());
    ASSERT_TRUE(opt.configure_group(1, 0.0, 0.0).ok());
    MemoryPlan plan;
    ASSERT_TRUE(opt.plan(plan).ok());
    AlignedBuffer buf(plan.total_bytes());
    Arena arena;
    ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
    ASSERT_TRUE(opt.bind(arena).ok());
    for (int t = 0; t < 8; ++t) ASSERT_TRUE(opt.step().ok());  // past RAdam's un-adapted steps
    const double start[4] = {1, -1, 2, -2};
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(w1[i], start[i]) << opt.name();
      EXPECT_NE(w0[i], start[i]) << opt.name();
      EXPECT_TRUE(std::isfinite(w0[i])) << opt.name();
    }
  };
  Adagrad<double> adagrad;
  check(adagrad);
  RmspropOptions r;
  r.centered = true;
  r.momentum = 0.5;
  Rmsprop<double> rmsprop(r);
  check(rmsprop);
  Nadam<double> nadam;
  check(nadam);
  Radam<double> radam;
  check(radam);
  Adamax<double> adamax;
  check(adamax);
}
