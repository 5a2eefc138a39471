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
#include "lipflow/nn/attention.hpp"
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

// A Pre-LN block that owns its parts (TransformerBlock does not).
struct PreLnBlock final : lipflow::nn::Module<float> {
  lipflow::nn::LayerNorm<float> n1, n2;
  lipflow::nn::SelfAttention<float> attn;
  lipflow::nn::FeedForward<float> ffn;
  lipflow::nn::TransformerBlock<float> block;
  static lipflow::nn::AttentionOptions options() {
    lipflow::nn::AttentionOptions o;
    o.heads = 2;
    o.causal = true;
    return o;
  }
  explicit PreLnBlock(std::size_t width)
      : attn(options()),
        ffn(2 * width, {lipflow::kernels::Activation::relu}),
        block(&n1, &attn, &n2, &ffn, lipflow::nn::Placement::pre_ln) {}
  const char* kind() const noexcept override { return "pre_ln_block"; }
  lipflow::Status plan(const Shape& in, std::size_t b, lipflow::MemoryPlan& p, Shape* out) noexcept override {
    return block.plan(in, b, p, out);
  }
  lipflow::Status bind(const lipflow::Arena& a) noexcept override { return block.bind(a); }
  lipflow::Status init(lipflow::Rng& r) noexcept override { return block.init(r); }
  lipflow::Status forward(const float* x, std::size_t b, float* y) noexcept override { return block.forward(x, b, y); }
  lipflow::Status backward(const float* x, const float* y, const float* dy, std::size_t b, float* dx) noexcept override {
    return block.backward(x, y, dy, b, dx);
  }
  lipflow::Status jvp(const float* x, const float* dx, std::size_t b, float* dy) noexcept override {
    return block.jvp(x, dx, b, dy);
  }
  lipflow::nn::Lipschitz lipschitz() noexcept override { return block.lipschitz(); }
};

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
  // Self-attention, 2 heads, each variant: 4 projections (8 N D^2; 3 for L2 attention, whose W_Q = W_K
  // is one projection) and scores plus mixing (4 N^2 D) flops per sample; forward+backward is counted
  // as 3 forwards (the GEMMs of dX and dW), an approximation for the element-wise parts.
  using lipflow::nn::AttentionOptions;
  using lipflow::nn::AttentionVariant;
  using lipflow::nn::SelfAttention;
  struct Tok {
    std::size_t batch, tokens, width;
  };
  for (const Tok& t : {Tok{32, 16, 64}, Tok{32, 64, 128}}) {
    const double n = double(t.tokens), d = double(t.width);
    const double flops = t.batch * (8 * n * d * d + 4 * n * n * d);
    for (AttentionVariant v : {AttentionVariant::dot_product, AttentionVariant::cosine, AttentionVariant::l2_distance}) {
      const double f = v == AttentionVariant::l2_distance ? flops - t.batch * 2 * n * d * d : flops;
      AttentionOptions o;
      o.heads = 2;
      o.variant = v;
      o.causal = true;
      add(std::string("attention_") + lipflow::nn::attention_variant_name(v), maker<SelfAttention<float>>(o),
          Shape::tokens(t.tokens, t.width), t.batch, Counter::flops, f, 3.0);
    }
    // A Pre-LN transformer block: LayerNorm, dot-product attention, LayerNorm, FFN D -> 2D -> D.
    add("transformer_block_pre_ln", [t]() { return std::unique_ptr<Module<float>>(new PreLnBlock(t.width)); },
        Shape::tokens(t.tokens, t.width), t.batch, Counter::flops, flops + t.batch * 8 * n * d * d, 3.0);
  }
  return 0;
}
const int registered = register_all();

}  // namespace
