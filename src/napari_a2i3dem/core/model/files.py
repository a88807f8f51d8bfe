"""Model files: weights plus everything needed to use them, loadable with ``weights_only=True``.

A model file is a ``torch.save`` of one plain dict (strings, numbers, lists, dicts, tensors; no
pickled classes)::

    format          "napari-a2i3dem-model"
    format_version  integer, FORMAT_VERSION when written
    package_version version string of napari-a2i3dem that wrote it
    network         NetworkConfig.to_dict()
    state_dict      the network's weights
    degradation     DegradationConfig.to_dict() used to make the training pairs
    spacing         [z, y, x] voxel spacing (nm) of the training stack
    ratio           rho = z-spacing / xy-spacing
    intensity       IntensityScale.to_dict() (network units <-> stack units)
    extra           free plain-data dict (training history, ...) or None
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ... import __version__
from ..errors import InputError, ModelFileError
from ..io.atomic import atomic_file
from .config import NetworkConfig
from .network import A2I3DEMNet

FORMAT_NAME = "napari-a2i3dem-model"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format", "format_version", "package_version", "network", "state_dict",
                 "degradation", "spacing", "ratio", "intensity")
_MAGIC = {b"II*\x00": "a TIFF image", b"MM\x00*": "a TIFF image", b"II+\x00": "a BigTIFF image",
          b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"\x93NUMPY": "a NumPy array"}


@dataclass
class LoadedModel:
    """A network ready for inference (eval mode) and the facts it was trained with."""

    model: A2I3DEMNet
    network_config: NetworkConfig
    degradation: dict
    spacing: tuple[float, float, float]
    ratio: float
    intensity: dict
    version: str
    extra: dict | None = None
    path: Path | None = field(default=None)


def _check_plain(value: Any, where: str) -> None:
    """Refuse anything ``torch.load(weights_only=True)`` could not read back."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise InputError(f"{where} has a key of type {type(key).__name__}; use strings")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise InputError(
        f"{where} holds a {type(value).__name__}; model files take only plain data "
        "(dicts, lists, strings, numbers, tensors)"
    )


def _spacing_triplet(spacing: Any) -> tuple[float, float, float]:
    values = tuple(float(v) for v in spacing)
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"spacing must be three positive numbers (z, y, x), got {spacing!r}")
    return values  # type: ignore[return-value]


def _unwrap(model: nn.Module) -> nn.Module:
    """The plain module behind ``torch.compile`` / DataParallel wrappers."""
    for attribute in ("_orig_mod", "module"):
        inner = getattr(model, attribute, None)
        if isinstance(inner, nn.Module):
            return _unwrap(inner)
    return model


def save_model(path: str | os.PathLike, model: nn.Module, *, degradation: dict, spacing,
               ratio: float, intensity: dict, extra: dict | None = None) -> Path:
    """Write a model file atomically (temporary file in the same folder, then ``os.replace``)."""
    net = _unwrap(model)
    if not isinstance(net, A2I3DEMNet):
        raise InputError(f"save_model needs an A2I3DEMNet, got {type(net).__name__}")
    try:
        spacing_t = _spacing_triplet(spacing)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from exc
    ratio = float(ratio)
    if not (math.isfinite(ratio) and ratio >= 1):
        raise InputError(f"ratio must be a finite number >= 1, got {ratio}")
    for name, value in (("degradation", degradation), ("intensity", intensity)):
        if not isinstance(value, dict):
            raise InputError(f"{name} must be a dict (use .to_dict()), got {type(value).__name__}")
    if extra is not None and not isinstance(extra, dict):
        raise InputError(f"extra must be a dict or None, got {type(extra).__name__}")
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "network": net.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "degradation": degradation,
        "spacing": list(spacing_t),
        "ratio": ratio,
        "intensity": dict(intensity),
        "extra": extra,
    }
    for key in ("degradation", "intensity", "extra"):
        _check_plain(payload[key], key)

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name for the model")
    with atomic_file(path) as handle:
        torch.save(payload, handle)
    return path


