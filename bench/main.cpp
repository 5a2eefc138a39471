// lipflow_bench: measures the FMA peak and the triad bandwidth once, records them in the benchmark
// context, then runs the benchmarks, which report GFLOPS with pct_peak or GBps with pct_triad against
// those figures.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <xsimd/xsimd.hpp>

#include "probes.hpp"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const double peak = lipflow_bench::measure_fma_peak_gflops(10);
  lipflow_bench::set_fma_peak_gflops(peak);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", peak);
  benchmark::AddCustomContext("fma_peak_gflops", buf);
  const double triad = lipflow_bench::measure_triad_gbps(5);
  lipflow_bench::set_triad_gbps(triad);
  std::snprintf(buf, sizeof buf, "%.1f", triad);
  benchmark::AddCustomContext("triad_gbps", buf);
#if defined(__clang__)
  benchmark::AddCustomContext("compiler", "clang " __clang_version__);
#elif defined(__GNUC__)
  benchmark::AddCustomContext("compiler", "GCC " __VERSION__);
#endif
  benchmark::AddCustomContext("simd", xsimd::default_arch::name());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
