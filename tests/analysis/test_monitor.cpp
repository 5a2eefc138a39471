// The Monitor: runs only on due steps, records every selected estimator with its cost, wraps its
// ring buffer, computes update ratios across the optimizer step, calls extensions, allocates nothing
// after bind.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lipflow/analysis/jacobian.hpp"
#include "lipflow/analysis/monitor.hpp"
#include "lipflow/analysis/spectral.hpp"
#include "lipflow/analysis/svd.hpp"
#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/loss.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/norm.hpp"
#include "lipflow/optim/sgd.hpp"
#include "support/alloc_counter.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::nn;
using namespace lipflow::analysis;
using namespace lipflow_test;
using A = kernels::Activation;

namespace {

template <class T>
struct Trainer {
  Linear<T> l1{8}, l2{4};
  Activation<T> act{{A::tanh}};
  LayerNorm<T> ln;
  Model<T> model;
  optim::Sgd<T> sgd{optim::SgdOptions{0.05, 0.0, 0.0, 0.0, false}};
  Monitor<T> monitor;
  MemoryPlan plan;
  Arena arena;
  AlignedBuffer buf;
  static constexpr std::size_t batch = 4;
  std::vector<T> x, g;
  std::vector<std::int32_t> t;

  Status setup(const MonitorOptions& o, const MonitorExtension* ext = nullptr) {
    for (Module<T>* m : {static_cast<Module<T>*>(&l1), static_cast<Module<T>*>(&act), static_cast<Module<T>*>(&ln),
                         static_cast<Module<T>*>(&l2)})
      LIPFLOW_TRY(model.add(m));
    LIPFLOW_TRY(model.plan(Shape::vec(5), batch, plan));
    if (ext != nullptr) LIPFLOW_TRY(monitor.add_extension(*ext));
    LIPFLOW_TRY(monitor.plan(model, plan, o));
    LIPFLOW_TRY(sgd.add(model.layers()));
    LIPFLOW_TRY(sgd.plan(plan));
    buf = AlignedBuffer(plan.total_bytes());
    LIPFLOW_TRY(arena.bind(plan, buf.data(), buf.size()));
    LIPFLOW_TRY(model.bind(arena));
    LIPFLOW_TRY(monitor.bind(arena));
    LIPFLOW_TRY(sgd.bind(arena));
    Rng rng(3);
    LIPFLOW_TRY(model.init(rng));
    x.resize(batch * 5);
    for (auto& v : x) v = static_cast<T>(rng.normal_double());
    t = {0, 1, 2, 3};
    g.resize(batch * 4);
    return Status::success();
  }
  // forward, cross-entropy, zero_grad, backward, SGD step
  Status train_step() {
    const T* y = nullptr;
    T loss = 0;
    LIPFLOW_TRY(model.forward(x.data(), batch, &y));
    LIPFLOW_TRY(cross_entropy_loss<T>(batch, 4, y, t.data(), &loss, g.data()));
    LIPFLOW_TRY(model.zero_grad());
    LIPFLOW_TRY(model.backward(g.data(), batch));
    return sgd.step();
  }
};

Status fake_estimator(void* context, std::size_t step, std::size_t batch, double* values, std::size_t capacity,
                      std::size_t* count) noexcept {
  if (capacity < 2) return Status(Code::buffer_too_small, "fake_estimator");
  ++*static_cast<int*>(context);
  values[0] = 2.0 * static_cast<double>(step);
  values[1] = static_cast<double>(batch);
  *count = 2;
  return Status::success();
}

}  // namespace

