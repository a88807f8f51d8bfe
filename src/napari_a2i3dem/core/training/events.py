"""Progress events the training engine yields, in the order a run produces them.

A run yields one :class:`TrainingStarted`, then per step a :class:`StepProgress` (every
``log_every`` steps), every so often :class:`ValidationResult`, :class:`PreviewImage` and
:class:`CheckpointSaved`, :class:`Paused` / :class:`Resumed` around a pause, and finally one
:class:`TrainingFinished`. All are plain dataclasses so a terminal, a batch job or a napari widget
can consume them alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class QualityMetrics:
    """Mean L1, PSNR (dB) and SSIM of a set of validation patches against their clean targets."""

    l1: float
    psnr: float
    ssim: float

    def to_dict(self) -> dict[str, float]:
        return {"l1": self.l1, "psnr": self.psnr, "ssim": self.ssim}

    @classmethod
    def from_dict(cls, d: dict) -> QualityMetrics:
        return cls(float(d["l1"]), float(d["psnr"]), float(d["ssim"]))


@dataclass(frozen=True)
class TrainingEvent:
    """Base of all events: ``step`` is the number of optimisation steps completed so far."""

    step: int


@dataclass(frozen=True)
class TrainingStarted(TrainingEvent):
    """Set-up is done. ``start_step > 0`` when resuming; the histories then hold the earlier run."""

    total_steps: int
    start_step: int
    device: str
    parameters: int
    cubic: QualityMetrics
    loss_history: tuple[tuple[int, float], ...] = ()
    validation_history: tuple[ValidationResult, ...] = ()
    degradation: str = ""          # what the pairs simulate, in words
    calibration: str = ""          # the estimate it came from, when calibrated to the stack
    precision: str = "float32"     # the forward's: "bfloat16" / "float16" under mixed precision

    @property
    def where(self) -> str:
        """The device and, under mixed precision, its dtype: ``"cpu (bfloat16)"``."""
        return self.device if self.precision == "float32" else f"{self.device} ({self.precision})"

    def describe(self) -> str:
        """One line for a log or a status bar."""
        return (f"training {self.parameters / 1e6:.2f} M parameters on {self.where}, steps "
                f"{self.start_step}->{self.total_steps}; cubic validation PSNR "
                f"{self.cubic.psnr:.2f} dB")


@dataclass(frozen=True)
class StepProgress(TrainingEvent):
    """Training loss of the latest step and the running speed."""

    total_steps: int
    loss: float
    learning_rate: float
    steps_per_second: float
    eta_seconds: float
    loss_parts: dict[str, float] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return self.step / max(1, self.total_steps)


@dataclass(frozen=True)
class ValidationResult(TrainingEvent):
    """Held-out validation: the network's output and, for reference, the plain cubic input."""

    network: QualityMetrics
    cubic: QualityMetrics
    is_best: bool = False

    def describe(self, *, with_ssim: bool = False) -> str:
        """``val PSNR 31.20 dB (cubic 30.50)``, with the SSIMs when asked."""
        text = f"val PSNR {self.network.psnr:.2f} dB (cubic {self.cubic.psnr:.2f})"
        if with_ssim:
            text += f", SSIM {self.network.ssim:.3f} (cubic {self.cubic.ssim:.3f})"
        return text

    def to_dict(self) -> dict:
        return {"step": self.step, "network": self.network.to_dict(),
                "cubic": self.cubic.to_dict(), "is_best": self.is_best}

    @classmethod
    def from_dict(cls, d: dict) -> ValidationResult:
        return cls(int(d["step"]), QualityMetrics.from_dict(d["network"]),
                   QualityMetrics.from_dict(d["cubic"]), bool(d.get("is_best", False)))


@dataclass(frozen=True, eq=False)
class PreviewImage(TrainingEvent):
    """The network applied to one real axial plane of the stack (stack intensity units, float32).

    ``plane`` is ``"xz"`` (rows = isotropic z, columns = x) taken at ``index`` along y; ``cubic``
    is the plain cubic-interpolated plane the network received.
    """

    prediction: np.ndarray
    cubic: np.ndarray
    plane: str
    index: int


@dataclass(frozen=True)
class CheckpointSaved(TrainingEvent):
    path: Path


@dataclass(frozen=True)
class Paused(TrainingEvent):
    pass


@dataclass(frozen=True)
class Resumed(TrainingEvent):
    pass


@dataclass(frozen=True)
class ModelChecked(TrainingEvent):
    """The no-truth check of the model to be saved (:mod:`.model_check`):
    ``passed`` is False when it may be worse than interpolation on this stack; ``summary`` says
    why in words, ``record`` holds the numbers."""

    passed: bool
    summary: str
    warnings: tuple[str, ...] = ()
    record: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingFinished(TrainingEvent):
    """The run ended: ``reason`` is ``"completed"`` or ``"cancelled"``.

    ``model_path`` is the saved model (best validation PSNR), ``checkpoint_path`` the resumable
    state at ``step``; either is ``None`` when no path was configured.
    """

    total_steps: int
    reason: str
    model_path: Path | None
    checkpoint_path: Path | None
    best_step: int
    best_psnr: float
    cubic_psnr: float
    elapsed_seconds: float

    def describe(self) -> str:
        """What was kept: ``finished at step 900: saved m.pt, validation PSNR 31.20 dB at step
        800 (cubic 30.50 dB)``."""
        verb = "finished" if self.reason == "completed" else "stopped"
        if self.model_path is None:
            return f"{verb} at step {self.step} (no model file configured)"
        return (f"{verb} at step {self.step}: saved {self.model_path}, validation "
                f"PSNR {self.best_psnr:.2f} dB at step {self.best_step} (cubic "
                f"{self.cubic_psnr:.2f} dB)")
