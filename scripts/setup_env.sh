#!/usr/bin/env bash
# Create (or reuse) the virtual environment .venv and install the plugin with its test extras.
# Sourced by scripts/demo.sh and scripts/test.sh. The tested torch build is pinned here only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# CPU build of torch, pinned to the tested version (an unpinned torch may pull a multi-GB CUDA build).
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".[pyqt6,testing]"
# bioimageio.core reproduces a package's test output in the tests. Its release pins an older
# bioimageio.spec that breaks with this pydantic, so it goes in without its pin; its other
# requirements are installed explicitly.
python -m pip install --quiet "bioimageio.core==0.11.0" --no-deps
python -m pip install --quiet "xarray>=2023.1" "imagecodecs" "pydantic-settings>=2.5,<3"