TEST(Monitor, RunsEveryKStepsAndWrapsItsRing) {
  Trainer<double> tr;
  MonitorOptions o;
  o.every = 3;
  o.capacity = 4;
  o.flow.power_iters = 5;
  int calls = 0;
  MonitorExtension ext;
  ext.name = "fake";
  ext.run = fake_estimator;
  ext.context = &calls;
  ASSERT_TRUE(tr.setup(o, &ext).ok());
  EXPECT_EQ(tr.monitor.latest(), nullptr);
  std::vector<std::size_t> recorded_steps;
  recorded_steps.reserve(32);
  AllocationWatch watch;
  for (std::size_t step = 0; step < 20; ++step) {
    ASSERT_TRUE(tr.train_step().ok());
    bool recorded = false;
    ASSERT_TRUE(tr.monitor.on_step(step, Trainer<double>::batch, &recorded).ok());
    EXPECT_EQ(recorded, step % 3 == 0) << step;
    if (recorded) {
      const MonitorRecord* r = tr.monitor.latest();
      ASSERT_NE(r, nullptr);
      EXPECT_EQ(r->step, step);
      EXPECT_GT(r->total_us, 0.0);
      // every built-in ran, the update ratios from the second record on (the first has no snapshot)
      const std::uint32_t want =
          (kMonitorBuiltins & ~(step == 0 ? std::uint32_t(kMonitorUpdateRatios) : 0u)) | (1u << kMonitorExtensionBit);
      EXPECT_EQ(r->ran, want) << step;
      double sum = 0;
      for (std::size_t b = 0; b < kMonitorCostSlots; ++b) {
        EXPECT_GE(r->cost_us[b], 0.0);
        if ((r->ran >> b) & 1u) sum += r->cost_us[b];
        else EXPECT_EQ(r->cost_us[b], 0.0) << b;
      }
      EXPECT_GT(sum, 0.0);
      EXPECT_GE(r->total_us, sum - r->cost_us[1] - 1.0);  // the snapshot part of [1] was timed last step
      // the expected fields
      EXPECT_EQ(r->flow.layers, 4u);
      EXPECT_TRUE(std::isfinite(r->flow.layer[0].grad_input));
      EXPECT_GT(r->flow.layer[3].grad_params, 0.0);
      EXPECT_EQ(r->flow.norm_count, 1u);
      EXPECT_TRUE(std::isfinite(r->flow.norm[0].input_std));
      EXPECT_EQ(r->flow.attention_count, 0u);
      EXPECT_GT(r->flow.layer[0].jacobian_norm, 0.0);
      EXPECT_EQ(r->lipschitz.scope, static_cast<std::uint8_t>(Scope::local));
      EXPECT_TRUE(std::isfinite(r->lipschitz.local));
      EXPECT_GT(r->lipschitz_layer[0].global, 0.0);
      if (step > 0) {
        EXPECT_GT(r->flow.layer[0].update_ratio, 0.0);
        EXPECT_LT(r->flow.layer[0].update_ratio, 1.0);
      } else {
        EXPECT_TRUE(std::isnan(r->flow.layer[0].update_ratio));
      }
      EXPECT_EQ(r->extension_count[0], 2u);
      EXPECT_EQ(r->extension[0][0], 2.0 * step);
      EXPECT_EQ(r->extension[0][1], 4.0);
      recorded_steps.push_back(step);
    }
  }
  EXPECT_EQ(watch.count(), 0u);
  EXPECT_EQ(calls, 7);
  EXPECT_EQ(recorded_steps.size(), 7u);  // 0, 3, ..., 18
  EXPECT_EQ(tr.monitor.total_recorded(), 7u);
  ASSERT_EQ(tr.monitor.size(), 4u);     // wrapped: the last four
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(tr.monitor.record(i)->step, 9 + 3 * i);
  EXPECT_EQ(tr.monitor.record(4), nullptr);
  EXPECT_EQ(tr.monitor.latest()->step, 18u);
}

