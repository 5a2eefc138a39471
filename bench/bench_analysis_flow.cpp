// Gradient-flow telemetry and a Monitor tick on the lab's E2 model (inputs of width 32, eight blocks
// of Linear(64) -> ReLU -> LayerNorm(64), a Linear(10) head, batch 64, float, one thread), next to one
// training step of the same model (forward, cross-entropy, zero_grad, backward, Adam step; timed on
// its own as train_step/E2, bench_train.cpp):
//   analysis_flow/telemetry/<jacobians>       GradientFlow: gradient norms, flags, norm input std,
//                                             attention entropy, update ratios (snapshot + compare) and
//                                             the Jacobian-product norms from <jacobians> = none,
//                                             first (layer 0 only) or all (every layer) start layers
//   analysis_flow/monitor_tick                Monitor::on_step with every estimator, every = 1
// Each iteration runs a training step (so the telemetry always sees a fresh forward and backward,
// and the Jacobian products' additions to the gradients are zeroed) and times the two parts apart
// (manual time = the telemetry only); x_train_step = telemetry time / training-step time, both
// measured in the same iterations.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "lipflow/analysis/gradient_flow.hpp"
#include "lipflow/analysis/monitor.hpp"
#include "lipflow/core/memory.hpp"
#include "lipflow/core/rng.hpp"
#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/loss.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/norm.hpp"
#include "lipflow/optim/adam.hpp"

namespace {

using namespace lipflow;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kIn = 32, kWidth = 64, kBlocks = 8, kClasses = 10, kBatch = 64;

struct E2 {
  std::vector<std::unique_ptr<nn::Linear<float>>> linears;
  std::vector<std::unique_ptr<nn::Activation<float>>> relus;
  std::vector<std::unique_ptr<nn::LayerNorm<float>>> norms;
  nn::Linear<float> head{kClasses};
  nn::Model<float> model;
  optim::Adam<float> adam{optim::AdamOptions{}};
  analysis::GradientFlow<float> flow;
  analysis::Monitor<float> monitor;
  MemoryPlan plan;
  Arena arena;
  AlignedBuffer buffer;
  std::vector<float> x, grad;
  std::vector<std::int32_t> targets;
  bool ok = false;

  // with_monitor: plan a Monitor (every step, every estimator) instead of a bare GradientFlow.
  E2(const analysis::GradientFlowOptions& fo, bool with_monitor) {
    for (std::size_t b = 0; b < kBlocks; ++b) {
      linears.emplace_back(new nn::Linear<float>(kWidth));
      relus.emplace_back(new nn::Activation<float>({kernels::Activation::relu}));
      norms.emplace_back(new nn::LayerNorm<float>());
      if (!model.add(linears.back().get()).ok() || !model.add(relus.back().get()).ok() ||
          !model.add(norms.back().get()).ok())
        return;
    }
    if (!model.add(&head).ok() || !model.plan(nn::Shape::vec(kIn), kBatch, plan).ok()) return;
    if (with_monitor) {
      analysis::MonitorOptions mo;
      mo.every = 1;
      mo.capacity = 16;
      mo.flow = fo;
      if (!monitor.plan(model, plan, mo).ok()) return;
    } else if (!flow.plan(model, plan, fo).ok()) {
      return;
    }
    if (!adam.add(model.layers()).ok() || !adam.plan(plan).ok()) return;
    buffer = AlignedBuffer(plan.total_bytes());
    if (!arena.bind(plan, buffer.data(), buffer.size()).ok() || !model.bind(arena).ok() || !adam.bind(arena).ok())
      return;
    if (!(with_monitor ? monitor.bind(arena) : flow.bind(arena)).ok()) return;
    Rng rng(2);
    if (!model.init(rng).ok()) return;
    x.resize(kBatch * kIn);
    for (auto& v : x) v = static_cast<float>(rng.normal_double());
    targets.resize(kBatch);
    for (auto& t : targets) t = static_cast<std::int32_t>(rng.below(kClasses));
    grad.resize(kBatch * kClasses);
    ok = true;
  }

