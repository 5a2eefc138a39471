#!/usr/bin/env bash
# The main command: the browser lab. Installs what is missing, builds the WebAssembly module and the
# page, and serves it on http://127.0.0.1:<port> (8080, or the next free port; PORT=N to choose) until
# stopped with Ctrl-C. Everything then runs in the browser; no network access is needed.
# scripts/presets.sh runs every experiment natively instead; bench/run.sh runs the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/web-build.sh
exec node web/scripts/serve.mjs --port "${PORT:-8080}"
