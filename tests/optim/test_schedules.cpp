// Learning-rate schedules against tests/golden/optim_schedules.py (PyTorch's lr_scheduler, and the
// optax / Vaswani formulas where PyTorch lacks the schedule): every step 0..300, two groups, 1e-7
// relative, through lr() and through apply() on an optimizer; no heap; every invalid parameter.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "lipflow/optim/adam.hpp"
#include "lipflow/optim/schedule.hpp"
#include "lipflow/optim/sgd.hpp"
#include "support/alloc_counter.hpp"
#include "support/golden.hpp"

using namespace lipflow;
using namespace lipflow::optim;
using namespace lipflow_test;

namespace {

constexpr std::size_t kSteps = 300;
constexpr double kTol = 1e-7;  // relative, as required of every schedule

const Golden& golden() {
  static const Golden g = load_golden("optim_schedules");
  return g;
}

// A case of the golden script: a single schedule or a sequence. `until` = the first step that is not
// compared with PyTorch (one_cycle's documented divergence at total_steps), else kSteps + 1.
struct Case {
  std::string name;
  bool sequential = false;
  Schedule single;
  SequentialSchedule seq;
  std::size_t until = kSteps + 1;

  double lr(std::size_t t, double base) const { return sequential ? seq.lr(t, base) : single.lr(t, base); }
  template <class T>
  Status apply_to(Optimizer<T>& o, std::size_t t) const {
    return sequential ? optim::apply(seq, o, t) : optim::apply(single, o, t);
  }
};

Case single(const std::string& name, const Schedule& s, std::size_t until = kSteps + 1) {
  Case c;
  c.name = name;
  c.single = s;
  c.until = until;
  return c;
}

Case sequence(const std::string& name, std::initializer_list<std::pair<Schedule, std::size_t>> phases) {
  Case c;
  c.name = name;
  c.sequential = true;
  for (const auto& p : phases) EXPECT_TRUE(c.seq.add(p.first, p.second).ok()) << name;
  return c;
}

std::vector<Case> cases() {
  using S = Schedule;
  return {
      single("constant", S::constant()),
      single("constant_lr_default", S::constant_lr()),
      single("constant_lr_half_40", S::constant_lr(0.5, 40)),
      single("step_30_0.1", S::step_lr(30)),
      single("step_7_0.5", S::step_lr(7, 0.5)),
      single("multistep_30_80_150", S::multi_step_lr({30, 80, 150})),
      single("multistep_1_2_250_0.5", S::multi_step_lr({1, 2, 250}, 0.5)),
      single("exponential_0.99", S::exponential_lr(0.99)),
      single("exponential_0.95", S::exponential_lr(0.95)),
      single("exponential_1.01", S::exponential_lr(1.01)),
      single("linear_default", S::linear_lr()),
      single("linear_warmup_0.01_50", S::linear_lr(0.01, 1.0, 50)),
      single("linear_decay_0.05_200", S::linear_lr(1.0, 0.05, 200)),
      single("linear_decay_0_300", S::linear_lr(1.0, 0.0, 300)),
      single("optax_linear_0_20", S::linear_lr(0.0, 1.0, 20)),
      single("cosine_300", S::cosine_annealing_lr(300)),
      single("cosine_100_1e-3", S::cosine_annealing_lr(100, 1e-3)),
      single("cosine_50", S::cosine_annealing_lr(50)),
      single("optax_warmup_cosine_20_250", S::warmup_cosine_decay(20, 250, 0.0, 1e-3)),
      single("optax_warmup_cosine_0_100_exp2", S::warmup_cosine_decay(0, 100, 0.1, 0.05, 2.0)),
      single("optax_warmup_cosine_10_200_exp0.5", S::warmup_cosine_decay(10, 200, 0.2, 0.0, 0.5)),
      single("rsqrt_25", S::inverse_sqrt(25)),
      single("rsqrt_1", S::inverse_sqrt(1)),
      single("onecycle_default", S::one_cycle(300), 300),
      single("onecycle_three_phase", S::one_cycle(300, 0.3, Anneal::cos, 25.0, 1e4, true), 300),
      single("onecycle_linear_0.25_10_100", S::one_cycle(300, 0.25, Anneal::linear, 10.0, 100.0), 300),
      single("onecycle_long_1000", S::one_cycle(1000)),
      sequence("seq_linear10_cosine290", {{S::linear_lr(0.1, 1.0, 10), 0}, {S::cosine_annealing_lr(290, 1e-4), 10}}),
      sequence("seq_linear5_exponential", {{S::linear_lr(), 0}, {S::exponential_lr(0.98), 5}}),
      sequence("seq_constant2_step", {{S::constant_lr(0.1, 2), 0}, {S::step_lr(40, 0.3), 2}}),
      sequence("seq_three_phases", {{S::linear_lr(0.2, 1.0, 20), 0}, {S::constant(), 20}, {S::multi_step_lr({50, 100}, 0.5), 80}}),
  };
}

double rel_err(double got, double want) {
  if (want == 0) return got == 0 ? 0 : HUGE_VAL;  // exact zeros must stay exact
  return std::fabs(got - want) / std::fabs(want);
}

}  // namespace

