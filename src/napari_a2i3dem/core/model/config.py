"""Architecture settings of the A2I-3DEM network, and the named presets (data, not subclasses)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from ..errors import InputError

SKIP_MODES = ("concat", "add")


#: Upper bounds for a network read from a file: far above every preset (base: 32 channels, 4
#: encoder stages), far below what would exhaust memory while the network is built (a crafted
#: file with 65,536 channels or 28 levels asked for tens of GB before any check).
LIMITS = {"channels": 256, "stages": 6, "blocks": 32, "heads": 64, "window": 64,
          "mlp_ratio": 16.0, "in_channels": 16}
INT_FIELDS = ("channels", "bottleneck_depth", "bottleneck_heads", "window", "in_channels")
FLOAT_FIELDS = ("mlp_ratio", "output_init_scale")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_types(config) -> None:
    """Wrong types (a string for a count, ...) are an InputError, never a traceback later."""
    bad = [name for name in INT_FIELDS if not _is_int(getattr(config, name))]
    bad += [name for name in FLOAT_FIELDS
            if isinstance(getattr(config, name), bool)
            or not isinstance(getattr(config, name), (int, float, np.number))]
    for name in ("depths", "heads"):
        value = getattr(config, name)
        if not isinstance(value, (tuple, list)) or not all(_is_int(v) for v in value):
            bad.append(name)
    for name in ("shift_windows", "qkv_bias", "section_input"):
        if not isinstance(getattr(config, name), bool):
            bad.append(name)
    if not isinstance(config.skip, str):
        bad.append("skip")
    if bad:
        raise InputError("invalid network configuration: wrong type for "
                         + ", ".join(f"{name} ({getattr(config, name)!r})" for name in bad))


def _out_of_bounds(config) -> list[str]:
    problems = []
    if config.channels > LIMITS["channels"]:
        problems.append(f"channels {config.channels} > {LIMITS['channels']}")
    if len(config.depths) > LIMITS["stages"]:
        problems.append(f"{len(config.depths)} encoder stages > {LIMITS['stages']}")
    if max((*config.depths, config.bottleneck_depth)) > LIMITS["blocks"]:
        problems.append(f"more than {LIMITS['blocks']} blocks in a stage")
    if max((*config.heads, config.bottleneck_heads)) > LIMITS["heads"]:
        problems.append(f"more than {LIMITS['heads']} attention heads")
    if config.window > LIMITS["window"]:
        problems.append(f"window {config.window} > {LIMITS['window']}")
    if math.isfinite(config.mlp_ratio) and config.mlp_ratio > LIMITS["mlp_ratio"]:
        problems.append(f"mlp_ratio {config.mlp_ratio} > {LIMITS['mlp_ratio']}")
    if config.in_channels > LIMITS["in_channels"]:
        problems.append(f"in_channels {config.in_channels} > {LIMITS['in_channels']}")
    return problems


@dataclass(frozen=True)
class NetworkConfig:
    """Shape of an :class:`~napari_a2i3dem.core.model.A2I3DEMNet`.

    The U has ``levels`` (K) resolutions: encoder stages at scales ``1 .. 1/2^(K-2)`` each followed
    by a stride-2 down-sampling that doubles the channels, the bottleneck at ``1/2^(K-1)``, and a
    mirrored decoder. ``depths[i]`` / ``heads[i]`` are the ViT blocks / attention heads of encoder
    stage ``i`` and of the decoder stage at the same scale; the bottleneck has its own.
    """

    channels: int = 16
    depths: tuple[int, ...] = (1, 1)
    heads: tuple[int, ...] = (1, 2)
    bottleneck_depth: int = 1
    bottleneck_heads: int = 4
    window: int = 8
    mlp_ratio: float = 2.0
    shift_windows: bool = False
    skip: str = "concat"
    qkv_bias: bool = True
    in_channels: int = 1
    output_init_scale: float = 0.01
    #: the plane comes with one more channel, where the acquired sections lie
    #: (:func:`~napari_a2i3dem.core.physics.acquisition.section_map`); off in files saved
    #: before it existed, on in every preset
    section_input: bool = False

    def __post_init__(self) -> None:
        _check_types(self)
        object.__setattr__(self, "depths", tuple(int(d) for d in self.depths))
        object.__setattr__(self, "heads", tuple(int(h) for h in self.heads))
        problems = _out_of_bounds(self)
        if self.channels < 1:
            problems.append(f"channels must be >= 1, got {self.channels}")
        if len(self.depths) < 1:
            problems.append("depths needs at least one encoder stage")
        if len(self.heads) != len(self.depths):
            problems.append(
                f"heads has {len(self.heads)} entries but depths has {len(self.depths)}"
            )
        if any(d < 1 for d in self.depths) or self.bottleneck_depth < 1:
            problems.append("every stage needs at least one block (depths, bottleneck_depth >= 1)")
        for i, h in enumerate(self.heads):
            width = self.channels * 2**i
            if h < 1 or width % h:
                problems.append(f"stage {i}: {width} channels cannot be split into {h} heads")
        bottom = self.channels * 2 ** len(self.depths)
        if self.bottleneck_heads < 1 or bottom % self.bottleneck_heads:
            problems.append(
                f"bottleneck: {bottom} channels cannot be split into {self.bottleneck_heads} heads"
            )
        if self.window < 1:
            problems.append(f"window must be >= 1, got {self.window}")
        if not (math.isfinite(self.mlp_ratio) and self.mlp_ratio > 0):
            problems.append(f"mlp_ratio must be > 0, got {self.mlp_ratio}")
        if self.skip not in SKIP_MODES:
            problems.append(f"skip must be one of {SKIP_MODES}, got {self.skip!r}")
        if self.in_channels < 1:
            problems.append(f"in_channels must be >= 1, got {self.in_channels}")
        if problems:
            raise InputError("invalid network configuration: " + "; ".join(problems))

    @property
    def levels(self) -> int:
        """K: number of resolutions, bottleneck included."""
        return len(self.depths) + 1

    @property
    def input_channels(self) -> int:
        """Channels of the network's input: the image's, plus the section map's when asked."""
        return self.in_channels + int(self.section_input)

    @property
    def size_multiple(self) -> int:
        """Planes are padded to a multiple of this: ``window * 2^(K-1)``."""
        return self.window * 2 ** len(self.depths)

    def with_changes(self, **changes) -> NetworkConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain dict (lists, numbers, strings) safe for ``torch.load(weights_only=True)``."""
        d = asdict(self)
        d["depths"] = list(self.depths)
        d["heads"] = list(self.heads)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> NetworkConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error, missing keys take defaults."""
        if not isinstance(d, dict):
            raise InputError(f"a network configuration must be a dict, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"unknown network configuration keys: {', '.join(unknown)}")
        kwargs = dict(d)
        for key in ("depths", "heads"):
            if key in kwargs and isinstance(kwargs[key], (list, tuple)):
                kwargs[key] = tuple(kwargs[key])
        try:
            return cls(**kwargs)
        except InputError:
            raise
        except (TypeError, ValueError) as exc:
            raise InputError(f"invalid network configuration: {exc}") from exc


PRESETS: dict[str, NetworkConfig] = {
    # Fast enough to train usefully on a 2-core CPU in minutes (K = 3, one block per stage).
    "tiny": NetworkConfig(
        channels=16, depths=(1, 1), heads=(1, 2), bottleneck_depth=1, bottleneck_heads=4,
        window=8, mlp_ratio=2.0, section_input=True,
    ),
    # A laptop-GPU / patient-CPU model (K = 4).
    "small": NetworkConfig(
        channels=24, depths=(2, 2, 2), heads=(1, 2, 4), bottleneck_depth=2, bottleneck_heads=8,
        window=8, mlp_ratio=4.0, shift_windows=True, section_input=True,
    ),
    # The paper's configuration, close to Uformer-B (C = 32, K = 5, window 8).
    "base": NetworkConfig(
        channels=32, depths=(2, 2, 8, 8), heads=(1, 2, 4, 8), bottleneck_depth=2,
        bottleneck_heads=16, window=8, mlp_ratio=4.0, shift_windows=True, section_input=True,
    ),
}


def preset(name: str) -> NetworkConfig:
    """The named preset (``"tiny"``, ``"small"`` or ``"base"``)."""
    key = str(name).strip().lower()
    if key not in PRESETS:
        raise InputError(
            f"unknown network preset {name!r}; choose one of: {', '.join(PRESETS)}"
        )
    return PRESETS[key]
