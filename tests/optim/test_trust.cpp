#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "lipflow/optim/adafactor.hpp"
#include "lipflow/optim/lamb.hpp"
#include "lipflow/optim/lars.hpp"
#include "lipflow/optim/lion.hpp"
#include "support/optim_harness.hpp"

using namespace lipflow;
using namespace lipflow::optim;
using namespace lipflow_test;

// Each golden case of tests/golden/optim_trust.py (references written in torch: optax.lamb, torchlars
// over torch.optim.SGD, lion-pytorch, transformers.Adafactor), with the same hyper-parameters.
LIPFLOW_OPTIMIZER_CASE(LambPlain, Lamb, LambOptions, o.lr = 0.01)
LIPFLOW_OPTIMIZER_CASE(LambWd, Lamb, LambOptions, o.lr = 0.003; o.beta1 = 0.8; o.beta2 = 0.99; o.weight_decay = 0.1)
LIPFLOW_OPTIMIZER_CASE(LambEpsRoot, Lamb, LambOptions, o.lr = 0.005; o.eps = 1e-4; o.eps_root = 1e-6; o.weight_decay = 0.01)
LIPFLOW_OPTIMIZER_CASE(LarsPlain, Lars, LarsOptions, o.lr = 1.0)
LIPFLOW_OPTIMIZER_CASE(LarsWd, Lars, LarsOptions, o.lr = 0.1; o.eta = 0.02; o.weight_decay = 0.01)
LIPFLOW_OPTIMIZER_CASE(LarsNesterovWd, Lars, LarsOptions,
             o.lr = 0.1; o.eta = 0.02; o.momentum = 0.8; o.nesterov = true; o.weight_decay = 0.01; o.eps = 0)
LIPFLOW_OPTIMIZER_CASE(LarsNoMomentum, Lars, LarsOptions, o.lr = 0.5; o.eta = 0.01; o.momentum = 0)
LIPFLOW_OPTIMIZER_CASE(LionPlain, Lion, LionOptions, o.lr = 3e-3)
LIPFLOW_OPTIMIZER_CASE(LionWd, Lion, LionOptions, o.lr = 3e-3; o.beta1 = 0.95; o.beta2 = 0.98; o.weight_decay = 0.5)
LIPFLOW_OPTIMIZER_CASE(LionDecoupled, Lion, LionOptions, o.lr = 3e-3; o.weight_decay = 5e-3; o.decoupled_weight_decay = true)
LIPFLOW_OPTIMIZER_CASE(AdafactorDefault, Adafactor, AdafactorOptions, (void)o)
LIPFLOW_OPTIMIZER_CASE(AdafactorLrBeta1Wd, Adafactor, AdafactorOptions,
             o.lr = 0.05; o.relative_step = false; o.beta1 = 0.9; o.weight_decay = 0.1)
LIPFLOW_OPTIMIZER_CASE(AdafactorWarmup, Adafactor, AdafactorOptions, o.warmup_init = true; o.clip_threshold = 0.5; o.decay_rate = -0.5)
LIPFLOW_OPTIMIZER_CASE(AdafactorUnscaled, Adafactor, AdafactorOptions,
             o.lr = 0.01; o.relative_step = false; o.scale_parameter = false; o.clip_threshold = 0.5;
             o.decay_rate = -0.6; o.beta1 = 0.8; o.eps1 = 1e-20)

TEST(Lamb, MatchesOptax) {
  check_trajectories<LambPlain>("lamb");
  check_trajectories<LambWd>("lamb_wd");
  check_trajectories<LambEpsRoot>("lamb_eps_root");
}

TEST(Lars, MatchesTorchlars) {
  check_trajectories<LarsPlain>("lars");
  check_trajectories<LarsWd>("lars_wd");
  check_trajectories<LarsNesterovWd>("lars_nesterov_wd");
  check_trajectories<LarsNoMomentum>("lars_no_momentum");
}

TEST(Lion, MatchesLionPytorch) {
  check_trajectories<LionPlain>("lion");
  check_trajectories<LionWd>("lion_wd");
  check_trajectories<LionDecoupled>("lion_decoupled");
}

// The MLP has matrices (factored) and biases (not): both paths are in every case.
TEST(Adafactor, MatchesTransformers) {
  check_trajectories<AdafactorDefault>("adafactor");
  check_trajectories<AdafactorLrBeta1Wd>("adafactor_lr_beta1_wd");
  check_trajectories<AdafactorWarmup>("adafactor_warmup");
  check_trajectories<AdafactorUnscaled>("adafactor_unscaled");
}