TEST(Schedules, GoldenHasEveryCase) {
  ASSERT_TRUE(golden().ok) << "missing golden optim_schedules (run tests/golden/optim_schedules.py)";
  for (const Case& c : cases())
    for (int g = 0; g < 2; ++g)
      EXPECT_EQ(golden()[c.name + "_g" + std::to_string(g)].size(), kSteps + 1) << c.name;
}

// lr(step, base) for both groups' initial rates, every step.
TEST(Schedules, MatchPyTorchEveryStep) {
  ASSERT_TRUE(golden().ok);
  const auto& bases = golden()["bases"];
  ASSERT_EQ(bases.size(), 2u);
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    ASSERT_TRUE(c.sequential ? c.seq.validate().ok() : c.single.validate().ok());
    for (int g = 0; g < 2; ++g) {
      const auto& want = golden()[c.name + "_g" + std::to_string(g)];
      ASSERT_EQ(want.size(), kSteps + 1);
      double worst = 0;
      std::size_t worst_step = 0;
      for (std::size_t t = 0; t < c.until && t <= kSteps; ++t) {
        const double e = rel_err(c.lr(t, bases[g]), want[t]);
        if (!(e <= worst)) {
          worst = e;
          worst_step = t;
        }
      }
      EXPECT_LE(worst, kTol) << "group " << g << " step " << worst_step << ": got " << c.lr(worst_step, bases[g])
                             << " want " << want[worst_step];
    }
  }
}

// apply() sets each group from its own initial rate, in float and double optimizers, without heap.
template <class T>
void check_apply() {
  const auto& bases = golden()["bases"];
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    Sgd<T> opt;
    ASSERT_TRUE(opt.configure_group(0, bases[0], 0).ok());
    ASSERT_TRUE(opt.configure_group(1, bases[1], 0).ok());
    ASSERT_EQ(opt.group_count(), 2u);
    double worst = 0;
    std::size_t allocations = 0;
    for (std::size_t t = 0; t < c.until && t <= kSteps; ++t) {
      AllocationWatch watch;
      const Status s = c.apply_to(opt, t);
      allocations += watch.count();
      ASSERT_TRUE(s.ok()) << "step " << t;
      for (std::size_t g = 0; g < 2; ++g) {
        EXPECT_EQ(opt.group(g).initial_lr, bases[g]);  // schedules scale the initial rate, never change it
        worst = std::max(worst, rel_err(opt.group(g).lr, golden()[c.name + "_g" + std::to_string(g)][t]));
      }
    }
    EXPECT_EQ(allocations, 0u) << "apply() allocated";
    EXPECT_LE(worst, kTol);
  }
}

