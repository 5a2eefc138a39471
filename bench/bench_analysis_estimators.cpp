// The analysis estimators on the lab's E2 model (PAPER.md 12.5: inputs of width 32, eight blocks of
// Linear(64) -> ReLU -> LayerNorm(64), a Linear(10) head), float, one thread, next to one training step
// of the same model (forward + cross-entropy + backward + Adam, batch 64; timed on its own as
// train_step/E2, bench_train.cpp), so that the price of each instrument is read in training steps:
//   analysis/e2/explicit_jacobian/<batch>        ModelJacobian of one sample (10 backward passes, the
//                                                head being narrower than the input) at a forward of
//                                                <batch> samples: each pass runs the whole batch
//   analysis/e2/jacobian_spectral_norm           the same at batch 1, then the exact spectral norm of
//                                                the 10 x 32 Jacobian (one-sided Jacobi SVD)
//   analysis/e2/power_iteration_cold|warm        ModelSpectralNorm of one sample (batch-1 forward),
//                                                tolerance 1e-4; cold forgets the vector each call,
//                                                warm keeps it (the tracking case)
//   analysis/e2/power_iteration_20               up to 20 iterations (tolerance 0: it stops early only
//                                                when sigma repeats exactly), cold; the counter
//                                                us_per_iteration (one J v and one J^T u) is what
//                                                compares with other libraries
//   analysis/e2/lower_bound_search               LowerBoundSearch over 16 inputs + 8 ascent steps
//   analysis/e2/upper_bound                      Model::lipschitz: the composed upper bound, global and
//                                                local at a batch-64 forward, with every layer's factor
//   analysis/svd/jacobi|gram/<n>                 the singular values of a random n x n float matrix by
//                                                one-sided Jacobi (on a copy) and by the Gram method;
//                                                384 is a transformer block of the lab's E5 model
//                                                (the lab uses Jacobi up to 256 x 256, Gram above)
// Counters: train_step_us (measured in the same benchmark function, before its timed loop) and
// x_train_step = estimator time / training-step time. The timed loops include the forward that sets
// the point the estimator acts at.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "lipflow/analysis/jacobian.hpp"
#include "lipflow/analysis/lipschitz.hpp"
#include "lipflow/analysis/spectral.hpp"
#include "lipflow/analysis/svd.hpp"
#include "lipflow/core/memory.hpp"
#include "lipflow/core/rng.hpp"
#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/loss.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/norm.hpp"
#include "lipflow/optim/adam.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct E2 {
  static constexpr std::size_t kIn = 32, kWidth = 64, kBlocks = 8, kClasses = 10, kBatch = 64;
  std::vector<std::unique_ptr<lipflow::nn::Module<float>>> layers;
  lipflow::nn::Model<float> model;
  lipflow::optim::Adam<float> adam;
  lipflow::analysis::ModelJacobian<float> jacobian;
  lipflow::analysis::ModelSpectralNorm<float> power;
  lipflow::analysis::LowerBoundSearch<float> search;
  lipflow::MemoryPlan plan;
  lipflow::Arena arena;
  lipflow::AlignedBuffer buffer;
  std::vector<float> x, dlogits;
  std::vector<std::int32_t> targets;
  bool ok = false;

  E2() {
    using namespace lipflow::nn;
    for (std::size_t b = 0; b < kBlocks; ++b) {
      layers.emplace_back(new Linear<float>(kWidth));
      layers.emplace_back(new Activation<float>({lipflow::kernels::Activation::relu}));
      layers.emplace_back(new LayerNorm<float>());
    }
    layers.emplace_back(new Linear<float>(kClasses));
    for (auto& l : layers)
      if (!model.add(l.get()).ok()) return;
    if (!model.plan(Shape::vec(kIn), kBatch, plan).ok() || !adam.add(model.layers()).ok() || !adam.plan(plan).ok() ||
        !jacobian.plan(model, plan, true).ok() || !power.plan(model, plan).ok() || !search.plan(model, plan).ok())
      return;
    buffer = lipflow::AlignedBuffer(plan.total_bytes());
    if (!arena.bind(plan, buffer.data(), buffer.size()).ok() || !model.bind(arena).ok() || !adam.bind(arena).ok() ||
        !jacobian.bind(arena).ok() || !power.bind(arena).ok() || !search.bind(arena).ok())
      return;
    lipflow::Rng rng(2306);
    if (!model.init(rng).ok()) return;
    x.resize(kBatch * kIn);
    for (auto& v : x) v = static_cast<float>(rng.normal_double());
    targets.resize(kBatch);
    for (std::size_t i = 0; i < kBatch; ++i) targets[i] = static_cast<std::int32_t>(i % kClasses);
    dlogits.resize(kBatch * kClasses);
    ok = true;
  }

  lipflow::Status train_step() {
    const float* logits = nullptr;
    LIPFLOW_TRY(model.forward(x.data(), kBatch, &logits));
    float loss = 0;
    LIPFLOW_TRY(lipflow::nn::cross_entropy_loss<float>(kBatch, kClasses, logits, targets.data(), &loss, dlogits.data()));
    LIPFLOW_TRY(model.zero_grad());
    LIPFLOW_TRY(model.backward(dlogits.data(), kBatch));
    return adam.step();
  }

  // Mean seconds of one training step over a few, measured now.
  double train_step_seconds() {
    for (int i = 0; i < 3; ++i)
      if (!train_step().ok()) return -1;
    const int n = 30;
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i)
      if (!train_step().ok()) return -1;
    return std::chrono::duration<double>(Clock::now() - t0).count() / n;
  }
};

