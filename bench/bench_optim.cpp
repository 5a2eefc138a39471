// Optimizer steps on 1M and 10M float parameters (one parameter of that size, its gradient and the
// state): optim/<name>/<n>, GBps of the bytes the fused pass must move and pct_triad against the triad
// bandwidth main() measured. Each step is checked to have changed the weights, so nothing is timed
// for nothing.
#include <benchmark/benchmark.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lipflow/core/memory.hpp"
#include "lipflow/core/rng.hpp"
#include "lipflow/optim/adam.hpp"
#include "lipflow/optim/adamw.hpp"
#include "lipflow/optim/lion.hpp"
#include "lipflow/optim/sgd.hpp"
#include "probes.hpp"

namespace {

using lipflow::optim::Optimizer;
using Factory = std::function<std::unique_ptr<Optimizer<float>>()>;

// bytes_per_element: what one step must read and write per parameter (weights, gradient, state).
void step(benchmark::State& state, Factory make, std::size_t n, double bytes_per_element) {
  std::vector<float> w(n), g(n);
  lipflow::Rng rng(1);
  for (std::size_t i = 0; i < n; ++i) {
    w[i] = rng.uniform(-1.0f, 1.0f);
    g[i] = rng.uniform(-1.0f, 1.0f);
  }
  lipflow::nn::Param<float> p;
  p.name = "w";
  p.value = w.data();
  p.grad = g.data();
  p.size = n;
  p.rows = 1;
  p.cols = n;
  p.flags = lipflow::nn::kParamDecay;
  auto opt = make();
  lipflow::MemoryPlan plan;
  lipflow::Arena arena;
  if (!opt->add(p).ok() || !opt->plan(plan).ok()) {
    state.SkipWithError("optimizer setup failed");
    return;
  }
  lipflow::AlignedBuffer buf(plan.total_bytes() + 64);
  if (!arena.bind(plan, buf.data(), buf.size()).ok() || !opt->bind(arena).ok()) {
    state.SkipWithError("optimizer bind failed");
    return;
  }
  const float before = w[n / 2];
  for (auto _ : state) {
    if (!opt->step().ok()) {
      state.SkipWithError("step failed");
      break;
    }
    benchmark::ClobberMemory();
  }
  if (w[n / 2] == before) state.SkipWithError("the step changed nothing");
  lipflow_bench::report_bytes(state, bytes_per_element * 4.0 * static_cast<double>(n));
}

template <class O, class Options>
Factory make(Options o) {
  return [o]() { return std::unique_ptr<Optimizer<float>>(new O(o)); };
}

int register_all() {
  using namespace lipflow::optim;
  SgdOptions sgd;
  sgd.lr = 1e-3;
  sgd.momentum = 0.9;
  AdamOptions adam;
  struct Case {
    const char* name;
    Factory make;
    double bytes;  // per element, in floats moved
  };
  const Case cases[] = {
      {"sgd_momentum", make<Sgd<float>>(sgd), 5},  // read w, g, b; write w, b
      {"adam", make<Adam<float>>(adam), 7},        // read w, g, m, v; write w, m, v
      {"adamw", make<AdamW<float>>(AdamW<float>::defaults()), 7},
      {"lion", make<Lion<float>>(LionOptions()), 5},  // read w, g, m; write w, m
  };
  for (const Case& c : cases)
    for (std::size_t n : {std::size_t(1) << 20, std::size_t(10) << 20}) {
      const std::string name = std::string("optim/") + c.name + "/" + (n == (std::size_t(1) << 20) ? "1M" : "10M");
      benchmark::RegisterBenchmark(name.c_str(), step, c.make, n, c.bytes)->Unit(benchmark::kMicrosecond);
    }
  return 0;
}
const int registered = register_all();

}  // namespace
