#!/usr/bin/env bash
# The tests: installs what is missing, then configures, builds and tests every preset (release,
# debug-asan, scalar, wasm, aarch64, cortex-m4) with CMake workflow presets. Exits non-zero if any fails.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || { echo "setup failed"; exit 1; }

presets=(release debug-asan scalar wasm aarch64 cortex-m4)
passed=0
failed=()
start=$(date +%s)
for p in "${presets[@]}"; do
  t0=$(date +%s)
  echo "==== preset $p"
  if cmake --workflow --preset "$p"; then
    passed=$((passed + 1))
    echo "==== preset $p passed in $(( $(date +%s) - t0 )) s"
  else
    failed+=("$p")
    echo "==== preset $p FAILED after $(( $(date +%s) - t0 )) s"
  fi
done
echo "all presets took $(( $(date +%s) - start )) s"
[ ${#failed[@]} -gt 0 ] && echo "failed presets: ${failed[*]}"
echo "presets: ${passed} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