E2& e2() {
  static E2 m;
  return m;
}

// Runs body in the timed loop and reports its time against a training step measured just before.
template <class Body>
void run_against_train_step(benchmark::State& state, Body&& body) {
  E2& m = e2();
  if (!m.ok) {
    state.SkipWithError("E2 model setup failed");
    return;
  }
  const double train = m.train_step_seconds();
  if (!(train > 0)) {
    state.SkipWithError("training step failed");
    return;
  }
  const auto t0 = Clock::now();
  for (auto _ : state) {
    if (!body(m).ok()) {
      state.SkipWithError("estimator failed");
      return;
    }
    benchmark::ClobberMemory();
  }
  const double per = std::chrono::duration<double>(Clock::now() - t0).count() / static_cast<double>(state.iterations());
  state.counters["train_step_us"] = train * 1e6;
  state.counters["x_train_step"] = per / train;
}

void BM_ExplicitJacobian(benchmark::State& state) {
  const std::size_t batch = static_cast<std::size_t>(state.range(0));
  run_against_train_step(state, [batch](E2& m) -> lipflow::Status {
    const float* y = nullptr;
    LIPFLOW_TRY(m.model.forward(m.x.data(), batch, &y));
    return m.jacobian.compute(batch, 0, m.jacobian.matrix());
  });
}

void BM_JacobianSpectralNorm(benchmark::State& state) {
  std::vector<float> copy(E2::kClasses * E2::kIn), sigma(E2::kClasses);
  double norm = 0;
  run_against_train_step(state, [&](E2& m) -> lipflow::Status {
    const float* y = nullptr;
    LIPFLOW_TRY(m.model.forward(m.x.data(), 1, &y));
    LIPFLOW_TRY(m.jacobian.compute(1, 0, m.jacobian.matrix()));
    // singular_values() works in place: it gets a copy, as the matrix is the estimator's output.
    std::copy(m.jacobian.matrix(), m.jacobian.matrix() + copy.size(), copy.begin());
    LIPFLOW_TRY(lipflow::analysis::singular_values<float>(copy.data(), E2::kClasses, E2::kIn, E2::kIn, sigma.data()));
    norm = sigma[0];
    return lipflow::Status::success();
  });
  state.counters["spectral_norm"] = norm;
}

