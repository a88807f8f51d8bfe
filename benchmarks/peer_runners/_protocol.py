"""What every runner of ``benchmarks/peers.py`` takes and writes (standard library only: the
runners live in different virtual environments).

In: the anisotropic stack (``.npy``, float32 z, y, x), its rho and lateral spacing, the slice
profile as a fine-grid kernel (``.npy``), the crop to reconstruct and the wall-clock budget.
Out: the reconstruction of the crop (``.npy``, float32, on the method's own z grid) and a JSON
report of what the method did.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def runner_parser(description: str) -> argparse.ArgumentParser:
    """The options shared by every runner; a runner adds its own."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--stack", type=Path, required=True)
    p.add_argument("--ratio", type=float, required=True)
    p.add_argument("--spacing", type=float, default=10.0, help="lateral spacing (nm)")
    p.add_argument("--profile", type=Path, required=True, help="1-D slice profile (.npy)")
    p.add_argument("--crop", type=int, nargs=4, required=True, metavar=("Y0", "Y1", "X0", "X1"))
    p.add_argument("--seconds", type=float, required=True, help="wall-clock budget")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--report", type=Path, required=True)
    return p
