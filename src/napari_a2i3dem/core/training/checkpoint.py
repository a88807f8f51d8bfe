"""Training checkpoints: everything needed to resume a run exactly, saved atomically.

A checkpoint is a dict of tensors and plain Python values (no pickled classes), so it loads with
``torch.load(weights_only=True)``. Keys: ``format``, ``version``, ``step``, ``total_steps``,
``model`` / ``best_model`` (state dicts), ``best_step``, ``best_psnr``, ``optimizer``,
``scheduler``, ``scaler``, ``rng``, ``train_config``, ``network_config``, ``degradation``,
``ratio``, ``spacing``, ``intensity``, ``stack_shape``, ``history`` and ``elapsed_seconds``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelFileError
from ..io.atomic import atomic_file

CHECKPOINT_FORMAT = "a2i3dem-checkpoint"
CHECKPOINT_VERSION = 1
REQUIRED_KEYS = ("step", "total_steps", "model", "optimizer", "scheduler", "rng", "train_config",
                 "network_config", "degradation", "ratio", "spacing", "intensity", "history")


def checkpoint_path_for(model_path: str | Path) -> Path:
    """The checkpoint that sits next to a model file: ``model.pt`` -> ``model.ckpt.pt``."""
    model_path = Path(model_path)
    stem = model_path.name[: -len(model_path.suffix)] if model_path.suffix else model_path.name
    return model_path.with_name(f"{stem}.ckpt.pt")


def model_path_for(checkpoint_path: str | Path) -> Path:
    """The model file a checkpoint's run writes: ``model.ckpt.pt`` -> ``model.pt`` (the inverse
    of :func:`checkpoint_path_for`; any other name gets ``.pt`` after its stem)."""
    path = Path(checkpoint_path)
    stem = path.name.removesuffix(".pt").removesuffix(".ckpt")
    return path.with_name(f"{stem}.pt")


def atomic_torch_save(obj, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the same folder, then ``os.replace`` it into place."""
    import torch

    path = Path(path)
    with atomic_file(path) as handle:
        torch.save(obj, handle)
    return path


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write a checkpoint dict (see module docstring) atomically."""
    return atomic_torch_save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state},
                             path)


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`; raise :class:`ModelFileError` if the
    file is missing, unreadable or not a training checkpoint of this package."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"checkpoint file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling problem means "not our checkpoint"
        from ..model.files import torch_load_reason

        raise ModelFileError(f"cannot read checkpoint {path}: {torch_load_reason(exc)}") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError(f"{path} is not an A2I-3DEM training checkpoint")
    if int(state.get("version", 0)) > CHECKPOINT_VERSION:
        raise ModelFileError(
            f"checkpoint {path} has format version {state.get('version')}, newer than this "
            f"package understands ({CHECKPOINT_VERSION}); update napari-a2i3dem"
        )
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ModelFileError(f"checkpoint {path} is incomplete (missing {', '.join(missing)})")
    return state
