// Every optimizer's step on 1M and 10M float parameters (one 1024-column weight matrix of that size,
// its gradient and the state): optim/<name>/<n>, GBps of the bytes one fused pass must move (weights,
// gradient and state read; weights and state written; LAMB and LARS need a second pass for their
// norms, Adafactor its row and column means, which are not counted) and pct_triad against the triad
// bandwidth main() measured. Each step is checked to have changed the weights, so nothing is timed
// for nothing.
#include <benchmark/benchmark.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lipflow/core/memory.hpp"
#include "lipflow/core/rng.hpp"
#include "lipflow/optim/adafactor.hpp"
#include "lipflow/optim/adagrad.hpp"
#include "lipflow/optim/adam.hpp"
#include "lipflow/optim/adamax.hpp"
#include "lipflow/optim/adamw.hpp"
#include "lipflow/optim/lamb.hpp"
#include "lipflow/optim/lars.hpp"
#include "lipflow/optim/lion.hpp"
#include "lipflow/optim/nadam.hpp"
#include "lipflow/optim/radam.hpp"
#include "lipflow/optim/rmsprop.hpp"
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
  p.cols = 1024;  // a matrix, so that Adafactor factors its second moment as it would for a weight
  p.rows = n / p.cols;
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
  SgdOptions sgd, sgd_momentum;
  sgd_momentum.momentum = 0.9;
  AdamOptions adam;
  struct Case {
    const char* name;
    Factory make;
    double bytes;  // per element, in floats moved
  };
  const Case cases[] = {
      {"sgd", make<Sgd<float>>(sgd), 3},                    // read w, g; write w
      {"sgd_momentum", make<Sgd<float>>(sgd_momentum), 5},  // read w, g, b; write w, b
      {"adam", make<Adam<float>>(adam), 7},                 // read w, g, m, v; write w, m, v
      {"adamw", make<AdamW<float>>(AdamW<float>::defaults()), 7},
      {"adamax", make<Adamax<float>>(AdamaxOptions()), 7},  // read w, g, m, u; write w, m, u
      {"nadam", make<Nadam<float>>(NadamOptions()), 7},
      {"radam", make<Radam<float>>(RadamOptions()), 7},
      {"adagrad", make<Adagrad<float>>(AdagradOptions()), 5},  // read w, g, s; write w, s
      {"rmsprop", make<Rmsprop<float>>(RmspropOptions()), 5},  // read w, g, v; write w, v
      {"lion", make<Lion<float>>(LionOptions()), 5},           // read w, g, m; write w, m
      {"lamb", make<Lamb<float>>(LambOptions()), 7},           // as Adam, plus a pass for the norms
      {"lars", make<Lars<float>>(LarsOptions()), 5},           // as momentum SGD, plus the norms
      {"adafactor", make<Adafactor<float>>(AdafactorOptions()), 3},  // read w, g; write w (factored state)
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
