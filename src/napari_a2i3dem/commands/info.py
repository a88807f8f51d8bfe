"""``a2i3dem info STACK.tif``: what the plugin sees in a stack before any work is done."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import InputError
from ..core.io.tiff import LoadedStack, opens_lazily, read_stack
from ..core.io.tiff_spacing import resolve_spacing
from ..core.physics.acquisition import isotropic_length
from ._common import ratio_arg
from ._messages import error_text


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info", help="show shape, dtype, voxel spacing, ratio and isotropic output shape",
        description="Open a TIFF stack (lazily: no pixel data are read) and print its shape, "
                    "data type, voxel spacing in nm, the ratio rho = z / lateral spacing and the "
                    "shape of the isotropic reconstruction.")
    p.add_argument("stack", type=Path, help="TIFF stack (ImageJ, OME-TIFF or plain TIFF)")
    p.add_argument("--spacing", type=float, nargs=3, metavar=("Z", "Y", "X"),
                   help="voxel spacing in nm, overriding the file's")
    p.add_argument("--ratio", type=ratio_arg, help="up-sampling ratio, overriding the file's z")
    p.set_defaults(func=run)


def describe(loaded: LoadedStack, spacing=None, ratio=None) -> list[str]:
    """The lines ``a2i3dem info`` prints."""
    lines = [
        f"file:     {loaded.path}",
        f"shape:    {' x '.join(str(n) for n in loaded.shape)}",
        f"dtype:    {loaded.dtype}",
        f"loading:  {_loading(loaded.nbytes)}",
    ]
    try:
        loaded.require_volume()
        problem = None
    except InputError as exc:
        problem = str(exc)
    try:
        used = resolve_spacing(loaded, spacing, ratio)
    except InputError as exc:
        used = None
        if loaded.spacing is not None:
            z, y, x = loaded.spacing
            lines.append(f"spacing:  {z:g} x {y:g} x {x:g} nm (z x y x x), "
                         f"from {loaded.spacing_source}")
        lines.append(f"spacing problem: {error_text(exc)}")
    if used is not None:
        z, y, x = used
        origin = loaded.spacing_source
        if spacing is not None or ratio is not None:
            origin = "the command line"
            if spacing is None and loaded.spacing is None and loaded.lateral_spacing is None:
                origin += " (ratio only: lateral spacing taken as 1, units unknown)"
        lines.append(f"spacing:  {z:g} x {y:g} x {x:g} nm (z x y x x), from {origin}")
        rho = z / ((y + x) / 2.0)
        lines.append(f"rho:      {rho:.6g}")
        if problem is None:
            nz, ny, nx = loaded.shape
            out_shape = (isotropic_length(nz, rho), ny, nx)
            lines.append(f"isotropic output shape: {' x '.join(str(n) for n in out_shape)}")
            lines.extend(_tile_advice(out_shape))
    for note in loaded.notes:
        lines.append(f"note:     {note}")
    if problem is not None:
        lines.append(f"not reconstructable: {problem}")
    return lines


def _tile_advice(out_shape: tuple[int, int, int]) -> list[str]:
    """A line naming a larger ``--tile`` when the default one wastes much of the network's work."""
    from ..core.inference.tiling import DEFAULT_SIZE_MULTIPLE, tile_advice
    from ..core.settings import ReconstructionSettings

    defaults = ReconstructionSettings()
    advice = tile_advice(out_shape, defaults.tile, defaults.overlap, DEFAULT_SIZE_MULTIPLE)
    if advice is None:
        return []
    return [f"tiles:    --tile {advice.tile} makes the network compute "
            f"{advice.fraction_now:.2f}x the output's voxels",
            f"          --tile {advice.larger}: {advice.fraction:.2f}x, with "
            f"{advice.memory_growth:.1f}x the memory per tile"]


def _loading(nbytes: int) -> str:
    size = f"{nbytes / 2**20:.1f} MiB"
    if opens_lazily(nbytes):
        return f"lazy (dask, read on demand): {size} exceeds the in-memory limit"
    return f"in memory ({size})"


def run(args: argparse.Namespace) -> int:
    with read_stack(args.stack, lazy=True) as loaded:
        for line in describe(loaded, args.spacing, args.ratio):
            print(line)
        try:
            loaded.require_volume()
        except InputError:
            return 1
    return 0
