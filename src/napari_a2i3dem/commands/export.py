"""``a2i3dem export MODEL.pt --stack STACK.tif --out MODEL.zip``: a BioImage Model Zoo package."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.io.atomic import refuse_existing
from ..core.io.tiff import read_stack
from ._common import add_overwrite_flag


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="write a trained model as a BioImage Model Zoo package (.zip)",
        description="Package the per-plane network of a model file for the BioImage Model Zoo "
                    "(bioimage.io model spec 0.5): weights, pre/post-processing, test tensors "
                    "made from STACK (the training stack), cover, documentation. The package "
                    "is validated before it is written; `a2i3dem reconstruct --model X.zip` "
                    "reads it back. Needs the optional extra [bioimageio].")
    p.add_argument("model", type=Path, help="model file written by `a2i3dem train` (.pt)")
    p.add_argument("--stack", type=Path, required=True,
                   help="the stack the model was trained on (test tensors come from it)")
    p.add_argument("--out", type=Path, required=True, help="package to write (.zip)")
    p.add_argument("--name", help="model name shown in the zoo (default from the file)")
    p.add_argument("--author", default="napari-a2i3dem user", help="author of the model")
    add_overwrite_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.io.bioimageio import export_bioimageio

    refuse_existing(args.out, overwrite=args.overwrite)
    with read_stack(args.stack) as loaded:
        out = export_bioimageio(args.model, args.out, loaded.data, name=args.name,
                                author=args.author)
    print(f"wrote {out} (validated BioImage Model Zoo package of the plane network)")
    return 0
