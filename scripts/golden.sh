#!/usr/bin/env bash
# Regenerates the PyTorch golden files in tests/golden/ (the tests themselves need no Python).
# Installs Debian's python3-torch if it is missing; torch is importable by /usr/bin/python3 only.
set -euo pipefail
cd "$(dirname "$0")/../tests/golden"
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
fi
for script in *.py; do
  case "$script" in golden_io.py | *_common.py) continue ;; esac  # libraries, not generators
  echo "golden: $script"
  /usr/bin/python3 "$script"
done