TEST(Schedules, ApplySetsEveryGroupDouble) { check_apply<double>(); }
TEST(Schedules, ApplySetsEveryGroupFloat) { check_apply<float>(); }

// In a training loop, apply(schedule, opt) before opt.step() uses the rate for the next step: with
// w = 0 and grad = 1 before each SGD step, w after step t+1 is -lr(t) (PyTorch's rate after t
// scheduler steps).
TEST(Schedules, ApplyBeforeStepUsesTheNextRate) {
  ASSERT_TRUE(golden().ok);
  Case c;
  for (const Case& k : cases())
    if (k.name == "seq_linear10_cosine290") c = k;
  ASSERT_TRUE(c.sequential);
  double w = 0, grad = 1;
  nn::Param<double> p;
  p.value = &w;
  p.grad = &grad;
  p.size = p.cols = p.rows = 1;
  SgdOptions o;
  o.lr = golden()["bases"][0];
  Sgd<double> opt(o);
  ASSERT_TRUE(opt.add(p).ok());
  MemoryPlan plan;
  ASSERT_TRUE(opt.plan(plan).ok());
  AlignedBuffer buf(plan.total_bytes() + 64);
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  ASSERT_TRUE(opt.bind(arena).ok());
  const auto& want = golden()["seq_linear10_cosine290_g0"];
  double worst = 0;
  std::size_t allocations = 0;
  for (std::size_t t = 0; t < kSteps; ++t) {
    w = 0;
    AllocationWatch watch;
    ASSERT_TRUE(optim::apply(c.seq, opt).ok());
    ASSERT_TRUE(opt.step().ok());
    allocations += watch.count();
    worst = std::max(worst, rel_err(-w, want[t]));
  }
  EXPECT_EQ(allocations, 0u);
  EXPECT_LE(worst, kTol);
}

// PyTorch extrapolates OneCycleLR's last phase at step total_steps (below min_lr; negative with
// linear annealing) and raises after it; lipflow holds min_lr = max_lr / div / final_div from
// total_steps - 1 on.
TEST(Schedules, OneCycleHoldsTheMinimumAfterTheCycle) {
  for (Anneal a : {Anneal::cos, Anneal::linear}) {
    const Schedule s = Schedule::one_cycle(300, 0.25, a, 10.0, 100.0);
    const double min_lr = 0.1 / 10.0 / 100.0;
    EXPECT_NEAR(s.lr(299, 0.1), min_lr, 1e-12 * min_lr);
    for (std::size_t t : {300u, 301u, 5000u}) EXPECT_EQ(s.lr(t, 0.1), s.lr(299, 0.1));
  }
  // The step PyTorch extrapolates differs from min_lr (the golden shows it), so the hold is a choice.
  EXPECT_LT(golden()["onecycle_linear_0.25_10_100_g0"][300], 0.0);
}

// Vaswani et al.'s lrate = d^-1/2 min(n^-1/2, n w^-3/2) is inverse_sqrt(w) with base (d w)^-1/2.
TEST(Schedules, InverseSqrtIsTheTransformerSchedule) {
  const double d = 512, w = 4000;
  const Schedule s = Schedule::inverse_sqrt(4000);
  for (double n : {1.0, 100.0, 3999.0, 4000.0, 4001.0, 1e5}) {
    const double paper = std::pow(d, -0.5) * std::min(std::pow(n, -0.5), n * std::pow(w, -1.5));
    EXPECT_NEAR(s.lr(static_cast<std::size_t>(n) - 1, 1.0 / std::sqrt(d * w)), paper, 1e-12 * paper) << n;
  }
}

