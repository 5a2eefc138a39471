// Machine probes that give every benchmark a "% of peak": the single-core FMA throughput and the
// single-core memory bandwidth (STREAM triad), measured in the same binary and the same run.
#pragma once

namespace benchmark {
class State;
}

namespace lipflow_bench {

// Sets the GFLOPS counter (flops per iteration, as a rate) and pct_peak against the FMA peak that
// main() measured. Every benchmark that counts flops reports through this.
void report_flops(benchmark::State& state, double flops_per_iteration);
// Sets the GBps counter (bytes moved per iteration, as a rate) and pct_triad against the bandwidth
// main() measured.
void report_bytes(benchmark::State& state, double bytes_per_iteration);

// Sustained single-precision FMA throughput of one core in GFLOPS (an FMA counts as 2 flops), the
// best of `repeats` runs of about 20 ms each, timed in CPU time as the benchmarks' counters are.
double measure_fma_peak_gflops(int repeats);

// Peak as measured once at start-up by main(), or 0 before it ran.
double fma_peak_gflops();
void set_fma_peak_gflops(double gflops);

// Single-core STREAM-triad bandwidth in GB/s (best of `repeats` passes over 3 x 32 MiB), and the value
// main() measured at start-up (0 before).
double measure_triad_gbps(int repeats);
double triad_gbps();
void set_triad_gbps(double gbps);

}  // namespace lipflow_bench
