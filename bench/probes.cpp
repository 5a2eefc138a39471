#include "probes.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <ctime>
#include <vector>
#include <xsimd/xsimd.hpp>

namespace lipflow_bench {
namespace {

double g_peak = 0.0;
double g_triad = 0.0;

// CPU time of this thread in seconds: the clock Google Benchmark's rate counters divide by, so that a
// probe and the benchmarks it is compared with see a shared, busy machine alike.
double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// a = b + s c over n floats: 12 bytes per element (two reads, one write; the write-allocate read of
// `a` is not counted, as in STREAM).
void triad(float* a, const float* b, const float* c, std::size_t n, float s) {
  for (std::size_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
}
constexpr std::size_t kTriadElements = std::size_t(8) << 20;

// 16 independent FMA chains: more than latency x ports on any current core, so throughput-bound.
template <class V>
double fma_chains(long iterations) {
  constexpr int kChains = 16;
  V acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = V(1.0f + 1e-3f * static_cast<float>(c));
  const V a(0.999999f), b(1e-7f);
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) acc[c] = xsimd::fma(acc[c], a, b);
  }
  V s(0.0f);
  for (int c = 0; c < kChains; ++c) s = s + acc[c];
  return static_cast<double>(xsimd::hadd(s));
}

using Batch = xsimd::batch<float>;
constexpr double kFlopsPerIteration = 2.0 * 16 * Batch::size;

}  // namespace

double measure_fma_peak_gflops(int repeats) {
  double best = 0.0;
  const long iterations = 2000000;
  for (int r = 0; r < repeats; ++r) {
    const volatile long opaque = iterations;  // see probe_fma_peak
    const double t0 = cpu_seconds();
    benchmark::DoNotOptimize(fma_chains<Batch>(opaque));
    const double s = cpu_seconds() - t0;
    const double g = kFlopsPerIteration * static_cast<double>(iterations) / s * 1e-9;
    if (g > best) best = g;
  }
  return best;
}

double fma_peak_gflops() { return g_peak; }

void report_flops(benchmark::State& state, double flops) {
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (g_peak > 0)
    state.counters["pct_peak"] =
        benchmark::Counter(flops * 1e-9 * 100.0 / g_peak, benchmark::Counter::kIsIterationInvariantRate);
}

void report_bytes(benchmark::State& state, double bytes) {
  state.counters["GBps"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (g_triad > 0)
    state.counters["pct_triad"] =
        benchmark::Counter(bytes * 1e-9 * 100.0 / g_triad, benchmark::Counter::kIsIterationInvariantRate);
}

double measure_triad_gbps(int repeats) {
  std::vector<float> a(kTriadElements, 0.0f), b(kTriadElements, 1.0f), c(kTriadElements, 2.0f);
  double best = 0.0;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = cpu_seconds();
    triad(a.data(), b.data(), c.data(), kTriadElements, 3.0f);
    benchmark::ClobberMemory();
    const double s = cpu_seconds() - t0;
    const double g = 12.0 * static_cast<double>(kTriadElements) / s * 1e-9;
    if (g > best) best = g;
  }
  return best;
}
double triad_gbps() { return g_triad; }
void set_triad_gbps(double gbps) { g_triad = gbps; }
void set_fma_peak_gflops(double gflops) { g_peak = gflops; }

// The probe as a benchmark of its own, so that its figure sits in the same table.
static void probe_fma_peak(benchmark::State& state) {
  const long iterations = 100000;
  for (auto _ : state) {
    // A volatile read makes n opaque, so the pure call cannot be hoisted out of the loop.
    // (benchmark::DoNotOptimize(n) on a non-const long miscompiles with GCC 12 and benchmark 1.7's
    // two-alternative asm constraint: the loop bound became the variable's address.)
    const volatile long opaque = iterations;
    benchmark::DoNotOptimize(fma_chains<Batch>(opaque));
  }
  report_flops(state, kFlopsPerIteration * iterations);
}
BENCHMARK(probe_fma_peak)->Name("probe/fma_peak");

// The triad probe as a benchmark of its own.
static void probe_triad(benchmark::State& state) {
  std::vector<float> a(kTriadElements, 0.0f), b(kTriadElements, 1.0f), c(kTriadElements, 2.0f);
  for (auto _ : state) {
    triad(a.data(), b.data(), c.data(), kTriadElements, 3.0f);
    benchmark::ClobberMemory();
  }
  report_bytes(state, 12.0 * static_cast<double>(kTriadElements));
}
BENCHMARK(probe_triad)->Name("probe/stream_triad")->Unit(benchmark::kMillisecond);

}  // namespace lipflow_bench