TEST(Schedules, InvalidParametersAreRefused) {
  using S = Schedule;
  auto refused = [](const Schedule& s, Code code = Code::invalid_argument) {
    return s.validate().code() == code && std::isnan(s.lr(3, 0.1));
  };
  EXPECT_TRUE(refused(S::constant_lr(1.5)));
  EXPECT_TRUE(refused(S::constant_lr(-0.1)));
  EXPECT_TRUE(refused(S::step_lr(0)));         // zero period
  EXPECT_TRUE(refused(S::step_lr(10, -0.1)));  // negative gamma
  EXPECT_TRUE(refused(S::step_lr(10, std::nan(""))));
  EXPECT_TRUE(refused(S::multi_step_lr({30, 30, 40})));  // not strictly increasing
  EXPECT_TRUE(refused(S::multi_step_lr({50, 20})));
  EXPECT_TRUE(refused(S::multi_step_lr({10, 20}, -1.0)));
  const std::size_t many[S::kMaxMilestones + 1] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
  EXPECT_TRUE(refused(S::multi_step_lr(many, S::kMaxMilestones + 1), Code::capacity_exceeded));
  EXPECT_TRUE(S::multi_step_lr(many, S::kMaxMilestones).validate().ok());
  EXPECT_TRUE(refused(S::multi_step_lr(nullptr, 3), Code::capacity_exceeded));
  EXPECT_TRUE(refused(S::exponential_lr(-0.5)));
  EXPECT_TRUE(refused(S::exponential_lr(HUGE_VAL)));
  EXPECT_TRUE(refused(S::linear_lr(1.0 / 3.0, 1.0, 0)));
  EXPECT_TRUE(refused(S::linear_lr(1.2, 1.0, 5)));
  EXPECT_TRUE(refused(S::linear_lr(0.5, -0.1, 5)));
  EXPECT_TRUE(refused(S::cosine_annealing_lr(0)));
  EXPECT_TRUE(refused(S::cosine_annealing_lr(10, -1e-3)));
  EXPECT_TRUE(refused(S::warmup_cosine_decay(10, 10)));  // no decay phase
  EXPECT_TRUE(refused(S::warmup_cosine_decay(10, 5)));
  EXPECT_TRUE(refused(S::warmup_cosine_decay(10, 100, 0.0, 0.0, 0.0)));  // exponent
  EXPECT_TRUE(refused(S::warmup_cosine_decay(10, 100, -0.5)));
  EXPECT_TRUE(refused(S::warmup_cosine_decay(10, 100, 0.0, 2.0)));
  EXPECT_TRUE(refused(S::inverse_sqrt(0)));
  EXPECT_TRUE(refused(S::one_cycle(0)));
  EXPECT_TRUE(refused(S::one_cycle(100, 1.5)));
  EXPECT_TRUE(refused(S::one_cycle(100, 0.3, Anneal::cos, 0.0)));
  EXPECT_TRUE(refused(S::one_cycle(100, 0.3, Anneal::cos, 25.0, -1.0)));
  EXPECT_TRUE(refused(S::one_cycle(3)));                // pct_start * total_steps = 0.9: no warmup phase
  EXPECT_TRUE(refused(S::one_cycle(100, 1.0)));         // no annealing phase
  EXPECT_TRUE(refused(S::one_cycle(100, 0.6, Anneal::cos, 25.0, 1e4, true)));  // second phase past the end
  S bad_anneal = S::one_cycle(100);
  bad_anneal.anneal = static_cast<Anneal>(7);
  EXPECT_TRUE(refused(bad_anneal));
  S bad_kind;
  bad_kind.kind = static_cast<ScheduleKind>(99);
  EXPECT_TRUE(refused(bad_kind));
  // The boundary values that are allowed.
  EXPECT_TRUE(S::constant_lr(0.0, 0).validate().ok());
  EXPECT_TRUE(S::linear_lr(0.0, 1.0, 1).validate().ok());
  EXPECT_TRUE(S::exponential_lr(0.0).validate().ok());
  EXPECT_TRUE(S::one_cycle(4, 0.5).validate().ok());   // phases end at 1 and 3
  EXPECT_FALSE(S::one_cycle(2, 0.5).validate().ok());  // 0.5 * 2 - 1 == 0 exactly: a warmup of length 0
}

