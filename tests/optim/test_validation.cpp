// Every public entry point of optim/ refuses bad hyper-parameters (NaN, negative, out of range), bad
// groups, misuse order and null memory with a code and a message naming the value, and the optimizer
// still steps exactly afterwards (docs/validation.md).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "lipflow/optim/adam.hpp"
#include "lipflow/optim/clip.hpp"
#include "lipflow/optim/schedule.hpp"
#include "lipflow/optim/sgd.hpp"
#include "support/validation.hpp"

using namespace lipflow;
using namespace lipflow::optim;
using testing_support::BadCall;
using testing_support::expect_cases;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// An optimizer over one bare parameter of 3 values, planned and bound on its own buffer.
template <class O>
Status setup(O& opt, nn::Param<float> p, MemoryPlan& plan, Arena& arena, AlignedBuffer& buffer) {
  LIPFLOW_TRY(opt.add(p));
  LIPFLOW_TRY(opt.plan(plan));
  buffer = AlignedBuffer(plan.total_bytes() == 0 ? 64 : plan.total_bytes());
  LIPFLOW_TRY(arena.bind(plan, buffer.data(), buffer.size()));
  return opt.bind(arena);
}

template <class O>
Status plan_only(O opt, nn::Param<float> p) {
  MemoryPlan plan;
  LIPFLOW_TRY(opt.add(p));
  return opt.plan(plan);
}

TEST(OptimValidation, HyperParameters) {
  float w[3] = {1, 2, 3}, g[3] = {0.5f, -1, 2};
  const nn::Param<float> p{"w", w, g, 3, 1, 3, nn::kParamDecay};
  AdamOptions beta1_one, beta2_nan, eps_zero, lr_negative, wd_nan;
  beta1_one.beta1 = 1.0;
  beta2_nan.beta2 = kNaN;
  eps_zero.eps = 0.0;
  lr_negative.lr = -0.1;
  wd_nan.weight_decay = kNaN;
  SgdOptions nesterov, momentum_negative, dampening;
  nesterov.nesterov = true;
  momentum_negative.momentum = -0.9;
  dampening.dampening = 1.5;
  expect_cases({
      {"adam beta1 1", [&] { return plan_only(Adam<float>(beta1_one), p); }, Code::invalid_argument, {"adam: beta1", "= 1"}},
      {"adam beta2 nan", [&] { return plan_only(Adam<float>(beta2_nan), p); }, Code::invalid_argument, {"adam: beta2", "= nan"}},
      {"adam eps 0", [&] { return plan_only(Adam<float>(eps_zero), p); }, Code::invalid_argument, {"adam: eps", "= 0"}},
      {"adam lr < 0", [&] { return plan_only(Adam<float>(lr_negative), p); }, Code::invalid_argument, {"lr", "= -0.1"}},
      {"adam decay nan", [&] { return plan_only(Adam<float>(wd_nan), p); }, Code::invalid_argument, {"weight_decay", "= nan"}},
      {"sgd nesterov", [&] { return plan_only(Sgd<float>(nesterov), p); }, Code::invalid_argument, {"nesterov needs momentum"}},
      {"sgd momentum", [&] { return plan_only(Sgd<float>(momentum_negative), p); }, Code::invalid_argument, {"sgd: momentum", "= -0.9"}},
      {"sgd dampening", [&] { return plan_only(Sgd<float>(dampening), p); }, Code::invalid_argument, {"sgd: dampening", "= 1.5"}},
  });
}

TEST(OptimValidation, OrderGroupsAndMemory) {
  float w[3] = {1, 2, 3}, g[3] = {0.5f, -1, 2};
  const nn::Param<float> p{"w", w, g, 3, 1, 3, nn::kParamDecay};
  const nn::Param<float> no_grad{"ghost", w, nullptr, 3, 1, 3, 0};
  SgdOptions o;
  o.lr = 0.1;
  Sgd<float> sgd(o);
  MemoryPlan plan;
  Arena arena;
  AlignedBuffer buffer;
  expect_cases({
      {"step before bind", [&] { return sgd.step(); }, Code::not_bound, {"optimizer.step"}},
      {"bind before plan", [&] { return sgd.bind(arena); }, Code::not_bound, {"optimizer.bind: not planned"}},
      {"add without gradient", [&] { return sgd.add(no_grad); }, Code::null_pointer, {"ghost"}},
      {"add to group 8", [&] { return sgd.add(p, 8); }, Code::out_of_range, {"optimizer.add: group = 8 (limit 7)"}},
      {"configure group 9", [&] { return sgd.configure_group(9, 0.1, 0.0); }, Code::out_of_range, {"group = 9 (limit 7)"}},
      {"configure lr nan", [&] { return sgd.configure_group(0, kNaN, 0.0); }, Code::invalid_argument, {"lr", "= nan"}},
      {"configure decay < 0", [&] { return sgd.configure_group(0, 0.1, -1.0); }, Code::invalid_argument, {"weight_decay", "= -1"}},
      {"set_lr inf", [&] { return sgd.set_lr(0, HUGE_VAL); }, Code::invalid_argument, {"set_lr: lr", "= inf"}},
  });
  EXPECT_EQ(sgd.group(0).lr, 0.1);  // the refused calls changed nothing
  ASSERT_TRUE(setup(sgd, p, plan, arena, buffer).ok());
  expect_cases({
      {"plan twice", [&] { return sgd.plan(plan); }, Code::plan_sealed, {"planned twice"}},
      {"add after plan", [&] { return sgd.add(p); }, Code::plan_sealed, {"optimizer.add: after plan"}},
      {"set_lr -1", [&] { return sgd.set_lr(0, -1.0); }, Code::invalid_argument, {"= -1"}},
  });
  // one exact SGD step: w - 0.1 g
  ASSERT_TRUE(sgd.step().ok());
  EXPECT_EQ(w[0], 1.0f - 0.1f * 0.5f);
  EXPECT_EQ(w[1], 2.0f + 0.1f * 1.0f);
  EXPECT_EQ(w[2], 3.0f - 0.1f * 2.0f);
  EXPECT_EQ(sgd.step_count(), 1u);
}

