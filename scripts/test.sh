#!/usr/bin/env bash
# The tests: installs what is missing, then configures, builds and tests every preset (release,
# debug-asan, scalar, wasm, aarch64) with CMake workflow presets, then runs each libFuzzer target for
# LIPFLOW_FUZZ_SECONDS seconds (default 25; scripts/fuzz.sh). Exits non-zero if any fails.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || { echo "setup failed"; exit 1; }

presets=(release debug-asan scalar wasm aarch64)
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
t0=$(date +%s)
echo "==== fuzz"
if bash scripts/fuzz.sh "${LIPFLOW_FUZZ_SECONDS:-25}"; then
  passed=$((passed + 1))
  echo "==== fuzz passed in $(( $(date +%s) - t0 )) s"
else
  failed+=(fuzz)
  echo "==== fuzz FAILED after $(( $(date +%s) - t0 )) s"
fi
echo "all presets took $(( $(date +%s) - start )) s"
[ ${#failed[@]} -gt 0 ] && echo "failed presets: ${failed[*]}"
echo "presets: ${passed} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