TEST(Schedules, SequentialRefusesBadPhases) {
  SequentialSchedule s;
  EXPECT_EQ(s.validate().code(), Code::invalid_argument);  // empty
  EXPECT_TRUE(std::isnan(s.lr(0, 0.1)));
  EXPECT_EQ(s.add(Schedule::constant(), 5).code(), Code::invalid_argument);  // the first phase starts at 0
  ASSERT_TRUE(s.add(Schedule::linear_lr(), 0).ok());
  EXPECT_EQ(s.add(Schedule::step_lr(0), 10).code(), Code::invalid_argument);  // an invalid phase
  ASSERT_TRUE(s.add(Schedule::constant(), 10).ok());
  EXPECT_EQ(s.add(Schedule::constant(), 10).code(), Code::invalid_argument);  // not after the previous start
  ASSERT_TRUE(s.add(Schedule::constant(), 11).ok());
  ASSERT_TRUE(s.add(Schedule::constant(), 12).ok());
  EXPECT_EQ(s.add(Schedule::constant(), 13).code(), Code::capacity_exceeded);
  EXPECT_TRUE(s.validate().ok());
  s.phases[1].t_max = 0;
  s.phases[1].kind = ScheduleKind::cosine;  // broken after add(): validate() and apply() catch it
  EXPECT_EQ(s.validate().code(), Code::invalid_argument);
  SequentialSchedule w;
  EXPECT_EQ(SequentialSchedule::warmup_then(Schedule::linear_lr(), 5, Schedule::cosine_annealing_lr(0), &w).code(),
            Code::invalid_argument);
  EXPECT_EQ(w.count, 0u);  // unchanged on error
  EXPECT_EQ(SequentialSchedule::warmup_then(Schedule::linear_lr(), 0, Schedule::constant(), &w).code(),
            Code::invalid_argument);
  ASSERT_TRUE(SequentialSchedule::warmup_then(Schedule::linear_lr(0.0, 1.0, 5), 5, Schedule::cosine_annealing_lr(20), &w).ok());
  EXPECT_DOUBLE_EQ(w.lr(0, 1.0), 0.0);
  EXPECT_DOUBLE_EQ(w.lr(4, 1.0), 0.8);
  EXPECT_DOUBLE_EQ(w.lr(5, 1.0), 1.0);   // the cosine counts from 0 at the milestone
  EXPECT_NEAR(w.lr(25, 1.0), 0.0, 1e-15);
  EXPECT_EQ(SequentialSchedule::warmup_then(Schedule::constant(), 1, Schedule::constant(), nullptr).code(),
            Code::null_pointer);
}

// An invalid schedule, or one giving a rate that is not allowed, changes no group.
TEST(Schedules, ApplyRefusesAndLeavesTheRatesAlone) {
  Adam<double> opt;
  ASSERT_TRUE(opt.configure_group(0, 0.1, 0).ok());
  ASSERT_TRUE(opt.configure_group(1, 0.03, 0).ok());
  ASSERT_TRUE(optim::apply(Schedule::exponential_lr(0.5), opt, 1).ok());
  EXPECT_DOUBLE_EQ(opt.group(0).lr, 0.05);
  EXPECT_DOUBLE_EQ(opt.group(1).lr, 0.015);
  EXPECT_EQ(optim::apply(Schedule::step_lr(0), opt, 3).code(), Code::invalid_argument);
  EXPECT_EQ(optim::apply(Schedule::exponential_lr(1e300), opt, 10).code(), Code::invalid_argument);  // inf rate
  SequentialSchedule empty;
  EXPECT_EQ(optim::apply(empty, opt, 0).code(), Code::invalid_argument);
  EXPECT_DOUBLE_EQ(opt.group(0).lr, 0.05);
  EXPECT_DOUBLE_EQ(opt.group(1).lr, 0.015);
}