// The update ratio of a record is the one of that step's optimizer update: with plain SGD,
// lr ||g|| / ||W_before||, W_before being the weights at the end of the previous step.
TEST(Monitor, UpdateRatioIsThatOfTheDueStep) {
  Trainer<double> tr;
  MonitorOptions o;
  o.every = 2;
  o.estimators = kMonitorUpdateRatios;
  ASSERT_TRUE(tr.setup(o).ok());
  std::vector<double> w_before;
  for (std::size_t step = 0; step < 5; ++step) {
    if (step == 4) w_before.assign(tr.l1.weight(), tr.l1.weight() + 8 * 5 + 0);
    std::vector<double> b_before;
    if (step == 4) b_before.assign(tr.l1.bias(), tr.l1.bias() + 8);
    ASSERT_TRUE(tr.train_step().ok());
    ASSERT_TRUE(tr.monitor.on_step(step, Trainer<double>::batch).ok());
    if (step == 4) {
      double g = 0, w = 0;
      for (const Param<double>& p : all_params(tr.l1))
        for (std::size_t i = 0; i < p.size; ++i) g += p.grad[i] * p.grad[i];
      for (double v : w_before) w += v * v;
      for (double v : b_before) w += v * v;
      const double want = 0.05 * std::sqrt(g / w);
      const MonitorRecord* r = tr.monitor.latest();
      ASSERT_EQ(r->step, 4u);
      EXPECT_EQ(r->ran, std::uint32_t(kMonitorUpdateRatios));
      EXPECT_NEAR(r->flow.layer[0].update_ratio, want, 1e-12 * want);
    }
  }
}

TEST(Monitor, ErrorsAndFloat) {
  Trainer<float> tr;
  MonitorOptions o;
  o.every = 0;
  EXPECT_EQ(tr.setup(o).code(), Code::invalid_argument);
  Monitor<float> unbound;
  EXPECT_EQ(unbound.on_step(0, 1).code(), Code::not_bound);
  MonitorExtension none;
  EXPECT_EQ(unbound.add_extension(none).code(), Code::null_pointer);

  Trainer<float> ok;
  MonitorOptions every1;
  every1.every = 1;
  every1.capacity = 2;
  ASSERT_TRUE(ok.setup(every1).ok());
  EXPECT_EQ(ok.monitor.on_step(0, 0).code(), Code::invalid_argument);
  EXPECT_EQ(ok.monitor.on_step(0, 5).code(), Code::invalid_argument);
  AllocationWatch watch;
  for (std::size_t step = 0; step < 5; ++step) {
    ASSERT_TRUE(ok.train_step().ok());
    ASSERT_TRUE(ok.monitor.on_step(step, 4).ok());
  }
  EXPECT_EQ(watch.count(), 0u);
  EXPECT_EQ(ok.monitor.size(), 2u);
  EXPECT_EQ(ok.monitor.record(0)->step, 3u);
  EXPECT_TRUE(ok.monitor.latest()->ran & kMonitorUpdateRatios);
  EXPECT_GT(ok.monitor.latest()->flow.layer[3].update_ratio, 0.0);
  MonitorExtension ext;
  ext.run = fake_estimator;
  EXPECT_EQ(ok.monitor.add_extension(ext).code(), Code::plan_sealed);
}

// A caller's clock (as on a target without std::chrono, e.g. a cycle counter) times every estimator:
// with a clock that advances by one microsecond per reading, each cost is exactly 1 and the tick spans
// every reading in between.
namespace {
double ticks = 0.0;
double fake_clock() noexcept { return ticks += 1.0; }
}  // namespace

TEST(Monitor, TimesWithTheCallersClock) {
  Trainer<double> tr;
  MonitorOptions o;
  o.every = 1;
  o.estimators = kMonitorGradientNorms | kMonitorLipschitz;
  o.clock = fake_clock;
  ASSERT_TRUE(tr.setup(o).ok());
  ASSERT_TRUE(tr.train_step().ok());
  ASSERT_TRUE(tr.monitor.on_step(0, Trainer<double>::batch).ok());
  const MonitorRecord* r = tr.monitor.latest();
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->cost_us[0], 1.0);   // kMonitorGradientNorms
  EXPECT_EQ(r->cost_us[6], 1.0);   // kMonitorLipschitz
  EXPECT_EQ(r->total_us, 5.0);     // start, two readings per estimator, end
  EXPECT_NE(monitor_steady_clock(), nullptr);  // the tests are hosted: the library's clock exists
}

