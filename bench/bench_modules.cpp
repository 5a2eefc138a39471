// Every module at the lab's sizes (widths 32 to 256, 8 to 64 tokens, batch 32 to 64), float, one
// thread: module/<name>/<pass>/<shape>, with <pass> forward or forward_backward. Dense modules
// (linear, feed-forward, attention, residual branches, transformer blocks) report GFLOPS (and
// pct_peak), the memory-bound ones (normalizations, activations, softmax, embedding) GBps (bytes of x
// read and y written, and for the backward pass dy read and dx written too). Conv2d is in
// bench_conv2d.cpp. A module whose forward or backward fails skips with an error, so a benchmark never
// times nothing.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lipflow/core/memory.hpp"
#include "lipflow/core/rng.hpp"
#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/attention.hpp"
#include "lipflow/nn/blocks.hpp"
#include "lipflow/nn/embedding.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/norm.hpp"
#include "lipflow/nn/residual.hpp"
#include "lipflow/nn/sequential.hpp"
#include "probes.hpp"

namespace {

using lipflow::nn::Module;
using lipflow::nn::Shape;

// A module planned and bound on its own buffer with random inputs (N(0, 1), or token ids below
// `vocabulary` when it is > 0) and output gradients.
struct Fixture {
  lipflow::MemoryPlan plan;
  lipflow::Arena arena;
  lipflow::AlignedBuffer buffer;
  Shape out;
  std::vector<float> x, y, dy, dx;
  bool ok = false;