TEST(OptimValidation, ClippingAndSchedules) {
  float w[3] = {1, 2, 3}, g[3] = {3, 0, 4};
  const nn::Param<float> p{"w", w, g, 3, 1, 3, nn::kParamDecay};
  const nn::Param<float> no_grad{"ghost", w, nullptr, 3, 1, 3, 0};
  double total = -1;
  AgcOptions agc_bad;
  agc_bad.clipping = -0.5;
  SgdOptions o;
  Sgd<float> sgd(o);
  MemoryPlan plan;
  Arena arena;
  AlignedBuffer buffer;
  ASSERT_TRUE(setup(sgd, p, plan, arena, buffer).ok());
  SequentialSchedule seq;
  expect_cases({
      {"clip norm 0", [&] { return clip_grad_norm<float>(&p, 1, 0.0, &total); }, Code::invalid_argument, {"max_norm", "= 0"}},
      {"clip norm nan", [&] { return clip_grad_norm<float>(&p, 1, kNaN, &total); }, Code::invalid_argument, {"max_norm", "= nan"}},
      {"clip norm kind", [&] { return clip_grad_norm<float>(&p, 1, 1.0, &total, static_cast<kernels::Norm>(5)); }, Code::invalid_argument, {"clip_grad_norm: norm", "= 5"}},
      {"clip null params", [&] { return clip_grad_norm<float>(static_cast<const nn::Param<float>*>(nullptr), 2, 1.0, &total); }, Code::null_pointer, {"clip: params"}},
      {"clip no gradient", [&] { return clip_grad_norm<float>(&no_grad, 1, 1.0, &total); }, Code::null_pointer, {"ghost"}},
      {"clip value < 0", [&] { return clip_grad_value<float>(&p, 1, -2.0); }, Code::invalid_argument, {"clip_value", "= -2"}},
      {"agc clipping", [&] { return adaptive_clip_grad<float>(&p, 1, agc_bad); }, Code::invalid_argument, {"adaptive_clip_grad: clipping", "= -0.5"}},
      {"step_lr gamma", [&] { return apply(Schedule::step_lr(2, -0.1), sgd, 3); }, Code::invalid_argument, {"step_lr: gamma", "= -0.1"}},
      {"step_lr step_size", [&] { return Schedule::step_lr(0).validate(); }, Code::invalid_argument, {"step_size", "= 0"}},
      {"one_cycle pct", [&] { return Schedule::one_cycle(100, 1.5).validate(); }, Code::invalid_argument, {"pct_start", "= 1.5"}},
      {"multi_step order", [&] { return Schedule::multi_step_lr({5, 3}).validate(); }, Code::invalid_argument, {"milestones", "= 3"}},
      {"sequential empty", [&] { return apply(seq, sgd, 0); }, Code::invalid_argument, {"sequential_schedule"}},
      {"sequential start", [&] { return seq.add(Schedule::constant(), 4); }, Code::invalid_argument, {"first phase starts at 0", "= 4"}},
  });
  EXPECT_EQ(total, -1.0);  // nothing reported by a refused clip
  EXPECT_EQ(sgd.group(0).lr, o.lr);  // nor any rate changed by a refused schedule
  EXPECT_EQ(g[0], 3.0f);
  // clipping still works: the norm 5 down to 1
  ASSERT_TRUE(clip_grad_norm<float>(&p, 1, 1.0, &total).ok());
  EXPECT_EQ(total, 5.0);
  EXPECT_NEAR(g[0], 0.6f, 1e-6);
  EXPECT_NEAR(g[2], 0.8f, 1e-6);
  ASSERT_TRUE(apply(Schedule::step_lr(2, 0.5), sgd, 4).ok());
  EXPECT_DOUBLE_EQ(sgd.group(0).lr, o.lr * 0.25);
}

}  // namespace
