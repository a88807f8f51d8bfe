"""The whole job without a GUI: anisotropic stack -> trained network -> isotropic volume.

Used by ``a2i3dem demo`` and by ``benchmarks/quality.py``; both add their own scoring and figures
(:mod:`.evaluation`, :mod:`.figures`). Training runs either a fixed number of steps or as many as
fit a time budget (measured on this machine first, so the learning-rate schedule still completes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..physics.acquisition import isotropic_length, upsample_axis
from ..validation import validate_ratio
from .config import TrainConfig
from .engine import Trainer
from .events import StepProgress, TrainingEvent, TrainingFinished

INTERPOLATIONS = ("nearest", "linear", "cubic")


def interpolate_z(stack, ratio: float, method: str = "cubic",
                  out_len: int | None = None) -> np.ndarray:
    """Plain interpolation of a (z, y, x) stack onto the isotropic grid (float32).

    Sample ``k`` sits at fine plane ``k * ratio`` for every method (the convention of
    :mod:`.acquisition`). ``cubic`` is the shared B-spline operator the network is trained with;
    ``linear`` and ``nearest`` hold the edge value beyond the last sample.
    """
    ratio = validate_ratio(ratio)
    stack = np.asarray(stack, dtype=np.float32)
    n = stack.shape[0]
    out_len = isotropic_length(n, ratio) if out_len is None else int(out_len)
    if method == "cubic":
        return upsample_axis(stack, ratio, axis=0, out_len=out_len)
    coords = np.arange(out_len, dtype=np.float64) / ratio
    if method == "nearest":
        return stack[np.clip(np.floor(coords + 0.5).astype(int), 0, n - 1)]
    if method == "linear":
        matrix = np.zeros((out_len, n), dtype=np.float32)
        for k in range(n):
            unit = np.zeros(n)
            unit[k] = 1.0
            matrix[:, k] = ndimage.map_coordinates(unit, coords[None], order=1, mode="nearest")
        return np.tensordot(matrix, stack, axes=(1, 0))
    raise InputError(f"interpolation must be one of {INTERPOLATIONS}, got {method!r}")


@dataclass
class TrainingPlan:
    """How to train: the network preset and the run's settings.

    ``steps`` fixes the run length; with ``seconds`` instead, the speed is measured on a short
    probe run and ``steps`` chosen to fill the budget (a run that still overruns by 20 % is
    cancelled, which saves the best model so far).
    """

    preset: str = "tiny"
    steps: int | None = 300
    seconds: float | None = None
    batch_size: int = 8
    patch_size: int = 64
    lr: float | None = None              # None: the preset's default
    device: str = "auto"
    seed: int = 0
    degradation: object | None = None     # a DegradationConfig; None: the default one
    extra: dict = field(default_factory=dict)  # more TrainConfig fields

    def config(self, steps: int) -> TrainConfig:
        return TrainConfig(preset=self.preset, steps=int(steps), batch_size=self.batch_size,
                           patch_size=self.patch_size, lr=self.lr, device=self.device,
                           seed=self.seed, **self.extra)


def measure_training_speed(stack, ratio: float, plan: TrainingPlan, probe_steps: int = 8,
                           warmup_steps: int = 2) -> float:
    """Training steps per second of ``plan`` on this machine, from a short throw-away run."""
    config = replace(plan, extra={**plan.extra, "validation_count": 1, "validation_every": 10**6,
                                  "preview_every": 10**6}).config(warmup_steps + probe_steps)
    trainer = Trainer(stack, ratio=ratio, degradation=plan.degradation, config=config)
    started = None
    for event in trainer.run():
        if not isinstance(event, StepProgress):
            continue
        if event.step == warmup_steps:        # the first steps pay for warm-up
            started = time.perf_counter()
        elif event.step == warmup_steps + probe_steps and started is not None:
            return probe_steps / max(time.perf_counter() - started, 1e-6)
    raise RuntimeError("the probe training run ended before it could be timed")


def train_model(stack, *, ratio: float, spacing: tuple[float, float, float] | None,
                plan: TrainingPlan, model_path: str | Path,
                on_event: Callable[[TrainingEvent], None] | None = None,
                ) -> TrainingFinished:
    """Train on ``stack``'s own xy planes and save the best model to ``model_path``.

    With a time budget (``plan.seconds``) the run length comes from a probe of this machine's
    speed; if the machine turns out faster (another job finished), the run is extended from its
    checkpoint to fill the budget, and if slower it is cancelled at the deadline (the best
    model so far is kept). The CPU is often shared, so the first estimate alone is not enough.
    """
    if plan.seconds is None and plan.steps is None:
        raise InputError("give the training either a number of steps or a time budget")
    budget_start = time.perf_counter()
    if plan.seconds is None:
        steps, deadline = int(plan.steps), math.inf
    else:
        rate = measure_training_speed(stack, ratio, plan)
        deadline = budget_start + plan.seconds
        steps = max(10, int(rate * (deadline - time.perf_counter())))
    resume_from: Path | None = None
    while True:
        trainer = Trainer(stack, ratio=ratio, spacing=spacing, degradation=plan.degradation,
                          config=plan.config(steps), model_path=model_path,
                          resume_from=resume_from)
        chunk_start, first_step = time.perf_counter(), None
        finished = None
        for event in trainer.run():
            if first_step is None:            # set-up done: time the steps from here
                chunk_start, first_step = time.perf_counter(), event.step
            if on_event is not None:
                on_event(event)
            if isinstance(event, TrainingFinished):
                finished = event
            elif time.perf_counter() > deadline and not trainer.cancel_requested:
                trainer.cancel()
        if finished is None or finished.model_path is None:
            raise RuntimeError("training ended without saving a model")
        remaining = deadline - time.perf_counter()
        if finished.reason != "completed" or not math.isfinite(deadline) \
                or finished.checkpoint_path is None:
            return finished
        rate = (finished.step - (first_step or 0)) / max(time.perf_counter() - chunk_start, 1e-6)
        more = int(0.9 * rate * remaining)
        if more < max(10, steps // 20):
            return finished
        resume_from, steps = finished.checkpoint_path, finished.step + more


def reconstruct_isotropic(stack, model, ratio: float, *, device: str = "auto",
                          tile: int = 256, overlap: int = 32, batch: int = 4,
                          on_progress: Callable | None = None) -> np.ndarray:
    """The A2I-3DEM volume of ``stack`` (same dtype as ``stack``; pass float32 to keep it)."""
    from ..inference.reconstruction import reconstruct_volume

    volume, _ = reconstruct_volume(stack, model, ratio, device=device, tile=tile,
                                   overlap=overlap, batch=batch, confidence=False,
                                   on_progress=on_progress)
    return volume
