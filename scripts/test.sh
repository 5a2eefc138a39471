#!/usr/bin/env bash
# The tests: installs what is missing, then configures, builds and tests every preset (release,
# debug-asan, scalar, wasm, aarch64, cortex-m4) with CMake workflow presets, then the browser lab (it
# needs the release and wasm builds): the page is built, the native and wasm loss curves are compared,
# and the page is driven in Chromium (screenshots in build/web-artifacts/). Then each libFuzzer
# target runs for LIPFLOW_FUZZ_SECONDS seconds (default 25; scripts/fuzz.sh). Exits non-zero if any fails.
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

# The browser lab, when the builds it needs passed.
if [[ " ${failed[*]} " != *" release "* && " ${failed[*]} " != *" wasm "* ]]; then
  t0=$(date +%s)
  echo "==== browser lab"
  if bash scripts/web-build.sh \
     && node --no-experimental-fetch web/tests/parity.mjs build/wasm/wasm/lipflow.mjs build/release/cli/lipflow \
     && node web/tests/browser.mjs build/release/cli/lipflow \
     && node --no-experimental-fetch web/tests/builder.mjs build/wasm/wasm/lipflow.mjs; then
    passed=$((passed + 1))
    echo "==== browser lab passed in $(( $(date +%s) - t0 )) s"
  else
    failed+=("web")
    echo "==== browser lab FAILED after $(( $(date +%s) - t0 )) s"
  fi
else
  failed+=("web (skipped: needs release and wasm)")
fi

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
