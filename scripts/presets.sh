#!/usr/bin/env bash
# Every experiment preset natively, in its quick form: builds the lab's `lipflow` command and runs each
# preset, printing its summary table and its verdict on the paper's claim; the results (result.json and
# one CSV per series) go to build/release/demo/<preset>/. (scripts/demo.sh serves the browser lab;
# bench/run.sh runs the benchmarks.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target lipflow_cli

lipflow=build/release/cli/lipflow
out=build/release/demo
"$lipflow" list
failed=0
for id in $("$lipflow" list | cut -d' ' -f1); do
  echo
  echo "=== $id (quick) ==="
  "$lipflow" run "$id" --quick --out "$out/$id" || failed=$((failed + 1))
done
echo
echo "results in $out; full-size runs: $lipflow run <id> --out DIR"
exit $((failed > 0))
