#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset: clang-14, ASan, UBSan) and runs each on its corpus
# (fuzz/corpus/<target>/) for N seconds (default 60). Fails on any crash, leak, timeout or sanitizer
# report; the reproducer is left in build/fuzz/artifacts/. New inputs found go to a scratch corpus in
# build/fuzz/, not into the committed one.
#   scripts/fuzz.sh [seconds] [target...]      targets: config checkpoint c_api (default: all)
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(config checkpoint c_api)

cmake --preset fuzz >/dev/null || { echo "fuzz: configure failed"; exit 1; }
cmake --build --preset fuzz || { echo "fuzz: build failed"; exit 1; }

mkdir -p build/fuzz/artifacts
failed=()
for t in "${targets[@]}"; do
  scratch="build/fuzz/corpus-$t"
  mkdir -p "$scratch"
  echo "==== fuzz_$t for ${seconds} s"
  # One process, inputs up to 64 KiB, 10 s per input at most, 2 GiB of memory: a valid config may
  # build and train a model (its memory_cap_bytes is at most the config's cap).
  if build/fuzz/fuzz/fuzz_"$t" "$scratch" "fuzz/corpus/$t" -max_total_time="$seconds" -max_len=65536 \
       -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$t-" \
       > "build/fuzz/fuzz_$t.log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^Done" "build/fuzz/fuzz_$t.log" | tr '\n' ' '
    echo
  else
    failed+=("$t")
    tail -n 40 "build/fuzz/fuzz_$t.log"
  fi
done
[ ${#failed[@]} -gt 0 ] && { echo "fuzz: FAILED: ${failed[*]}"; exit 1; }
echo "fuzz: ${#targets[@]} targets, no crash, leak or sanitizer report"