namespace {

bool refused(Optimizer<double>& o) {
  MemoryPlan plan;
  return o.plan(plan).code() == Code::invalid_argument;
}

// One bare parameter of n elements (rows x cols) with its own storage, stepped by an optimizer.
struct Bare {
  std::vector<double> w, g;
  nn::Param<double> p;
  MemoryPlan plan;
  AlignedBuffer buf;
  Arena arena;
  Bare(std::size_t rows, std::size_t cols) : w(rows * cols, 0.0), g(rows * cols, 0.0) {
    p.name = "w";
    p.value = w.data();
    p.grad = g.data();
    p.size = rows * cols;
    p.rows = rows;
    p.cols = cols;
    p.flags = nn::kParamDecay;
  }
  Status attach(Optimizer<double>& o) {
    LIPFLOW_TRY(o.add(p));
    LIPFLOW_TRY(o.plan(plan));
    buf = AlignedBuffer(plan.total_bytes() + 64);
    LIPFLOW_TRY(arena.bind(plan, buf.data(), buf.size()));
    return o.bind(arena);
  }
};

}  // namespace

TEST(Lamb, InvalidHyperParametersAreRefused) {
  LambOptions o;
  o.beta1 = 1.0;
  Lamb<double> b1(o);
  EXPECT_TRUE(refused(b1));
  o = LambOptions();
  o.beta2 = -0.5;
  Lamb<double> b2(o);
  EXPECT_TRUE(refused(b2));
  o = LambOptions();
  o.eps = -1e-6;
  Lamb<double> eps(o);
  EXPECT_TRUE(refused(eps));
  o = LambOptions();
  o.eps = 0;
  Lamb<double> no_eps(o);  // 0 / 0 where v = 0
  EXPECT_TRUE(refused(no_eps));
  o = LambOptions();
  o.eps_root = std::nan("");
  Lamb<double> eps_root(o);
  EXPECT_TRUE(refused(eps_root));
  o = LambOptions();
  o.weight_decay = -0.1;
  Lamb<double> wd(o);
  EXPECT_TRUE(refused(wd));
  Lamb<double> ok;
  MemoryPlan plan;
  EXPECT_TRUE(ok.plan(plan).ok());
}

// An all-zero parameter has ||w|| = 0: the trust ratio is 1 (optax's rule), so the first step is the
// plain Adam direction -lr g / (|g| + eps), not 0 (ratio ||w|| / ||u||) and not NaN.
TEST(Lamb, TrustRatioIsOneForAZeroParameter) {
  LambOptions o;
  o.lr = 0.1;
  o.weight_decay = 0.5;  // wd w = 0 too
  Lamb<double> lamb(o);
  Bare b(2, 3);
  ASSERT_TRUE(b.attach(lamb).ok());
  const double g[] = {0.5, -2.0, 1e-3, -0.25, 3.0, 0.0};
  for (int i = 0; i < 6; ++i) b.g[i] = g[i];
  ASSERT_TRUE(lamb.step().ok());
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(b.w[i], -0.1 * g[i] / (std::fabs(g[i]) + 1e-6), 1e-15) << i;
}

// A zero gradient without decay gives u = 0: the ratio is 1 and the weights do not move (no 0/0).
TEST(Lamb, ZeroUpdateLeavesTheWeights) {
  Lamb<double> lamb;
  Bare b(1, 4);
  for (int i = 0; i < 4; ++i) b.w[i] = 1.0 + i;
  ASSERT_TRUE(b.attach(lamb).ok());
  ASSERT_TRUE(lamb.step().ok());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(b.w[i], 1.0 + i);
}

TEST(Lars, InvalidHyperParametersAreRefused) {
  LarsOptions o;
  o.momentum = -0.9;
  Lars<double> momentum(o);
  EXPECT_TRUE(refused(momentum));
  o = LarsOptions();
  o.eta = 0;
  Lars<double> eta(o);
  EXPECT_TRUE(refused(eta));
  o = LarsOptions();
  o.eps = -1e-8;
  Lars<double> eps(o);
  EXPECT_TRUE(refused(eps));
  o = LarsOptions();
  o.momentum = 0;
  o.nesterov = true;
  Lars<double> nesterov(o);
  EXPECT_TRUE(refused(nesterov));
  o = LarsOptions();
  o.lr = INFINITY;
  Lars<double> lr(o);
  EXPECT_TRUE(refused(lr));
  Lars<double> ok;
  MemoryPlan plan;
  EXPECT_TRUE(ok.plan(plan).ok());
}

