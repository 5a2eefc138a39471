#!/usr/bin/env bash
# Every benchmark with its peers, measured in one run on this machine, one thread each, written as one
# markdown table to bench/RESULTS.md:
#   lipflow_bench   GEMM (with OpenBLAS and Eigen in the same binary), modules, training steps,
#                   optimizer steps, estimators, and the FMA and bandwidth probes
#   PyTorch         bench/peers/torch_bench.py (Debian's python3-torch on OpenBLAS)
#   browser         web/tests/bench.mjs (lipflow wasm SIMD and scalar, TF.js) when it exists
# Usage: bench/run.sh [--quick]   (--quick: short runs, a check that everything works, not figures)
# Takes 5 to 10 minutes; BENCH_FILTER (a --benchmark_filter regex) limits lipflow_bench. Each figure
# is the fastest repetition (CPU time), the steadiest on a shared machine (the training steps set their
# own repetitions, 11 of 60 ms, as the PyTorch peer's blocks).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1

bash scripts/setup.sh bench
cmake --preset release >/dev/null
cmake --build --preset release --target lipflow_bench

out=build/release/bench-results
mkdir -p "$out"
rm -f "$out"/*.json
# OpenBLAS on one thread; its CPU-type overrides are unset for these commands only, so that it runs
# its own best kernel for this CPU (for lipflow_bench's peer and for PyTorch's BLAS alike).
peer_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1)

if [ $quick = 1 ]; then bench_args=(--benchmark_min_time=0.01); else
  bench_args=(--benchmark_min_time=0.2 --benchmark_repetitions=5); fi
echo "bench: lipflow_bench (single thread)..."
"${peer_env[@]}" build/release/bench/lipflow_bench --benchmark_filter="${BENCH_FILTER:-.}" "${bench_args[@]}" \
  --benchmark_out="$out/lipflow.json" --benchmark_out_format=json >/dev/null

echo "bench: PyTorch peer..."
torch_args=()
[ $quick = 1 ] && torch_args=(--quick)
"${peer_env[@]}" /usr/bin/python3 bench/peers/torch_bench.py --out "$out/torch.json" "${torch_args[@]}"
peers=("$out/torch.json")

if [ -f web/tests/bench.mjs ]; then
  echo "bench: browser peers (building the wasm modules and the page)..."
  bash scripts/web-build.sh >/dev/null
  web_args=()
  [ $quick = 1 ] && web_args=(--batches 2)
  (cd web && node tests/bench.mjs --out "../$out/web.json" "${web_args[@]}")
  peers+=("$out/web.json")
else
  echo "bench: web/tests/bench.mjs does not exist; skipping the browser peers"
fi

node bench/results_table.mjs "$out/lipflow.json" "${peers[@]}" > "$out/RESULTS.md"
if [ $quick = 1 ]; then
  echo "bench: quick run, table in $out/RESULTS.md (bench/RESULTS.md unchanged)"
else
  cp "$out/RESULTS.md" bench/RESULTS.md
  echo "bench: wrote bench/RESULTS.md"
fi
