// Full training steps of the lab's two reference models, built by lab::mlp_config and
// lab::transformer_config with their defaults (so the same networks as the lab, the CLI and the
// browser lab), float, one thread:
//   train_step/E2  inputs of width 32, eight blocks of Linear(64) -> ReLU -> LayerNorm(64), a
//                  Linear(10) head, softmax cross-entropy, batch 64, Adam
//   train_step/E5  token embedding (vocabulary 10) with learned positions, four Pre-LN transformer
//                  blocks (width 32, 2 heads, FFN 64 with ReLU), a Linear(10) head, token-wise
//                  cross-entropy, 12 tokens, batch 32, Adam
// One step = forward, cross-entropy (+ dL/dlogits), zero_grad, backward, optimizer step, on a fixed
// random batch. Counters: GFLOPS of the step's matrix products (forward + backward = 3 x the forward's
// 2 m n k per product; element-wise work is not counted) with pct_peak, and loss_drop (the first
// step's loss minus the last one's: the steps do train).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "lipflow/core/rng.hpp"
#include "lipflow/lab/builder.hpp"
#include "lipflow/lab/models.hpp"
#include "lipflow/nn/loss.hpp"
#include "probes.hpp"

namespace {

using namespace lipflow;

// A built experiment with one fixed batch of inputs and class targets (`rows` target rows per sample).
struct Step {
  std::unique_ptr<lab::Experiment> experiment;
  std::vector<float> x, dlogits;
  std::vector<std::int32_t> targets;
  std::size_t batch = 0, rows = 0, classes = 0;

  // One training step; *loss receives the batch loss before the update.
  Status run(float* loss) {
    nn::Model<float>& model = experiment->model();
    const float* logits = nullptr;
    LIPFLOW_TRY(model.forward(x.data(), batch, &logits));
    LIPFLOW_TRY(nn::cross_entropy_loss<float>(batch * rows, classes, logits, targets.data(), loss, dlogits.data()));
    LIPFLOW_TRY(model.zero_grad());
    LIPFLOW_TRY(model.backward(dlogits.data(), batch));
    return experiment->optimizer().step();
  }
};

// Builds the config's model and optimizer; inputs are N(0, 1) features, or token ids below `vocabulary`
// when it is > 0 (then the targets are the ids sorted, the lab's default token task).
bool build(const lab::ExperimentConfig& config, std::size_t batch, std::size_t rows, std::size_t classes,
           std::size_t vocabulary, Step* s) {
  if (!lab::Experiment::build(config, &s->experiment).ok()) return false;
  const std::size_t in = config.model.input_shape().size();
  s->batch = batch;
  s->rows = rows;
  s->classes = classes;
  s->x.resize(batch * in);
  s->targets.resize(batch * rows);
  s->dlogits.resize(batch * rows * classes);
  Rng rng(8);
  if (vocabulary == 0) {
    for (auto& v : s->x) v = static_cast<float>(rng.normal_double());
    for (auto& t : s->targets) t = static_cast<std::int32_t>(rng.below(static_cast<std::uint32_t>(classes)));
  } else {
    for (std::size_t b = 0; b < batch; ++b) {
      std::vector<std::int32_t> counts(vocabulary, 0);
      for (std::size_t i = 0; i < in; ++i) {
        const std::uint32_t id = rng.below(static_cast<std::uint32_t>(vocabulary));
        s->x[b * in + i] = static_cast<float>(id);
        ++counts[id];
      }
      std::size_t k = 0;  // the sorted ids, by counting
      for (std::size_t id = 0; id < vocabulary; ++id)
        for (std::int32_t c = 0; c < counts[id]; ++c) s->targets[b * rows + k++] = static_cast<std::int32_t>(id);
    }
  }
  return true;
}

void time_steps(benchmark::State& state, Step& s, double flops) {
  float first = 0, last = 0;
  bool have_first = false;
  for (auto _ : state) {
    if (!s.run(&last).ok()) {
      state.SkipWithError("training step failed");
      return;
    }
    if (!have_first) first = last, have_first = true;
    benchmark::ClobberMemory();
  }
  lipflow_bench::report_flops(state, flops);
  state.counters["loss_drop"] = static_cast<double>(first - last);
}

void BM_E2(benchmark::State& state) {
  lab::MlpSpec spec;  // the defaults are E2
  lab::ExperimentConfig config;
  Step s;
  if (!lab::mlp_config(spec, &config).ok() ||
      !build(config, spec.batch, 1, spec.classes, 0, &s)) {
    state.SkipWithError("E2 setup failed");
    return;
  }
  // Products: input -> width, (depth - 1) x width -> width, width -> classes, per sample.
  const double per_sample = 2.0 * (double(spec.input) * double(spec.width) +
                                   double(spec.depth - 1) * double(spec.width) * double(spec.width) +
                                   double(spec.width) * double(spec.classes));
  time_steps(state, s, 3.0 * per_sample * double(spec.batch));
}

void BM_E5(benchmark::State& state) {
  lab::TransformerSpec spec;  // the defaults are E5
  lab::ExperimentConfig config;
  Step s;
  if (!lab::transformer_config(spec, &config).ok() ||
      !build(config, spec.batch, spec.tokens, spec.vocabulary, spec.vocabulary, &s)) {
    state.SkipWithError("E5 setup failed");
    return;
  }
  // Per sample and block: Q, K, V, O projections (4 N D^2 multiply-adds), scores and mixing
  // (2 N^2 D), the FFN (2 N D H); then the head (N D V).
  const double n = double(spec.tokens), d = double(spec.width), h = double(spec.hidden);
  const double per_sample =
      2.0 * (double(spec.layers) * (4 * n * d * d + 2 * n * n * d + 2 * n * d * h) + n * d * double(spec.vocabulary));
  time_steps(state, s, 3.0 * per_sample * double(spec.batch));
}

}  // namespace

// Timed as the PyTorch peer times the same steps (bench/peers/torch_bench.py): 11 blocks of at least
// 60 ms, of which bench/run.sh keeps the fastest (on a shared machine interference only adds time).
// These override the command line's repetitions and minimum time.
BENCHMARK(BM_E2)->Name("train_step/E2")->Unit(benchmark::kMicrosecond)->Repetitions(11)->MinTime(0.06);
BENCHMARK(BM_E5)->Name("train_step/E5")->Unit(benchmark::kMicrosecond)->Repetitions(11)->MinTime(0.06);