def _describe_foreign_file(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return None
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            return what
    return None


def _read_payload(path: Path, map_location) -> dict:
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file")
    foreign = _describe_foreign_file(path)
    if foreign:
        raise ModelFileError(f"{path} is {foreign}, not a napari-a2i3dem model file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for foreign/corrupt files
        reason = torch_load_reason(exc)
        raise ModelFileError(
            f"{path} is not a napari-a2i3dem model file (torch could not read it: {reason[:200]})"
        ) from exc
    if not isinstance(payload, dict):
        raise ModelFileError(
            f"{path} holds a {type(payload).__name__}, not a napari-a2i3dem model "
            "(a model file holds a dict with weights and settings)"
        )
    if payload.get("format") != FORMAT_NAME:
        hint = " (it looks like a bare state_dict)" if payload and all(
            isinstance(v, torch.Tensor) for v in payload.values()) else ""
        raise ModelFileError(f"{path} is not a napari-a2i3dem model file{hint}")
    version = payload.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(f"{path} has no valid format_version; the file is damaged")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer napari-a2i3dem "
            f"({payload.get('package_version', '?')}, model format {version}); this version "
            f"({__version__}) reads model format {FORMAT_VERSION} — please upgrade"
        )
    if version < 1:
        raise ModelFileError(f"{path} has unsupported model format {version}")
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ModelFileError(f"{path} is an incomplete model file: missing {', '.join(missing)}")
    return payload


def torch_load_reason(exc: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in one line, without torch's advice to retry
    with ``weights_only=False`` (that would run whatever the file holds)."""
    text = str(exc).strip()
    if "weights_only" in text or "Weights only load failed" in text:
        return ("it holds Python objects besides tensors, which are never unpickled here "
                "(a file from another tool, or a tampered one)")
    return text.splitlines()[0][:200] if text else type(exc).__name__


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> LoadedModel:
    """Read and validate a model file; the network comes back in eval mode on ``map_location``.
    A BioImage Model Zoo package (``.zip``, see :mod:`napari_a2i3dem.core.io.bioimageio`) is read
    too (weights only)."""
    path = Path(path)
    from ..io.bioimageio import is_bioimageio_package, load_bioimageio

    if is_bioimageio_package(path):
        loaded = load_bioimageio(path)
        loaded.model.to(map_location)
        return loaded
    payload = _read_payload(path, map_location)
    try:
        config = NetworkConfig.from_dict(payload["network"])
    except InputError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc
    problems = []
    try:
        spacing = _spacing_triplet(payload["spacing"])
    except (TypeError, ValueError) as exc:
        problems.append(str(exc))
        spacing = (1.0, 1.0, 1.0)
    ratio = payload["ratio"]
    if not (isinstance(ratio, (int, float)) and math.isfinite(ratio) and ratio >= 1):
        problems.append(f"ratio must be a number >= 1, got {ratio!r}")
    intensity = payload["intensity"]
    if not (isinstance(intensity, dict) and {"low", "high"} <= set(intensity)
            and float(intensity["high"]) > float(intensity["low"])):
        problems.append(f"intensity must be a dict with low < high, got {intensity!r}")
    if not isinstance(payload["degradation"], dict):
        problems.append("degradation must be a dict")
    if not isinstance(payload["state_dict"], dict):
        problems.append("state_dict must be a dict of tensors")
    if problems:
        raise ModelFileError(f"{path} has invalid settings: " + "; ".join(problems))

    model = A2I3DEMNet(config)
    state = payload["state_dict"]
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(
        k for k in set(own) & set(state)
        if not isinstance(state[k], torch.Tensor) or state[k].shape != own[k].shape
    )
    if missing or unexpected or mismatched:
        details = []
        for label, keys in (("missing", missing), ("unexpected", unexpected),
                            ("wrong shape", mismatched)):
            if keys:
                more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
                shown = ", ".join(keys[:3]) + more
                details.append(f"{label}: {shown}")
        raise ModelFileError(
            f"{path}: the weights do not match the stored architecture ({'; '.join(details)})"
        )
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ModelFileError(
            f"{path}: weights contain NaN or infinite values ({', '.join(bad[:3])}); "
            "the training that wrote it diverged"
        )
    model.load_state_dict(state)
    model.to(map_location).eval()
    return LoadedModel(
        model=model, network_config=config, degradation=dict(payload["degradation"]),
        spacing=spacing, ratio=float(ratio), intensity=dict(intensity),
        version=str(payload["package_version"]), extra=payload.get("extra"), path=path,
    )


#: What a model trained before the section map misses (docs/model.md#the-section-map)
OLD_NETWORK_NOTE = ("trained without the section map: training again gains about +0.1 dB on "
                    "thick sections and +0.5 dB on every-third-plane sampling")


def describe_model(loaded: LoadedModel) -> str:
    """One line for a person choosing a model: ratio, spacing, preset, training length, score."""
    extra = loaded.extra or {}
    train = extra.get("train_config") or {}
    spacing = " × ".join(f"{v:g}" for v in loaded.spacing)
    parts = [f"trained for ρ = {loaded.ratio:.4g} ({spacing} nm)"]
    if train.get("preset"):
        parts.append(f"preset {train['preset']}")
    if extra.get("steps") is not None:
        parts.append(f"{int(extra['steps'])} steps")
    psnr, cubic = extra.get("validation_psnr"), extra.get("cubic_psnr")
    if psnr is not None and math.isfinite(float(psnr)):
        against = (f" (cubic {float(cubic):.2f})" if cubic is not None
                   and math.isfinite(float(cubic)) else "")
        parts.append(f"validation PSNR {float(psnr):.2f} dB{against}")
    check = extra.get("model_check") or {}
    if check.get("warnings"):
        parts.append("check after training warned: " + str(check["warnings"][0]))
    if not loaded.network_config.section_input:
        parts.append(OLD_NETWORK_NOTE)
    return ", ".join(parts)
