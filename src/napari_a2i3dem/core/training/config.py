"""Settings of one training run (:class:`TrainConfig`), the learning rates by preset and the
patch size a preset wants: what a run learns and how it is carried out, without the engine."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch

from ..choices import PIXEL_LOSSES
from ..errors import InputError
from .lr_schedule import default_warmup_steps

DEFAULT_LEARNING_RATES = {"tiny": 2e-3, "small": 5e-4, "base": 1e-4}
"""Peak Adam learning rates by preset. "tiny" was measured on CPU (120-step runs on the sample
stack: 2e-3 > 1e-3 > 5e-4 > 1e-4 in validation PSNR); "base" keeps the paper's 1e-4 for long GPU
runs; "small" lies between. See docs/training.md."""

# Settings that only change how a run is carried out, not what it learns: a resumed run takes
# these from the caller's config, everything else from the checkpoint.
RUNTIME_FIELDS = ("steps", "device", "threads", "check_model", "num_workers", "validation_every",
                  "preview_every",
                  "checkpoint_every", "log_every", "preview_max_size")


@dataclass
class TrainConfig:
    """Settings of one training run (everything but the data and the degradation model).

    ``threads``: torch CPU threads for the run (restored afterwards); ``None`` leaves torch's
    setting. One thread is far more robust on a machine whose cores are busy with other work.
    ``pixel_loss``: "rmse" (default) or the paper's "l1" (why: core.model.loss).
    ``lr``: Adam's peak learning rate, reached after ``warmup_steps`` (default 5 % of the run)
    and decayed by a cosine to ``min_lr_fraction * lr``; ``None`` picks
    :data:`DEFAULT_LEARNING_RATES` for the preset (measurements in docs/training.md). Interval
    settings left at ``None`` are chosen from ``steps`` (see :meth:`interval`). ``network``
    overrides fields of the preset's :class:`NetworkConfig`.
    """

    preset: str = "tiny"
    steps: int = 2000
    batch_size: int = 8
    patch_size: int = 64
    lr: float | None = None
    warmup_steps: int | None = None
    min_lr_fraction: float = 0.05
    grad_clip: float = 1.0
    loss_alpha: float = 0.01
    pixel_loss: str = "rmse"
    device: str = "auto"
    mixed_precision: bool = True
    num_workers: int | None = None
    seed: int = 0
    validation_every: int | None = None
    validation_count: int = 32
    preview_every: int | None = None
    checkpoint_every: int | None = None
    log_every: int = 1
    keep_best: bool = True
    preview_max_size: int = 384
    threads: int | None = None
    check_model: bool = True
    network: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`InputError` naming the first setting that cannot work."""
        positive = {"steps": self.steps, "batch_size": self.batch_size,
                    "validation_count": self.validation_count, "log_every": self.log_every,
                    "preview_max_size": self.preview_max_size}
        for name in ("validation_every", "preview_every", "checkpoint_every"):
            if getattr(self, name) is not None:
                positive[name] = getattr(self, name)
        for name, value in positive.items():
            if int(value) != value or value < 1:
                raise InputError(
                    f"training setting {name} must be a whole number >= 1, got {value}")
        if self.patch_size < 16:
            raise InputError(f"patch size must be at least 16 pixels, got {self.patch_size}")
        if self.lr is not None and not (np.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"learning rate must be a positive number, got {self.lr}")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise InputError(f"warm-up steps must be >= 0, got {self.warmup_steps}")
        if not 0 <= self.min_lr_fraction <= 1:
            raise InputError(f"min_lr_fraction must lie in [0, 1], got {self.min_lr_fraction}")
        if self.pixel_loss not in PIXEL_LOSSES:
            raise InputError(f"pixel loss must be 'rmse' or 'l1', got {self.pixel_loss!r}")
        if not self.grad_clip > 0:
            raise InputError(f"gradient clipping norm must be > 0, got {self.grad_clip}")
        if self.threads is not None and (int(self.threads) != self.threads or self.threads < 1):
            raise InputError(f"threads must be a whole number >= 1, got {self.threads}")
        if self.num_workers is not None and self.num_workers < 0:
            raise InputError(f"num_workers must be >= 0, got {self.num_workers}")

    def interval(self, kind: str) -> int:
        """Steps between validations/previews (about 25 per run) or checkpoints (about 10)."""
        value = getattr(self, f"{kind}_every")
        if value is not None:
            return int(value)
        if kind == "checkpoint":
            return int(np.clip(self.steps // 10, 50, 1000))
        return int(np.clip(self.steps // 25, 10, 500))

    def resolved_lr(self) -> float:
        """``lr``, or the preset's default when it is ``None``."""
        if self.lr is not None:
            return float(self.lr)
        return DEFAULT_LEARNING_RATES.get(self.preset, DEFAULT_LEARNING_RATES["base"])

    def resolved_warmup(self) -> int:
        return default_warmup_steps(self.steps) if self.warmup_steps is None else self.warmup_steps

    def resolved_workers(self, device: torch.device) -> int:
        """Data-loader processes: none on CPU (they would compete with the model for cores),
        up to 4 alongside a GPU."""
        if self.num_workers is not None:
            return int(self.num_workers)
        if device.type == "cpu":
            return 0
        return int(min(4, max(0, (os.cpu_count() or 1) - 1)))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values.setdefault("pixel_loss", "l1")  # runs saved before the option trained with L1
        return cls(**values)


def _model_api():
    """The model package (imported lazily so this module loads on its own)."""
    from .. import model

    return model


def recommended_patch_size(preset: str) -> int:
    """64, or the preset's padding multiple if larger (smaller patches are padded up to it, so
    the extra pixels would cost compute without adding data): 64 for tiny/small, 128 for base."""
    return max(64, int(_model_api().preset(preset).size_multiple))