// ||w|| = 0 gives a local rate of 1: the first step is SGD's w = -lr (g + wd 0).
TEST(Lars, LocalRateIsOneForAZeroParameter) {
  LarsOptions o;
  o.lr = 0.3;
  o.weight_decay = 0.1;
  Lars<double> lars(o);
  Bare b(3, 2);
  ASSERT_TRUE(b.attach(lars).ok());
  for (int i = 0; i < 6; ++i) b.g[i] = 0.5 * i - 1.0;
  ASSERT_TRUE(lars.step().ok());
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(b.w[i], -0.3 * (0.5 * i - 1.0), 1e-15) << i;
}

TEST(Lion, InvalidHyperParametersAreRefused) {
  LionOptions o;
  o.lr = 0;
  Lion<double> lr(o);
  EXPECT_TRUE(refused(lr));
  o = LionOptions();
  o.beta1 = 1.5;
  Lion<double> b1(o);
  EXPECT_TRUE(refused(b1));
  o = LionOptions();
  o.beta2 = -0.01;
  Lion<double> b2(o);
  EXPECT_TRUE(refused(b2));
  o = LionOptions();
  o.weight_decay = std::nan("");
  Lion<double> wd(o);
  EXPECT_TRUE(refused(wd));
  o = LionOptions();
  o.beta1 = 1.0;  // the ends of [0, 1] are allowed, as lion-pytorch
  o.beta2 = 0.0;
  Lion<double> ends(o);
  MemoryPlan plan;
  EXPECT_TRUE(ends.plan(plan).ok());
}

TEST(Adafactor, InvalidHyperParametersAreRefused) {
  AdafactorOptions o;
  o.lr = 1e-3;  // a manual lr with relative_step
  Adafactor<double> manual(o);
  EXPECT_TRUE(refused(manual));
  o = AdafactorOptions();
  o.relative_step = false;
  o.warmup_init = true;
  o.lr = 1e-3;
  Adafactor<double> warmup(o);
  EXPECT_TRUE(refused(warmup));
  o = AdafactorOptions();
  o.eps1 = 0;
  Adafactor<double> eps1(o);
  EXPECT_TRUE(refused(eps1));
  o = AdafactorOptions();
  o.eps2 = -1e-3;
  Adafactor<double> eps2(o);
  EXPECT_TRUE(refused(eps2));
  o = AdafactorOptions();
  o.clip_threshold = 0;
  Adafactor<double> clip(o);
  EXPECT_TRUE(refused(clip));
  o = AdafactorOptions();
  o.decay_rate = 0.8;
  Adafactor<double> decay(o);
  EXPECT_TRUE(refused(decay));
  o = AdafactorOptions();
  o.beta1 = 1.0;
  Adafactor<double> b1(o);
  EXPECT_TRUE(refused(b1));
  // A group configured with a rate while relative_step sets the step.
  Adafactor<double> group_lr;
  ASSERT_TRUE(group_lr.configure_group(1, 0.01, 0.0).ok());
  EXPECT_TRUE(refused(group_lr));
  Adafactor<double> ok;
  MemoryPlan plan;
  EXPECT_TRUE(ok.plan(plan).ok());
}

// Factored state: rows + cols for a matrix, n for a vector, plus n for the first moment.
TEST(Adafactor, StateIsFactoredForMatrices) {
  nn::Linear<double> l(5);
  nn::Model<double> model;
  ASSERT_TRUE(model.add(&l).ok());
  MemoryPlan plan;
  ASSERT_TRUE(model.plan(nn::Shape::vec(7), 1, plan).ok());
  Adafactor<double> plain;
  ASSERT_TRUE(plain.add(model.layers()).ok());
  ASSERT_TRUE(plain.plan(plan).ok());
  EXPECT_EQ(plain.slot(0).state_size, 5u + 7u);  // the 5 x 7 weight
  EXPECT_EQ(plain.slot(1).state_size, 5u);       // the bias
  AdafactorOptions o;
  o.beta1 = 0.9;
  Adafactor<double> momentum(o);
  ASSERT_TRUE(momentum.add(model.layers()).ok());
  MemoryPlan plan2;
  ASSERT_TRUE(momentum.plan(plan2).ok());
  EXPECT_EQ(momentum.slot(0).state_size, 5u + 7u + 35u);
  EXPECT_EQ(momentum.slot(1).state_size, 10u);
}
