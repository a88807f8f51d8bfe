"""Use cases shared by the command line and the widgets: each decision is made here once.

* :func:`open_stack` - read any supported input (TIFF, OME-Zarr) as a checked 3-D volume;
* :func:`stream_into` - write a reconstruction's pieces into its output target(s), make them
  final when complete, and leave nothing behind on any error or cancel;
* :func:`make_trainer` - a new or a resumed training run, with the one rule for where its model
  and checkpoint go.

The geometry (ρ from the stack, the model, or an override, with one warning) is decided by
:func:`~.reconstruction.resolve_ratio`; a layer's spacing in napari by
:func:`napari_a2i3dem.layers.layer_spacing`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

from .io.atomic import unwritable
from .io.outputs import ZARR_SUFFIXES, OutputTarget, read_zarr_stack
from .io.tiff import LoadedStack, read_stack


def open_stack(path: str | Path) -> LoadedStack:
    """A TIFF or OME-Zarr stack, checked to be a single-channel 3-D volume."""
    path = Path(path)
    if path.suffix.lower() in ZARR_SUFFIXES:
        data, spacing = read_zarr_stack(path)
        loaded = LoadedStack(data=data, spacing=None if spacing is None else tuple(spacing),
                             path=path, spacing_source="ome" if spacing else "none")
    else:
        loaded = read_stack(path)
    return loaded.require_volume()


def stream_into(target: OutputTarget, pieces: Iterable[Any], *,
                confidence: OutputTarget | None = None) -> Generator[Any, None, Any]:
    """Write each reconstruction piece into ``target`` (and its confidence into
    ``confidence``), yielding it once written; commit both when the pieces are exhausted and
    return the target's committed result. Any error, cancel or interrupt discards both: the
    destinations are left as they were.

    Final pieces go through ``target.write``; provisional ones (early columns, shown before
    their rows are final) go only into the target's array, which a later final piece overwrites.
    """
    try:
        for piece in pieces:
            with _output_errors(target):
                if piece.final:
                    target.write(piece.rows, piece.data, piece.planes)
                    if confidence is not None and piece.confidence is not None:
                        confidence.write(piece.rows, piece.confidence, piece.planes)
                else:
                    target.array[piece.planes, piece.rows, piece.cols] = piece.data
            yield piece
        with _output_errors(target):
            result = target.commit()
            if confidence is not None:
                confidence.commit()
        return result
    except BaseException:
        target.discard()
        if confidence is not None:
            confidence.discard()
        raise


@contextlib.contextmanager
def _output_errors(target: OutputTarget) -> Iterator[None]:
    """An OS error while writing or committing the output (a full disk, a folder made
    read-only meanwhile) is one line naming the output; errors reading the input are not."""
    try:
        yield
    except OSError as exc:
        raise unwritable(target.path or Path("the output"), exc) from exc


def make_trainer(data, *, ratio: float, spacing, config, degradation=None,
                 model_path: str | Path | None = None, resume_from: str | Path | None = None):
    """The trainer of a new run (``model_path``) or of a resumed one (``resume_from``).

    The model goes to ``model_path``, or next to the checkpoint being continued
    (``x.ckpt.pt`` -> ``x.pt``); checkpoints always sit next to the model
    (:func:`~.checkpoint.checkpoint_path_for`). A resumed run keeps its checkpoint's settings
    and degradation (``degradation`` is ignored).
    """
    from .training.checkpoint import checkpoint_path_for, model_path_for
    from .training.engine import Trainer

    if model_path is None:
        if resume_from is None:
            raise ValueError("make_trainer needs a model_path or a checkpoint to resume")
        model_path = model_path_for(resume_from)
    model_path = Path(model_path)
    return Trainer(data, ratio=ratio, spacing=spacing,
                   degradation=None if resume_from is not None else degradation, config=config,
                   model_path=model_path, resume_from=resume_from,
                   checkpoint_path=checkpoint_path_for(model_path))
