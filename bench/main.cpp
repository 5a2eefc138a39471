// lipflow_bench: measures the FMA peak once, records it in the benchmark context, then runs the
// benchmarks; GEMM benchmarks report GFLOPS and pct_peak against that figure.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include "probes.hpp"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const double peak = lipflow_bench::measure_fma_peak_gflops(5);
  lipflow_bench::set_fma_peak_gflops(peak);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", peak);
  benchmark::AddCustomContext("fma_peak_gflops", buf);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
