#!/usr/bin/env bash
# Fresh machine -> installed plugin -> the whole pipeline on the bundled sample stack.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup_env.sh
. .venv/bin/activate
# the demo replaces its own files in demo_output/ on a rerun (nothing else there is touched)
a2i3dem demo --out demo_output --overwrite "$@"
