"""The command line starts light: building every command's parser (what ``a2i3dem --help``
and every command do first) imports neither torch nor SciPy, matplotlib or dask."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "scipy", "matplotlib", "dask", "napari", "qtpy")


def test_building_the_parser_imports_no_heavy_library():
    code = ("import json, sys; from napari_a2i3dem.cli import build_parser; build_parser(); "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_help_of_every_command_still_works():
    for command in ("train", "reconstruct", "pairs", "assess", "export", "info", "demo"):
        done = subprocess.run([sys.executable, "-m", "napari_a2i3dem.cli", command, "--help"],
                              capture_output=True, text=True)
        assert done.returncode == 0, (command, done.stderr)
        assert f"usage: a2i3dem {command}" in done.stdout
