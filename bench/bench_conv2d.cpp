// Conv2d (im2col + lipflow GEMM) at the lab's sizes, float, one thread, named
// conv2d/<pass>/b<batch>_<C_in>x<H>x<W>_to<C_out>_k<k>p<pad>. GFLOPS counts the GEMM flops of the
// convolution: 2 C_out C_in kh kw H_out W_out per sample for forward, 3 times that for forward +
// backward (dK and dX; the bias sums and im2col/col2im are not counted). pct_peak is against the FMA
// peak measured by main(). After timing, sampled outputs are checked against a direct double
// convolution, and a wrong result fails the benchmark.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "lipflow/core/memory.hpp"
#include "lipflow/core/rng.hpp"
#include "lipflow/nn/conv2d.hpp"
#include "probes.hpp"

namespace {

using lipflow::nn::Conv2d;
using lipflow::nn::Conv2dOptions;
using lipflow::nn::Shape;

struct Size {
  int batch, c_in, h, w, c_out, k, pad;
};

struct Layer {
  Size s;
  Conv2d<float> conv;
  lipflow::MemoryPlan plan;
  lipflow::Arena arena;
  lipflow::AlignedBuffer buffer;
  Shape out;
  std::vector<float> x, y, dy, dx;
  bool ok = false;

  explicit Layer(const Size& size) : s(size), conv(Conv2dOptions(size.c_in, size.c_out, size.k).padding(size.pad)) {
    if (!conv.plan(Shape::image(s.c_in, s.h, s.w), s.batch, plan, &out).ok()) return;
    buffer = lipflow::AlignedBuffer(plan.total_bytes());
    if (!arena.bind(plan, buffer.data(), buffer.size()).ok() || !conv.bind(arena).ok()) return;
    lipflow::Rng rng(static_cast<std::uint64_t>(s.c_in * 1000 + s.c_out));
    if (!conv.init(rng).ok()) return;
    x.resize(std::size_t(s.batch) * s.c_in * s.h * s.w);
    dx.resize(x.size());
    y.resize(std::size_t(s.batch) * out.size());
    dy.resize(y.size());
    for (auto& v : x) v = rng.uniform(-1.0f, 1.0f);
    for (auto& v : dy) v = rng.uniform(-1.0f, 1.0f);
    ok = true;
  }
  double forward_flops() const {
    return 2.0 * s.c_out * s.c_in * s.k * s.k * double(out.dims[1]) * double(out.dims[2]) * s.batch;
  }
  // Checks sampled outputs of the last forward against a direct convolution in double.
  bool verify() const {
    lipflow::Rng rng(7u);
    const float* kw = conv.weight();
    const float* bias = conv.bias();
    const int ho = int(out.dims[1]), wo = int(out.dims[2]);
    for (int t = 0; t < 64; ++t) {
      const int b = int(rng.below(std::uint32_t(s.batch))), co = int(rng.below(std::uint32_t(s.c_out)));
      const int oh = int(rng.below(std::uint32_t(ho))), ow = int(rng.below(std::uint32_t(wo)));
      double ref = bias[co], mag = std::fabs(ref);
      for (int ci = 0; ci < s.c_in; ++ci)
        for (int i = 0; i < s.k; ++i)
          for (int j = 0; j < s.k; ++j) {
            const int ih = oh + i - s.pad, iw = ow + j - s.pad;
            if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
            const double p = double(kw[((co * s.c_in + ci) * s.k + i) * s.k + j]) *
                             double(x[((std::size_t(b) * s.c_in + ci) * s.h + ih) * s.w + iw]);
            ref += p;
            mag += std::fabs(p);
          }
      const double got = y[((std::size_t(b) * s.c_out + co) * ho + oh) * wo + ow];
      if (std::fabs(got - ref) > (s.c_in * s.k * s.k + 2) * 6e-8 * mag + 1e-30) return false;
    }
    return true;
  }
};

void conv_forward(benchmark::State& state, Size size) {
  Layer l(size);
  if (!l.ok) {
    state.SkipWithError("conv2d setup failed");
    return;
  }
  for (auto _ : state) {
    if (!l.conv.forward(l.x.data(), std::size_t(size.batch), l.y.data()).ok()) state.SkipWithError("forward failed");
    benchmark::ClobberMemory();
  }
  lipflow_bench::report_flops(state, l.forward_flops());
  if (!l.verify()) state.SkipWithError("wrong result");
}

void conv_forward_backward(benchmark::State& state, Size size) {
  Layer l(size);
  if (!l.ok) {
    state.SkipWithError("conv2d setup failed");
    return;
  }
  const std::size_t batch = std::size_t(size.batch);
  for (auto _ : state) {
    if (!l.conv.forward(l.x.data(), batch, l.y.data()).ok() ||
        !l.conv.backward(l.x.data(), l.y.data(), l.dy.data(), batch, l.dx.data()).ok())
      state.SkipWithError("forward or backward failed");
    benchmark::ClobberMemory();
  }
  lipflow_bench::report_flops(state, 3.0 * l.forward_flops());
  if (!l.conv.forward(l.x.data(), batch, l.y.data()).ok() || !l.verify()) state.SkipWithError("wrong result");
}

// The lab's small CNN: a 3-channel 16x16 image to 16 channels, then 16 to 32 channels at 8x8.
const Size kSizes[] = {{32, 3, 16, 16, 16, 3, 1}, {32, 16, 8, 8, 32, 3, 1}};

int register_all() {
  for (const Size& s : kSizes) {
    char name[64];
    std::snprintf(name, sizeof name, "b%d_%dx%dx%d_to%d_k%dp%d", s.batch, s.c_in, s.h, s.w, s.c_out, s.k, s.pad);
    const std::string suffix = name;
    benchmark::RegisterBenchmark(("conv2d/forward/" + suffix).c_str(), conv_forward, s);
    benchmark::RegisterBenchmark(("conv2d/forward_backward/" + suffix).c_str(), conv_forward_backward, s);
  }
  return 0;
}
const int registered = register_all();

}  // namespace
