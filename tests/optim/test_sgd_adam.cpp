#include <gtest/gtest.h>

#include <memory>

#include "lipflow/optim/adam.hpp"
#include "lipflow/optim/adamw.hpp"
#include "lipflow/optim/sgd.hpp"
#include "support/optim_harness.hpp"

using namespace lipflow;
using namespace lipflow::optim;
using namespace lipflow_test;

// Each golden case of tests/golden/optim_sgd_adam.py, with the same hyper-parameters.
LIPFLOW_OPTIMIZER_CASE(SgdPlain, Sgd, SgdOptions, o.lr = 0.05)
LIPFLOW_OPTIMIZER_CASE(SgdMomentum, Sgd, SgdOptions, o.lr = 0.03; o.momentum = 0.9)
LIPFLOW_OPTIMIZER_CASE(SgdDampening, Sgd, SgdOptions, o.lr = 0.03; o.momentum = 0.8; o.dampening = 0.3; o.weight_decay = 0.01)
LIPFLOW_OPTIMIZER_CASE(SgdNesterov, Sgd, SgdOptions, o.lr = 0.03; o.momentum = 0.9; o.nesterov = true; o.weight_decay = 0.05)
LIPFLOW_OPTIMIZER_CASE(AdamPlain, Adam, AdamOptions, o.lr = 0.02)
LIPFLOW_OPTIMIZER_CASE(AdamWd, Adam, AdamOptions, o.lr = 0.02; o.beta1 = 0.8; o.beta2 = 0.99; o.weight_decay = 0.1)
LIPFLOW_OPTIMIZER_CASE(AdamAmsgrad, Adam, AdamOptions, o.lr = 0.02; o.amsgrad = true; o.eps = 1e-6)
LIPFLOW_OPTIMIZER_CASE(AdamWPlain, AdamW, AdamOptions, o = AdamW<T>::defaults(); o.lr = 0.02)
LIPFLOW_OPTIMIZER_CASE(AdamWAmsgrad, AdamW, AdamOptions, o.lr = 0.02; o.weight_decay = 0.3; o.amsgrad = true)

TEST(Sgd, MatchesPyTorch) {
  check_trajectories<SgdPlain>("sgd_plain");
  check_trajectories<SgdMomentum>("sgd_momentum");
  check_trajectories<SgdDampening>("sgd_dampening_wd");
  check_trajectories<SgdNesterov>("sgd_nesterov_wd");
}

TEST(Adam, MatchesPyTorch) {
  check_trajectories<AdamPlain>("adam");
  check_trajectories<AdamWd>("adam_wd");
  check_trajectories<AdamAmsgrad>("adam_amsgrad");
}

TEST(AdamW, MatchesPyTorch) {
  check_trajectories<AdamWPlain>("adamw");
  check_trajectories<AdamWAmsgrad>("adamw_amsgrad");
}

TEST(Optimizers, InvalidHyperParametersAreRefusedAtPlan) {
  auto refused = [](Optimizer<double>& o) {
    MemoryPlan plan;
    return o.plan(plan).code() == Code::invalid_argument;
  };
  SgdOptions s;
  s.momentum = -0.1;
  Sgd<double> neg_momentum(s);
  EXPECT_TRUE(refused(neg_momentum));
  s = SgdOptions();
  s.nesterov = true;
  Sgd<double> nesterov_no_momentum(s);
  EXPECT_TRUE(refused(nesterov_no_momentum));
  s = SgdOptions();
  s.lr = -1;
  Sgd<double> neg_lr(s);
  EXPECT_TRUE(refused(neg_lr));
  AdamOptions a;
  a.beta1 = 1.0;
  Adam<double> b1(a);
  EXPECT_TRUE(refused(b1));
  a = AdamOptions();
  a.beta2 = -0.1;
  Adam<double> b2(a);
  EXPECT_TRUE(refused(b2));
  a = AdamOptions();
  a.eps = 0;
  Adam<double> eps(a);
  EXPECT_TRUE(refused(eps));
  a = AdamOptions();
  a.weight_decay = std::nan("");
  AdamW<double> wd(a);
  EXPECT_TRUE(refused(wd));
  Adam<double> ok;
  EXPECT_EQ(ok.configure_group(1, -0.5, 0).code(), Code::invalid_argument);
  EXPECT_EQ(ok.configure_group(99, 0.5, 0).code(), Code::out_of_range);
  EXPECT_EQ(ok.step().code(), Code::not_bound);
}

// Biases and normalization gains go to a group without decay.
TEST(Optimizers, DecayGroupsFromParameterFlags) {
  nn::Linear<double> l(3);
  nn::Model<double> model;
  ASSERT_TRUE(model.add(&l).ok());
  MemoryPlan plan;
  ASSERT_TRUE(model.plan(nn::Shape::vec(2), 1, plan).ok());
  AdamW<double> opt;
  ASSERT_TRUE(opt.add(model.layers(), 0, 1).ok());
  ASSERT_TRUE(opt.configure_group(1, 1e-3, 0.0).ok());
  ASSERT_EQ(opt.param_count(), 2u);
  EXPECT_EQ(opt.slot(0).group, 0u);  // the weight
  EXPECT_EQ(opt.slot(1).group, 1u);  // the bias
  EXPECT_EQ(opt.group(1).weight_decay, 0.0);
  EXPECT_EQ(opt.group(0).weight_decay, 1e-2);
  ASSERT_TRUE(opt.plan(plan).ok());
  // m and v of each parameter in one region: 2 x 6 doubles -> 128 bytes, 2 x 3 doubles -> 64 bytes.
  EXPECT_EQ(plan.bytes(MemoryKind::optimizer_state), 128u + 64u);
  AlignedBuffer buf(plan.total_bytes());
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  EXPECT_EQ(opt.bind(arena).code(), Code::not_bound);  // the model is not bound yet: an error, not a crash
}
