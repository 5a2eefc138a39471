#!/usr/bin/env bash
# Builds the browser lab: the WebAssembly module with SIMD128 (preset wasm) and without (wasm-scalar),
# then the page (npm ci and vite build in web/, which copies both modules into web/dist/wasm/).
# Used by scripts/demo.sh and scripts/test.sh; installs nothing itself (scripts/setup.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."

export NODE_PATH=/usr/share/nodejs
for preset in wasm wasm-scalar; do
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" --target lipflow_wasm
done
cd web
npm ci --no-fund --no-audit --loglevel=error
npm run --silent build
