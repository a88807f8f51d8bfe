#!/usr/bin/env bash
# Fresh machine -> installed plugin -> full test suite (headless Qt under Xvfb).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Xvfb for the Qt tests; libxcb-cursor0 as well, which Qt 6 needs to open a real napari window
if ! command -v Xvfb >/dev/null 2>&1 || ! ldconfig -p | grep -q libxcb-cursor.so.0; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq xvfb libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 >/dev/null
fi
bash scripts/setup_env.sh
. .venv/bin/activate
ruff check src tests benchmarks
lint-imports   # the contracts in pyproject.toml: a headless core under both front-ends
python -m pytest -q "$@"