// mode: 0 cold with tolerance 1e-4, 1 warm, 2 cold with up to 20 iterations at tolerance 0.
void BM_PowerIteration(benchmark::State& state, int mode) {
  const bool warm = mode == 1;
  const lipflow::analysis::PowerOptions options =
      mode == 2 ? lipflow::analysis::PowerOptions{20, 0.0} : lipflow::analysis::PowerOptions{500, 1e-4};
  int iterations = 0;
  std::int64_t calls = 0;
  run_against_train_step(state, [warm, options, &iterations, &calls](E2& m) -> lipflow::Status {
    const float* y = nullptr;
    LIPFLOW_TRY(m.model.forward(m.x.data(), 1, &y));
    if (!warm) m.power.reset();
    lipflow::analysis::SpectralReport r;
    LIPFLOW_TRY(m.power.estimate(1, 0, options, &r));
    iterations += r.iterations;
    ++calls;
    return lipflow::Status::success();
  });
  if (calls > 0 && iterations > 0) {
    state.counters["power_iterations"] = static_cast<double>(iterations) / static_cast<double>(calls);
    state.counters["us_per_iteration"] =
        benchmark::Counter(1e-6 * static_cast<double>(iterations), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  }
}

void BM_LowerBoundSearch(benchmark::State& state) {
  lipflow::analysis::LowerBoundOptions opt;
  opt.power = {200, 1e-4};
  opt.radius = 0.5;
  opt.steps = 8;
  run_against_train_step(state, [&opt](E2& m) -> lipflow::Status {
    lipflow::analysis::LowerBoundReport r;
    return m.search.run(m.x.data(), 16, opt, &r);
  });
}

void BM_UpperBound(benchmark::State& state) {
  lipflow::nn::Lipschitz per_layer[3 * E2::kBlocks + 1];
  double bound = 0;
  run_against_train_step(state, [&](E2& m) -> lipflow::Status {
    const float* y = nullptr;
    LIPFLOW_TRY(m.model.forward(m.x.data(), E2::kBatch, &y));
    const lipflow::nn::Lipschitz l = m.model.lipschitz(per_layer, sizeof per_layer / sizeof per_layer[0]);
    bound = l.local;
    return std::isfinite(l.local) ? lipflow::Status() : lipflow::Status(lipflow::Code::invalid_argument, "local bound");
  });
  state.counters["local_bound"] = bound;
}

// The singular values of a random n x n matrix: Jacobi on a fresh copy each time (it works in place)
// or the Gram method (reads the matrix; its workspace made once, outside the timed loop).
void BM_SingularValues(benchmark::State& state, bool gram) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  lipflow::Rng rng(5);
  std::vector<float> a(n * n), copy(n * n), sigma(n);
  for (float& v : a) v = static_cast<float>(rng.normal_double());
  std::vector<double> work(lipflow::analysis::singular_values_gram_workspace(n, n));
  for (auto _ : state) {
    lipflow::Status st;
    if (gram) {
      st = lipflow::analysis::singular_values_gram<float>(a.data(), n, n, n, work.data(), work.size(), sigma.data());
    } else {
      copy = a;
      st = lipflow::analysis::singular_values<float>(copy.data(), n, n, n, sigma.data());
    }
    if (!st.ok()) state.SkipWithError(st.where());
    benchmark::DoNotOptimize(sigma.data());
  }
  state.counters["sigma_max"] = sigma[0];
}

}  // namespace

BENCHMARK(BM_ExplicitJacobian)->Name("analysis/e2/explicit_jacobian")->Arg(1)->Arg(64)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_PowerIteration, cold, 0)->Name("analysis/e2/power_iteration_cold")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_PowerIteration, warm, 1)->Name("analysis/e2/power_iteration_warm")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_PowerIteration, fixed, 2)->Name("analysis/e2/power_iteration_20")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JacobianSpectralNorm)->Name("analysis/e2/jacobian_spectral_norm")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LowerBoundSearch)->Name("analysis/e2/lower_bound_search")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_UpperBound)->Name("analysis/e2/upper_bound")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SingularValues, jacobi, false)->Name("analysis/svd/jacobi")->Arg(256)->Arg(384)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SingularValues, gram, true)->Name("analysis/svd/gram")->Arg(256)->Arg(384)->Unit(benchmark::kMillisecond);