// The estimators of spectral.hpp join the Monitor through its extension point: here the spectral norm
// of the model's Jacobian for sample 0, warm-started from tick to tick, recorded with its cost; it
// equals the largest singular value of the explicit Jacobian at that step.
namespace {
struct SpectralExtension {
  ModelSpectralNorm<double>* estimator;
  static Status run(void* context, std::size_t, std::size_t batch, double* values, std::size_t capacity,
                    std::size_t* count) noexcept {
    if (capacity < 2) return Status(Code::buffer_too_small, "spectral extension");
    auto* self = static_cast<SpectralExtension*>(context);
    PowerOptions o;
    o.max_iterations = 500;
    o.tolerance = 1e-12;
    SpectralReport r;
    LIPFLOW_TRY(self->estimator->estimate(batch, 0, o, &r));
    values[0] = r.sigma;
    values[1] = static_cast<double>(r.iterations);
    *count = 2;
    return Status::success();
  }
};
}  // namespace

TEST(Monitor, RunsTheSpectralEstimatorAsAnExtension) {
  Trainer<double> tr;
  ModelSpectralNorm<double> spectral;
  SpectralExtension context{&spectral};
  MonitorExtension ext;
  ext.name = "model_spectral_norm";
  ext.run = SpectralExtension::run;
  ext.context = &context;
  MonitorOptions o;
  o.every = 2;
  o.estimators = kMonitorGradientNorms | (1u << kMonitorExtensionBit);
  // The estimator's memory goes into the same plan, before the buffer is bound.
  for (Module<double>* m : {static_cast<Module<double>*>(&tr.l1), static_cast<Module<double>*>(&tr.act),
                            static_cast<Module<double>*>(&tr.ln), static_cast<Module<double>*>(&tr.l2)})
    ASSERT_TRUE(tr.model.add(m).ok());
  ASSERT_TRUE(tr.model.plan(Shape::vec(5), Trainer<double>::batch, tr.plan).ok());
  ASSERT_TRUE(tr.monitor.add_extension(ext).ok());
  ASSERT_TRUE(tr.monitor.plan(tr.model, tr.plan, o).ok());
  ASSERT_TRUE(spectral.plan(tr.model, tr.plan).ok());
  ModelJacobian<double> jacobian;
  ASSERT_TRUE(jacobian.plan(tr.model, tr.plan, true).ok());
  ASSERT_TRUE(tr.sgd.add(tr.model.layers()).ok());
  ASSERT_TRUE(tr.sgd.plan(tr.plan).ok());
  tr.buf = AlignedBuffer(tr.plan.total_bytes());
  ASSERT_TRUE(tr.arena.bind(tr.plan, tr.buf.data(), tr.buf.size()).ok());
  ASSERT_TRUE(tr.model.bind(tr.arena).ok());
  ASSERT_TRUE(tr.monitor.bind(tr.arena).ok());
  ASSERT_TRUE(spectral.bind(tr.arena).ok());
  ASSERT_TRUE(jacobian.bind(tr.arena).ok());
  ASSERT_TRUE(tr.sgd.bind(tr.arena).ok());
  Rng rng(3);
  ASSERT_TRUE(tr.model.init(rng).ok());
  tr.x.resize(Trainer<double>::batch * 5);
  for (auto& v : tr.x) v = rng.normal_double();
  tr.t = {0, 1, 2, 3};
  tr.g.resize(Trainer<double>::batch * 4);
  for (std::size_t step = 0; step < 6; ++step) {
    ASSERT_TRUE(tr.train_step().ok());
    bool recorded = false;
    ASSERT_TRUE(tr.monitor.on_step(step, Trainer<double>::batch, &recorded).ok());
    if (!recorded) continue;
    const MonitorRecord* r = tr.monitor.latest();
    ASSERT_EQ(r->extension_count[0], 2u);
    EXPECT_GT(r->cost_us[kMonitorExtensionBit], 0.0);
    // The exact value at the same point: the explicit Jacobian of sample 0 and its singular values.
    std::vector<double> sigma(4);
    ASSERT_TRUE(jacobian.compute(Trainer<double>::batch, 0, jacobian.matrix()).ok());
    std::vector<double> jac(jacobian.matrix(), jacobian.matrix() + 4 * 5);
    ASSERT_TRUE(singular_values<double>(jac.data(), 4, 5, 5, sigma.data()).ok());
    EXPECT_NEAR(r->extension[0][0], sigma[0], 1e-8 * sigma[0]) << "step " << step;
  }
}
