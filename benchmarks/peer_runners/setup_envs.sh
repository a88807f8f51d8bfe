#!/usr/bin/env bash
# Virtual environments for the peers compared in benchmarks/peers.py, one per peer, outside the
# package's dependencies: ECLARE (PyTorch, GPL-3.0) and CSBDeep (TensorFlow, BSD-3-Clause).
# Nothing of theirs is copied into this repository; pip downloads them from PyPI.
#
#   bash benchmarks/peer_runners/setup_envs.sh [DIR]     # default benchmarks/.peer-envs
#
# About 1 GB for ECLARE (torch 2.13.0 CPU) and 1.5 GB for CSBDeep (tensorflow-cpu); a few
# minutes. benchmarks/peers.py --envs DIR finds them (or A2I3DEM_PEER_ENVS=DIR).
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
envs="${1:-$here/benchmarks/.peer-envs}"
python="${PYTHON:-python3}"
mkdir -p "$envs"

make_env() {  # name, then pip arguments
  local name="$1"; shift
  if [ ! -x "$envs/$name/bin/python" ]; then
    "$python" -m venv "$envs/$name"
  fi
  "$envs/$name/bin/pip" install -q --upgrade pip
  "$envs/$name/bin/pip" install -q "$@"
  echo "$name: $("$envs/$name/bin/python" -c 'import sys; print(sys.version.split()[0])') in $envs/$name"
}

# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
make_env eclare torch==2.13.0
"$envs/eclare/bin/pip" install -q eclare==1.0.1 nibabel tifffile
make_env csbdeep tensorflow-cpu==2.21.0 csbdeep==0.8.2 tifffile
"$envs/eclare/bin/python" -c "import eclare.eclare, torch; print('eclare ok, torch', torch.__version__)"
"$envs/csbdeep/bin/python" -c "import csbdeep, tensorflow as tf; print('csbdeep', csbdeep.__version__, 'ok, tensorflow', tf.__version__)" 2>/dev/null