  Status train_step() {
    const float* y = nullptr;
    float loss = 0;
    LIPFLOW_TRY(model.forward(x.data(), kBatch, &y));
    LIPFLOW_TRY(nn::cross_entropy_loss<float>(kBatch, kClasses, y, targets.data(), &loss, grad.data()));
    LIPFLOW_TRY(model.zero_grad());
    LIPFLOW_TRY(model.backward(grad.data(), kBatch));
    return adam.step();
  }

  // Everything GradientFlow measures, in the order a training loop would call it around its step
  // (the snapshot is taken here just before the comparison: its cost is what is timed).
  Status telemetry(analysis::GradientFlowReport* r, bool jacobians) {
    LIPFLOW_TRY(flow.gradient_norms(kBatch, r));
    LIPFLOW_TRY(flow.flag_gradients(r));
    LIPFLOW_TRY(flow.norm_input_std(kBatch, r));
    LIPFLOW_TRY(flow.attention_entropy(r));
    LIPFLOW_TRY(flow.before_step());
    LIPFLOW_TRY(flow.after_step(r));
    if (jacobians) LIPFLOW_TRY(flow.jacobian_products(kBatch, r));
    return Status::success();
  }
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void finish(benchmark::State& state, double train_s, double telemetry_s) {
  const double n = static_cast<double>(state.iterations());
  state.counters["x_train_step"] = train_s > 0 ? telemetry_s / train_s : 0.0;
  state.counters["train_step_us"] = n > 0 ? 1e6 * train_s / n : 0.0;
}

// range(0): 0 no Jacobian products, 1 from layer 0 only, 2 from every layer.
void BM_telemetry(benchmark::State& state) {
  analysis::GradientFlowOptions fo;
  fo.jacobian_layers = state.range(0) == 2 ? 0xFFFFFFFFu : (state.range(0) == 1 ? 1u : 0u);
  E2 e(fo, false);
  if (!e.ok) {
    state.SkipWithError("E2 setup failed");
    return;
  }
  std::unique_ptr<analysis::GradientFlowReport> report(new analysis::GradientFlowReport());
  double train_s = 0, tele_s = 0;
  for (auto _ : state) {
    Clock::time_point t0 = Clock::now();
    if (!e.train_step().ok()) {
      state.SkipWithError("training step failed");
      break;
    }
    train_s += seconds_since(t0);
    t0 = Clock::now();
    if (!e.telemetry(report.get(), state.range(0) != 0).ok()) {
      state.SkipWithError("telemetry failed");
      break;
    }
    const double s = seconds_since(t0);
    tele_s += s;
    state.SetIterationTime(s);
  }
  finish(state, train_s, tele_s);
  if (state.range(0) != 0) state.counters["power_iters_layer0"] = report->layer[0].jacobian_iterations;
}

void BM_monitor_tick(benchmark::State& state) {
  E2 e(analysis::GradientFlowOptions(), true);
  if (!e.ok) {
    state.SkipWithError("E2 setup failed");
    return;
  }
  double train_s = 0, tele_s = 0;
  std::size_t step = 0;
  for (auto _ : state) {
    Clock::time_point t0 = Clock::now();
    if (!e.train_step().ok()) {
      state.SkipWithError("training step failed");
      break;
    }
    train_s += seconds_since(t0);
    t0 = Clock::now();
    if (!e.monitor.on_step(step++, kBatch).ok()) {
      state.SkipWithError("monitor tick failed");
      break;
    }
    const double s = seconds_since(t0);
    tele_s += s;
    state.SetIterationTime(s);
  }
  finish(state, train_s, tele_s);
}

}  // namespace

BENCHMARK(BM_telemetry)
    ->Name("analysis_flow/telemetry/E2")
    ->ArgName("jacobians")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_monitor_tick)->Name("analysis_flow/monitor_tick/E2")->UseManualTime()->Unit(benchmark::kMicrosecond);
