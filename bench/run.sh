#!/usr/bin/env bash
# The benchmarks with their peers measured in the same run. Today: GEMM against OpenBLAS and Eigen,
# with the single-core FMA peak measured by the same binary, as a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target lipflow_bench

out=build/release/bench-results
mkdir -p "$out"
echo "Running the GEMM benchmarks (single thread, about a minute)..."
# One thread for OpenBLAS; its CPU-type overrides are unset for this command only, so that it runs
# its own best kernel for this CPU.
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \
  build/release/bench/lipflow_bench --benchmark_filter='^gemm/' --benchmark_min_time=0.2 \
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_out="$out/gemm.json" --benchmark_out_format=json >/dev/null
node bench/gemm_table.mjs "$out/gemm.json"
