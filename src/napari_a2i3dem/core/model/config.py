"""Architecture settings of the A2I-3DEM network, and the named presets (data, not subclasses)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from ..errors import InputError

SKIP_MODES = ("concat", "add")


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "depths", tuple(int(d) for d in self.depths))
        object.__setattr__(self, "heads", tuple(int(h) for h in self.heads))
        problems = []
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
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise InputError(f"invalid network configuration: {exc}") from exc


PRESETS: dict[str, NetworkConfig] = {
    # Fast enough to train usefully on a 2-core CPU in minutes (K = 3, one block per stage).
    "tiny": NetworkConfig(
        channels=16, depths=(1, 1), heads=(1, 2), bottleneck_depth=1, bottleneck_heads=4,
        window=8, mlp_ratio=2.0,
    ),
    # A laptop-GPU / patient-CPU model (K = 4).
    "small": NetworkConfig(
        channels=24, depths=(2, 2, 2), heads=(1, 2, 4), bottleneck_depth=2, bottleneck_heads=8,
        window=8, mlp_ratio=4.0, shift_windows=True,
    ),
    # The paper's configuration, close to Uformer-B (C = 32, K = 5, window 8).
    "base": NetworkConfig(
        channels=32, depths=(2, 2, 8, 8), heads=(1, 2, 4, 8), bottleneck_depth=2,
        bottleneck_heads=16, window=8, mlp_ratio=4.0, shift_windows=True,
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
