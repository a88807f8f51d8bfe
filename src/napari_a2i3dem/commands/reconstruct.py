"""``a2i3dem reconstruct``: the isotropic volume of a stack, streamed to a TIFF or an OME-Zarr.

The ratio comes from ``--ratio``, else the stack's spacing, else the model file (a disagreement
between stack and model is reported and the stack wins). Outputs are written atomically and never
over the input. ``--scheduler local`` (or a scheduler address) runs bands of rows on dask workers.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

from ..core.errors import InputError
from ..core.io.atomic import refuse_existing
from ..core.io.outputs import check_output_path, open_target
from ..core.jobs import open_stack, stream_into
from ..core.normalization import IntensityScale
from ..core.settings import ReconstructionSettings
from ._common import add_overwrite_flag, positive_int, ratio_arg
from ._settings_args import add_settings_arguments, settings_from_args

#: the engine's settings as options (types, bounds and help from core.settings)
ENGINE_FLAGS = {"tile": "--tile", "overlap": "--overlap", "batch": "--batch",
                "device": "--device", "fusion": "--fusion"}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reconstruct", help="make the isotropic volume of a stack with a trained model",
        description="Cubic-interpolate the stack to isotropic voxels along z, run the network on "
                    "every xz and yz plane and fuse both passes. Writes an ImageJ TIFF or an "
                    "OME-Zarr (for volumes larger than memory).")
    p.add_argument("stack", type=Path, help="anisotropic (z, y, x) stack: TIFF or OME-Zarr")
    p.add_argument("--model", type=Path, required=True,
                   help="model file from 'a2i3dem train', or a BioImage Model Zoo package (.zip) "
                        "from 'a2i3dem export'")
    p.add_argument("--out", type=Path, required=True, help="output volume: NAME.tif or NAME.zarr")
    p.add_argument("--ratio", type=ratio_arg,
                   help="up-sampling ratio z / xy spacing (default: the stack's, else the model's)")
    add_settings_arguments(p, ReconstructionSettings, ENGINE_FLAGS)
    p.add_argument("--confidence", type=Path, metavar="CONF",
                   help="also write |xz - yz| (the passes' disagreement) to CONF.tif/.zarr")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on dask.distributed: 'local' starts a LocalCluster of threads, else a "
                        "scheduler address such as tcp://host:8786")
    p.add_argument("--workers", type=positive_int, default=2,
                   help="workers of a local cluster (default 2)")
    add_overwrite_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..core.inference.reconstruction import isotropic_spacing, output_shape, resolve_ratio
    from ..core.model import load_model
    from ..core.model.files import OLD_NETWORK_NOTE

    if args.confidence is not None and args.confidence.resolve() == args.out.resolve():
        raise InputError("--confidence must name a different file than --out")
    out = check_output_path(args.out, protect=(args.stack, args.model))
    conf_path = (None if args.confidence is None
                 else check_output_path(args.confidence, protect=(args.stack, args.model)))
    refuse_existing(out, conf_path, overwrite=args.overwrite)
    loaded = open_stack(args.stack)
    stack, spacing = loaded.data, loaded.spacing
    loaded = load_model(args.model)
    ratio, warning = resolve_ratio(stack_spacing=spacing, model_ratio=loaded.ratio,
                                   override=args.ratio)
    if warning:
        print(f"a2i3dem reconstruct: warning: {warning} (override with --ratio)",
              file=sys.stderr)
    if not loaded.network_config.section_input:
        print(f"a2i3dem reconstruct: note: this model was {OLD_NETWORK_NOTE}", file=sys.stderr)
    lateral = spacing if spacing is not None else loaded.spacing
    iso = isotropic_spacing(lateral)
    shape = output_shape(stack.shape, ratio)
    settings = settings_from_args(ReconstructionSettings, args, ENGINE_FLAGS,
                                  confidence=conf_path is not None).engine_options()
    print(f"{args.stack} {tuple(stack.shape)} -> {out} {shape}, ratio {ratio:.4g}, "
          f"voxel {iso[0]:g} nm", file=sys.stderr)

    target = open_target(out, shape, stack.dtype, iso, protect=(args.stack,))
    conf_target = (None if conf_path is None
                   else open_target(conf_path, shape, "float32", iso, protect=(args.stack,)))
    started = time.perf_counter()
    with tqdm(total=100.0, unit="%", bar_format="{l_bar}{bar}| {postfix}",
              file=sys.stderr) as bar:
        def show(progress) -> None:
            bar.n = round(100.0 * progress.fraction, 1)
            bar.set_postfix_str(progress.describe(), refresh=False)
            bar.refresh()

        for _piece in stream_into(target, _pieces(stack, loaded, ratio, settings, args, show),
                                  confidence=conf_target):
            pass
    elapsed = time.perf_counter() - started
    voxels = shape[0] * shape[1] * shape[2]
    print(f"wrote {out} in {elapsed:.1f} s ({voxels / max(elapsed, 1e-9) / 1e6:.2f} Mvoxel/s)",
          file=sys.stderr)
    return 0


def _pieces(stack, loaded, ratio, settings, args, on_progress):
    from ..core.inference.reconstruction import reconstruct

    scale = IntensityScale.from_stack(stack)
    if not args.scheduler:
        yield from reconstruct(stack, loaded, ratio, scale=scale, on_progress=on_progress,
                               **settings)
        return
    from ..core.inference.distributed import dask_client, reconstruct_distributed

    threads = max(1, (os.cpu_count() or 1) // args.workers)
    # A local cluster runs its workers as threads of this process: inference releases the GIL,
    # and the model and imports are not duplicated per worker.
    with dask_client(args.scheduler, workers=args.workers, processes=False) as client:
        yield from reconstruct_distributed(stack, loaded, ratio, client, scale=scale,
                                           on_progress=on_progress, threads=threads, **settings)
