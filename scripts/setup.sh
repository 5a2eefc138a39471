#!/usr/bin/env bash
# Installs what lipflow needs from Debian 12, and nothing when it is all there (quiet and fast).
# The only place in the project that installs anything. Run as root (or with sudo available).
# `scripts/setup.sh bench` also installs the PyTorch peer of the benchmarks (bench/run.sh asks for it;
# the tests never need it).
set -euo pipefail

packages=(
  cmake ninja-build g++                       # build
  libgtest-dev googletest libbenchmark-dev    # tests (googletest: sources for cross builds), benchmarks
  libxsimd-dev libxtensor-dev xtl-dev         # SIMD batches, tensor adaptors
  nlohmann-json3-dev                          # JSON configs (the lab layer only)
  libeigen3-dev libopenblas-dev               # benchmark peers
  emscripten binaryen                         # the wasm preset
  g++-aarch64-linux-gnu qemu-user             # the aarch64 preset
  gcc-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm  # the cortex-m4 preset
  chromium                                    # the browser lab's tests (driven by playwright-core)
  clang-14 libclang-rt-14-dev                 # the fuzz preset (libFuzzer, ASan, UBSan)
)
case "${1:-}" in
  "") ;;
  # PyTorch on OpenBLAS (without libopenblas0-pthread it would run on the reference BLAS)
  bench) packages+=(python3-torch libopenblas0-pthread) ;;
  *) echo "usage: scripts/setup.sh [bench]  (unknown option: $1)" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# apt's chatter (debconf notes included) is shown only when a step fails.
for step in "update -qq" "install -y -qq --no-install-recommends ${missing[*]}"; do
  # shellcheck disable=SC2086  # the step is a word list on purpose
  if ! log=$($sudo apt-get $step 2>&1); then
    echo "$log" >&2
    echo "setup: apt-get ${step%% *} failed" >&2
    exit 1
  fi
done
echo "setup: done"
