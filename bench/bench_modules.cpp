// Modules at the lab's sizes (widths 32 to 256, 8 to 64 tokens, batch 32 to 64), float, one thread:
// module/<name>/<pass>/<shape>, with <pass> forward or forward_backward. Dense modules report GFLOPS
// (and pct_peak), the memory-bound normalizations GBps (bytes of x read and y written, and for the
// backward pass dy read and dx written too). A module whose forward or backward fails skips with an
// error, so a benchmark never times nothing.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lipflow/core/memory.hpp"
#include "lipflow/core/rng.hpp"
#include "lipflow/nn/blocks.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/norm.hpp"
#include "probes.hpp"

namespace {

using lipflow::nn::Module;
using lipflow::nn::Shape;

// A module planned and bound on its own buffer with random inputs and output gradients.
struct Fixture {
  lipflow::MemoryPlan plan;
  lipflow::Arena arena;
  lipflow::AlignedBuffer buffer;
  Shape out;
  std::vector<float> x, y, dy, dx;
  bool ok = false;

  Fixture(Module<float>& m, const Shape& in, std::size_t batch) {
    if (!m.plan(in, batch, plan, &out).ok()) return;
    buffer = lipflow::AlignedBuffer(plan.total_bytes());
    if (!arena.bind(plan, buffer.data(), buffer.size()).ok() || !m.bind(arena).ok()) return;
    lipflow::Rng rng(42);
    if (!m.init(rng).ok()) return;
    x.resize(batch * in.size());
    dx.resize(x.size());
    y.resize(batch * out.size());
    dy.resize(y.size());
    for (auto& v : x) v = static_cast<float>(rng.normal_double());
    for (auto& v : dy) v = static_cast<float>(rng.normal_double());
    ok = true;
  }
};

enum class Counter { flops, bytes };

// work: flops (or bytes) of one forward; a forward+backward counts `backward_factor` times that.
void run(benchmark::State& state, std::function<std::unique_ptr<Module<float>>()> make, Shape in, std::size_t batch,
         bool backward, Counter counter, double work, double backward_factor) {
  auto m = make();
  Fixture f(*m, in, batch);
  if (!f.ok) {
    state.SkipWithError("setup failed");
    return;
  }
  for (auto _ : state) {
    bool good = m->forward(f.x.data(), batch, f.y.data()).ok();
    if (backward) good = good && m->backward(f.x.data(), f.y.data(), f.dy.data(), batch, f.dx.data()).ok();
    if (!good) {
      state.SkipWithError("forward or backward failed");
      break;
    }
    benchmark::ClobberMemory();
  }
  const double total = backward ? work * backward_factor : work;
  if (counter == Counter::flops)
    lipflow_bench::report_flops(state, total);
  else
    lipflow_bench::report_bytes(state, total);
}

template <class M, class... Args>
std::function<std::unique_ptr<Module<float>>()> maker(Args... args) {
  return [=]() { return std::unique_ptr<Module<float>>(new M(args...)); };
}

std::string shape_name(std::size_t batch, const Shape& in) {
  char buf[64];
  if (in.rank == 1)
    std::snprintf(buf, sizeof buf, "b%zu_%zu", batch, in.dims[0]);
  else
    std::snprintf(buf, sizeof buf, "b%zu_%zux%zu", batch, in.dims[0], in.dims[1]);
  return buf;
}

void add(const std::string& name, std::function<std::unique_ptr<Module<float>>()> make, Shape in, std::size_t batch,
         Counter counter, double work, double backward_factor) {
  const std::string suffix = shape_name(batch, in);
  benchmark::RegisterBenchmark(("module/" + name + "/forward/" + suffix).c_str(), run, make, in, batch, false,
                               counter, work, backward_factor);
  benchmark::RegisterBenchmark(("module/" + name + "/forward_backward/" + suffix).c_str(), run, make, in, batch, true,
                               counter, work, backward_factor);
}

int register_all() {
  using lipflow::nn::FeedForward;
  using lipflow::nn::LayerNorm;
  using lipflow::nn::Linear;
  using lipflow::nn::RMSNorm;
  const lipflow::kernels::ActivationSpec relu{lipflow::kernels::Activation::relu};
  // Linear: 2 rows in out flops forward; backward adds dx and dW (two more GEMMs of the same size).
  struct Dense {
    std::size_t batch, tokens, in, out;
  };
  for (const Dense& d : {Dense{64, 1, 32, 64}, Dense{64, 1, 256, 256}, Dense{32, 16, 64, 64}, Dense{32, 64, 128, 128}}) {
    const Shape in = d.tokens == 1 ? Shape::vec(d.in) : Shape::tokens(d.tokens, d.in);
    const double flops = 2.0 * d.batch * d.tokens * d.in * d.out;
    add("linear", maker<Linear<float>>(d.out), in, d.batch, Counter::flops, flops, 3.0);
  }
  // Feed-forward D -> 2D -> D with ReLU (the transformer's FFN).
  for (const Dense& d : {Dense{32, 16, 32, 64}, Dense{32, 64, 128, 256}}) {
    const Shape in = Shape::tokens(d.tokens, d.in);
    const double flops = 2.0 * 2.0 * d.batch * d.tokens * d.in * d.out;
    add("feed_forward", maker<FeedForward<float>>(d.out, relu), in, d.batch, Counter::flops, flops, 3.0);
  }
  // Normalizations: bytes of x in and y out (forward); dy in and dx out on top (backward).
  for (const Dense& d : {Dense{64, 1, 64, 64}, Dense{32, 16, 64, 64}, Dense{32, 64, 256, 256}}) {
    const Shape in = d.tokens == 1 ? Shape::vec(d.in) : Shape::tokens(d.tokens, d.in);
    const double bytes = 2.0 * 4.0 * d.batch * d.tokens * d.in;
    add("layer_norm", maker<LayerNorm<float>>(1e-5, true), in, d.batch, Counter::bytes, bytes, 2.0);
    add("rms_norm", maker<RMSNorm<float>>(1e-5, true), in, d.batch, Counter::bytes, bytes, 2.0);
  }
  return 0;
}
const int registered = register_all();

}  // namespace