  Fixture(Module<float>& m, const Shape& in, std::size_t batch, std::size_t vocabulary) {
    if (!m.plan(in, batch, plan, &out).ok()) return;
    buffer = lipflow::AlignedBuffer(plan.total_bytes() + 64);  // never empty: an activation plans nothing
    if (!arena.bind(plan, buffer.data(), buffer.size()).ok() || !m.bind(arena).ok()) return;
    lipflow::Rng rng(42);
    if (!m.init(rng).ok()) return;
    x.resize(batch * in.size());
    dx.resize(x.size());
    y.resize(batch * out.size());
    dy.resize(y.size());
    for (auto& v : x)
      v = vocabulary > 0 ? static_cast<float>(rng.below(static_cast<std::uint32_t>(vocabulary)))
                         : static_cast<float>(rng.normal_double());
    for (auto& v : dy) v = static_cast<float>(rng.normal_double());
    ok = true;
  }
};

enum class Counter { flops, bytes };

// A module made of parts it owns (TransformerBlock and Residual do not own theirs): every call goes
// to `whole`, which the derived class points at its composite.
struct Composite : lipflow::nn::Module<float> {
  lipflow::nn::Module<float>* whole = nullptr;
  const char* kind() const noexcept override { return whole->kind(); }
  lipflow::Status plan(const Shape& in, std::size_t b, lipflow::MemoryPlan& p, Shape* out) noexcept override {
    return whole->plan(in, b, p, out);
  }
  lipflow::Status bind(const lipflow::Arena& a) noexcept override { return whole->bind(a); }
  lipflow::Status init(lipflow::Rng& r) noexcept override { return whole->init(r); }
  lipflow::Status forward(const float* x, std::size_t b, float* y) noexcept override { return whole->forward(x, b, y); }
  lipflow::Status backward(const float* x, const float* y, const float* dy, std::size_t b, float* dx) noexcept override {
    return whole->backward(x, y, dy, b, dx);
  }
  lipflow::Status jvp(const float* x, const float* dx, std::size_t b, float* dy) noexcept override {
    return whole->jvp(x, dx, b, dy);
  }
  lipflow::nn::Lipschitz lipschitz() noexcept override { return whole->lipschitz(); }
};

// A Pre-LN block: LayerNorm, 2-head causal dot-product attention, LayerNorm, FFN D -> 2D -> D (ReLU).
struct PreLnBlock final : Composite {
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
        block(&n1, &attn, &n2, &ffn, lipflow::nn::Placement::pre_ln) {
    whole = &block;
  }
};

// x + alpha f(x) with the branch f = Linear(D) -> ReLU, for each residual form.
struct ResidualMlp final : Composite {
  lipflow::nn::Linear<float> linear;
  lipflow::nn::Activation<float> relu{{lipflow::kernels::Activation::relu}};
  lipflow::nn::Sequential<float> branch;
  lipflow::nn::Residual<float> residual;
  bool built;
  ResidualMlp(std::size_t width, lipflow::nn::ResidualKind kind)
      : linear(width), residual(&branch, kind, kind == lipflow::nn::ResidualKind::layerscale ? 0.1 : 1.0) {
    built = branch.add(&linear).ok() && branch.add(&relu).ok();
    whole = &residual;
  }
  lipflow::Status plan(const Shape& in, std::size_t b, lipflow::MemoryPlan& p, Shape* out) noexcept override {
    if (!built) return lipflow::Status(lipflow::Code::invalid_argument, "residual branch not built");
    return Composite::plan(in, b, p, out);
  }
};

// work: flops (or bytes) of one forward; a forward+backward counts `backward_factor` times that.
// vocabulary > 0: the inputs are token ids below it.
void run(benchmark::State& state, std::function<std::unique_ptr<Module<float>>()> make, Shape in, std::size_t batch,
         bool backward, Counter counter, double work, double backward_factor, std::size_t vocabulary) {
  auto m = make();
  Fixture f(*m, in, batch, vocabulary);
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
  else if (in.rank == 2)
    std::snprintf(buf, sizeof buf, "b%zu_%zux%zu", batch, in.dims[0], in.dims[1]);
  else
    std::snprintf(buf, sizeof buf, "b%zu_%zux%zux%zu", batch, in.dims[0], in.dims[1], in.dims[2]);
  return buf;
}

void add(const std::string& name, std::function<std::unique_ptr<Module<float>>()> make, Shape in, std::size_t batch,
         Counter counter, double work, double backward_factor, std::size_t vocabulary = 0) {
  const std::string suffix = shape_name(batch, in);
  benchmark::RegisterBenchmark(("module/" + name + "/forward/" + suffix).c_str(), run, make, in, batch, false,
                               counter, work, backward_factor, vocabulary);
  benchmark::RegisterBenchmark(("module/" + name + "/forward_backward/" + suffix).c_str(), run, make, in, batch, true,
                               counter, work, backward_factor, vocabulary);
}

int register_all() {
  using lipflow::nn::Activation;
  using lipflow::nn::BatchNorm;
  using lipflow::nn::CenterNorm;
  using lipflow::nn::Embedding;
  using lipflow::nn::FeedForward;
  using lipflow::nn::GroupNorm;
  using lipflow::nn::LayerNorm;
  using lipflow::nn::Softmax;
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
    add("center_norm", maker<CenterNorm<float>>(true), in, d.batch, Counter::bytes, bytes, 2.0);
  }
  // Batch, group (8 groups) and instance norms on features and on 16-channel 16 x 16 images.
  for (const Shape& in : {Shape::vec(64), Shape::image(16, 16, 16)}) {
    const std::size_t batch = in.rank == 1 ? 64 : 32;
    const double bytes = 2.0 * 4.0 * double(batch) * double(in.size());
    add("batch_norm", maker<BatchNorm<float>>(1e-5, 0.1, true), in, batch, Counter::bytes, bytes, 2.0);
    add("group_norm", maker<GroupNorm<float>>(std::size_t(8), 1e-5, true), in, batch, Counter::bytes, bytes, 2.0);
    if (in.rank == 3)
      add("instance_norm", []() { return std::unique_ptr<Module<float>>(new GroupNorm<float>(GroupNorm<float>::instance_norm())); },
          in, batch, Counter::bytes, bytes, 2.0);
  }
  // Every activation, and softmax / log-softmax over the last dimension: bytes of x in and y out.
  for (int a = 0; a < lipflow::kernels::kActivationCount; ++a) {
    const lipflow::kernels::ActivationSpec f{static_cast<lipflow::kernels::Activation>(a)};
    const double bytes = 2.0 * 4.0 * 64 * 256;
    add(std::string("activation_") + lipflow::kernels::activation_name(f.kind), maker<Activation<float>>(f),
        Shape::vec(256), 64, Counter::bytes, bytes, 2.0);
  }
  for (bool log : {false, true}) {
    const double bytes = 2.0 * 4.0 * 32 * 16 * 64;
    add(log ? "log_softmax" : "softmax", maker<Softmax<float>>(1.0, log), Shape::tokens(16, 64), 32, Counter::bytes,
        bytes, 2.0);
  }
  // Token embedding with learned positions (E5's: vocabulary 10, 12 tokens of width 32, and a larger
  // one): bytes of the rows written forward, of dy read and the table rows updated backward.
  struct Emb {
    std::size_t batch, tokens, vocab, width;
  };
  for (const Emb& e : {Emb{32, 12, 10, 32}, Emb{32, 64, 256, 128}}) {
    const double bytes = 4.0 * double(e.batch * e.tokens * e.width);
    add("embedding", maker<Embedding<float>>(e.vocab, e.width, e.tokens), Shape::vec(e.tokens), e.batch,
        Counter::bytes, bytes, 3.0, e.vocab);
  }
  // Residual forms around Linear(D) -> ReLU: the branch's flops (3 x forward for forward+backward).
  for (lipflow::nn::ResidualKind k : {lipflow::nn::ResidualKind::plain, lipflow::nn::ResidualKind::weighted,
                                      lipflow::nn::ResidualKind::rezero, lipflow::nn::ResidualKind::layerscale}) {
    static const char* const kNames[] = {"plain", "weighted", "rezero", "layerscale"};
    add(std::string("residual_") + kNames[static_cast<int>(k)],
        [k]() { return std::unique_ptr<Module<float>>(new ResidualMlp(64, k)); }, Shape::vec(64), 64, Counter::flops,
        2.0 * 64 * 64 * 64, 3.0);
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
