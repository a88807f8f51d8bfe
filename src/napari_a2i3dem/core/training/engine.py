"""The training engine: a Qt-free generator of progress events, used by the CLI, the napari
widget and batch jobs alike.

>>> trainer = Trainer(stack, spacing=(45.0, 15.0, 15.0), config=TrainConfig(steps=500),
...                   model_path="model.pt")
>>> for event in trainer.run():
...     print(event)

``trainer.cancel()``, ``trainer.pause()`` and ``trainer.resume()`` may be called from any thread.
A cancelled run still validates, writes its checkpoint and saves the best model so far; a run
that dies (exception, Ctrl-C, the consumer closing the generator) writes its checkpoint before the
error propagates. ``Trainer(..., resume_from="model.ckpt.pt")`` continues exactly where that
checkpoint stopped (same loss sequence on CPU as an uninterrupted run with the same total steps).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ... import __version__
from ..allocator import release_memory, tune_allocator
from ..analysis.metrics import psnr, ssim
from ..devices import (
    autocast,
    autocast_dtype,
    precision_name,
    select_device,
    torch_threads,
)
from ..errors import A2IError, InputError
from ..model.inputs import plane_input, wants_section_map
from ..normalization import IntensityScale
from ..physics.acquisition import upsample_axis
from ..validation import (
    find_non_finite,
    non_finite_message,
    ratio_from_spacing,
    validate_ratio,
    validate_spacing,
    validate_volume,
)
from .checkpoint import checkpoint_path_for, load_checkpoint, save_checkpoint
from .config import RUNTIME_FIELDS, TrainConfig, _model_api
from .events import (
    CheckpointSaved,
    ModelChecked,
    Paused,
    PreviewImage,
    QualityMetrics,
    Resumed,
    StepProgress,
    TrainingEvent,
    TrainingFinished,
    TrainingStarted,
    ValidationResult,
)
from .lr_schedule import WarmupCosine

CHECKPOINT_SECONDS = 300.0
"""A checkpoint at least every five minutes, whatever the step interval: a slow run (a large
preset on a CPU) never loses more than that to a kill or a crash."""

VALIDATION_SEED_OFFSET = 1_000_003
"""Validation pairs use ``seed + VALIDATION_SEED_OFFSET`` so they are not the training pairs."""

MAX_NONFINITE_STEPS = 20

class TrainingOutOfMemory(A2IError, MemoryError):
    """The device ran out of memory; the message names a smaller batch / patch size to try."""


class TrainingDiverged(A2IError, ArithmeticError):
    """The loss stayed NaN/inf; the message suggests a lower learning rate."""


def _pairs_api():
    from ..physics import degradations
    from . import pairs

    return degradations, pairs


def quality_metrics(prediction: np.ndarray, target: np.ndarray) -> QualityMetrics:
    """L1, PSNR and SSIM of (N, M, M) patches in network units (data range 1).

    PSNR pools the squared error over all patches (one flat patch cannot make it infinite);
    SSIM is the mean of per-patch 2-D SSIMs.
    """
    prediction = np.asarray(prediction, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    return QualityMetrics(l1=float(np.mean(np.abs(prediction - target))),
                          psnr=psnr(target, prediction, data_range=1.0),
                          ssim=ssim(target, prediction, data_range=1.0, axes=(-2, -1)))


def out_of_memory_advice(config: TrainConfig, device: torch.device) -> str:
    """A one-line explanation of an out-of-memory error with settings to try next."""
    if config.batch_size > 1:
        hint = f"try batch size {max(1, config.batch_size // 2)}"
    else:
        hint = "batch size is already 1"
    smaller_patch = max(16, (config.patch_size * 3 // 4) // 16 * 16)
    if smaller_patch < config.patch_size:
        hint += f", or patch size {smaller_patch}"
    if config.preset != "tiny":
        hint += ", or a smaller preset ('tiny')"
    return (f"{device.type.upper()} ran out of memory training preset '{config.preset}' with "
            f"batch size {config.batch_size} and patch size {config.patch_size}; {hint}")


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT (Ctrl-C) back while the block runs, then deliver it: a second Ctrl-C during
    the emergency checkpoint must not leave the previous, older checkpoint as the last word.
    Outside the main thread (a widget's worker) signals are the main thread's; nothing to do."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    import signal

    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def make_adam(parameters, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam with PyTorch's fused kernel on CPUs and CUDA GPUs (one call updates every
    parameter instead of about ten operations per parameter tensor: 46 tensors for ``tiny``),
    the multi-tensor path elsewhere. Same arithmetic: weights within 3e-7 after 40 steps."""
    return torch.optim.Adam(parameters, lr=lr, fused=device.type in ("cpu", "cuda"))


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


class Trainer:
    """One training run over ``stack`` (z, y, x), NumPy or dask, in the stack's own units.

    Give the anisotropy as ``ratio`` or as ``spacing`` (z, y, x); ``ratio`` wins when both are
    given (the spacing is then only recorded in the model file). ``model_path``: where the final
    model goes (``None``: not saved); ``checkpoint_path`` defaults to ``<model>.ckpt.pt`` next to
    it. ``resume_from``: a checkpoint to continue; its settings are used except the run-time ones
    in :data:`RUNTIME_FIELDS`, which come from ``config`` when given.
    """

    def __init__(self, stack, *, ratio: float | None = None,
                 spacing: tuple[float, float, float] | None = None, degradation=None,
                 config: TrainConfig | None = None, model_path: str | Path | None = None,
                 checkpoint_path: str | Path | None = None,
                 resume_from: str | Path | None = None) -> None:
        validate_volume(stack, name="training stack")
        if not isinstance(stack, np.ndarray) or isinstance(stack, np.memmap):
            where = find_non_finite(stack)  # lazy stacks: read a few planes at a time
            if where is not None:
                raise InputError(non_finite_message("training stack", where))
        self.stack = stack
        self.model_path = None if model_path is None else Path(model_path)
        if checkpoint_path is None and self.model_path is not None:
            checkpoint_path = checkpoint_path_for(self.model_path)
        self.checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
        self._resume_state = None if resume_from is None else load_checkpoint(resume_from)
        if self._resume_state is not None:
            self._init_from_checkpoint(self._resume_state, ratio, spacing, config)
        else:
            self._init_fresh(ratio, spacing, degradation, config)
        self.network_config()  # an unknown preset or a bad override fails here, not in a thread
        plane = min(int(stack.shape[1]), int(stack.shape[2]))
        if self.config.patch_size > plane:
            raise InputError(
                f"patch size {self.config.patch_size} is larger than the stack's xy planes "
                f"({stack.shape[1]} x {stack.shape[2]}); choose at most {plane}")
        self.calibration = None
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.model: torch.nn.Module | None = None
        self.step = 0
        self.checkpoint_step = 0       # the step the checkpoint file holds (0: none saved)

    # ----------------------------------------------------------------------------- set-up
    def _init_fresh(self, ratio, spacing, degradation, config) -> None:
        if ratio is None and spacing is None:
            raise InputError("give the stack's voxel spacing (z, y, x) or the up-sampling ratio")
        self.spacing = None if spacing is None else validate_spacing(spacing)
        self.ratio = validate_ratio(ratio) if ratio is not None else ratio_from_spacing(spacing)
        if self.spacing is None:
            self.spacing = (self.ratio, 1.0, 1.0)
        # None: calibrated to the stack when the run starts (core.physics.calibration)
        self.degradation = degradation
        self.config = config if config is not None else TrainConfig()
        self.scale: IntensityScale | None = None  # estimated when the run starts (may be slow)

    def _init_from_checkpoint(self, state: dict, ratio, spacing, config) -> None:
        degradations, _ = _pairs_api()
        self.ratio = float(state["ratio"])
        self.spacing = tuple(float(s) for s in state["spacing"])
        given = ratio if ratio is not None else (ratio_from_spacing(spacing) if spacing else None)
        if given is not None and abs(float(given) - self.ratio) > 1e-3 * self.ratio:
            raise InputError(
                f"the checkpoint was trained for ratio {self.ratio:.4g} but ratio "
                f"{float(given):.4g} was given; resume with the same stack and spacing"
            )
        saved = TrainConfig.from_dict(dict(state["train_config"]))
        if config is not None:
            saved = TrainConfig.from_dict(
                {**saved.to_dict(), **{k: getattr(config, k) for k in RUNTIME_FIELDS}}
            )
        self.config = saved
        self.degradation = degradations.DegradationConfig.from_dict(dict(state["degradation"]))
        self.scale = IntensityScale.from_dict(dict(state["intensity"]))
        if self.config.steps <= int(state["step"]):
            raise InputError(
                f"the checkpoint already holds {int(state['step'])} steps; ask for more than "
                f"that many total steps to continue (got {self.config.steps})"
            )

    def calibrate(self):
        """Estimate the stack's slice profile and noise and train with them (the default when
        no degradation was given); returns the :class:`~.calibration.DegradationEstimate`."""
        from ..physics.calibration import training_degradation

        if self.scale is None:
            self.scale = IntensityScale.from_stack(self.stack, seed=self.config.seed)
        self.degradation, self.calibration = training_degradation(
            self.stack, self.ratio, scale=self.scale, seed=self.config.seed)
        return self.calibration

    def network_config(self):
        """The :class:`NetworkConfig` of this run (preset plus ``config.network`` overrides)."""
        model = _model_api()
        if self._resume_state is not None:
            return model.NetworkConfig.from_dict(dict(self._resume_state["network_config"]))
        base = model.preset(self.config.preset)
        if not self.config.network:
            return base
        return model.NetworkConfig.from_dict({**base.to_dict(), **self.config.network})

    # ------------------------------------------------------------------------- control
    def cancel(self) -> None:
        """Ask the run to stop after the current step (it then saves and finishes)."""
        self._cancel.set()
        self._running.set()

    def pause(self) -> None:
        """Hold the run before its next step until :meth:`resume` or :meth:`cancel`."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    # ------------------------------------------------------------------------- the run
    def run(self) -> Iterator[TrainingEvent]:
        """Train, yielding :mod:`~napari_a2i3dem.core.training.events` events."""
        tune_allocator()
        try:
            with torch_threads(self.config.threads):
                yield from self._run()
        finally:
            release_memory()

    def _run(self) -> Iterator[TrainingEvent]:
        cfg = self.config
        self.device = device = select_device(cfg.device)
        _, patches = _pairs_api()
        model_api = _model_api()
        if self.scale is None:
            self.scale = IntensityScale.from_stack(self.stack, seed=cfg.seed)
        if self.degradation is None:
            self.calibrate()

        torch.manual_seed(cfg.seed)
        model = model_api.A2I3DEMNet(self.network_config()).to(device)
        self.model = model
        loss_fn, optimizer, scheduler, scaler, amp_dtype = self._optimisation(model, model_api)

        self._loss_history: list[tuple[int, float]] = []
        self._validation_history: list[ValidationResult] = []
        self._best_state: dict | None = None
        self._best_step, self._best_psnr = 0, -float("inf")
        elapsed_before = 0.0
        start = 0
        if self._resume_state is not None:
            start, elapsed_before = self._restore(self._resume_state, model, optimizer, scheduler,
                                                  scaler)
            self._resume_state = None  # a second run() starts from this run's own state
        self.step = start

        val_inputs, val_targets_np, cubic_metrics = self._validation_pairs(patches)
        preview = self._prepare_preview()
        loader = self._data_loader(patches, start)

        def context() -> dict:
            return {"model": model, "optimizer": optimizer, "scheduler": scheduler,
                    "scaler": scaler, "elapsed": elapsed_before + (time.monotonic() - t_start)
                    - paused_total}

        t_start, paused_total = time.monotonic(), 0.0
        yield TrainingStarted(
            step=start, total_steps=cfg.steps, start_step=start, device=str(device),
            parameters=sum(p.numel() for p in model.parameters()), cubic=cubic_metrics,
            loss_history=tuple(self._loss_history),
            validation_history=tuple(self._validation_history),
            degradation=_pairs_api()[0].config_summary(self.degradation),
            calibration="" if self.calibration is None else self.calibration.summary(),
            precision=precision_name(amp_dtype))

        step = start
        last_validated = start if self._validation_history else -1
        speed = deque(maxlen=50)
        speed.append((time.monotonic(), step))
        nonfinite = 0
        reason = "completed"
        last_checkpoint = time.monotonic()
        try:
            batches = iter(loader)
            while step < cfg.steps:
                if not self._running.is_set():
                    paused_total += yield from self._pause_point(step)
                    speed.clear()
                    speed.append((time.monotonic(), step))
                if self._cancel.is_set():
                    reason = "cancelled"
                    break
                inputs, targets = next(batches)
                if self._cancel.is_set():
                    reason = "cancelled"
                    break
                lr = float(optimizer.param_groups[0]["lr"])
                loss, parts = self._train_step(model, loss_fn, optimizer, scheduler, scaler,
                                               inputs.to(device, non_blocking=True),
                                               targets.to(device, non_blocking=True), amp_dtype)
                step += 1
                self.step = step
                if loss is None:
                    nonfinite += 1
                    if nonfinite >= MAX_NONFINITE_STEPS:
                        raise TrainingDiverged(
                            f"the training loss was NaN/inf for {nonfinite} steps in a row at step "
                            f"{step}; try a lower learning rate (now {cfg.resolved_lr():g})")
                    continue
                nonfinite = 0
                self._loss_history.append((step, loss))
                now = time.monotonic()
                speed.append((now, step))
                if step % cfg.log_every == 0 or step == cfg.steps:
                    rate = self._rate(speed)
                    yield StepProgress(
                        step=step, total_steps=cfg.steps, loss=loss,
                        learning_rate=lr,
                        steps_per_second=rate,
                        eta_seconds=(cfg.steps - step) / rate if rate > 0 else float("inf"),
                        loss_parts=parts)
                if step % cfg.interval("validation") == 0 or step == cfg.steps:
                    yield self._validate(model, val_inputs, val_targets_np, cubic_metrics, step)
                    last_validated = step
                if step % cfg.interval("preview") == 0 or step == cfg.steps:
                    yield self._preview(model, preview, step)
                due = (step % cfg.interval("checkpoint") == 0
                       or time.monotonic() - last_checkpoint >= CHECKPOINT_SECONDS)
                if self.checkpoint_path is not None and due and step < cfg.steps:
                    path = self._save_checkpoint(step, **context())
                    last_checkpoint = time.monotonic()
                    yield CheckpointSaved(step=step, path=path)
        except BaseException as exc:
            if step > 0 and self.checkpoint_path is not None:
                # the original error matters more; a second Ctrl-C waits for this save
                with contextlib.suppress(Exception), interrupts_deferred():
                    self._save_checkpoint(step, **context())
            if _is_out_of_memory(exc):
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                raise TrainingOutOfMemory(out_of_memory_advice(cfg, device)) from exc
            raise

        if last_validated != step and step > 0:
            yield self._validate(model, val_inputs, val_targets_np, cubic_metrics, step)
        checkpoint = None
        if self.checkpoint_path is not None and step > 0:
            checkpoint = self._save_checkpoint(step, **context())
            yield CheckpointSaved(step=step, path=checkpoint)
        check = None
        if cfg.check_model and step > 0 and self.model_path is not None:
            check = self._check(model)
            yield check
        model_file = self._save_model(model, check) if step > 0 else None
        yield TrainingFinished(
            step=step, total_steps=cfg.steps, reason=reason, model_path=model_file,
            checkpoint_path=checkpoint, best_step=self._best_step, best_psnr=self._best_psnr,
            cubic_psnr=cubic_metrics.psnr, elapsed_seconds=context()["elapsed"])

    # ------------------------------------------------------------------------- pieces
    def _optimisation(self, model, model_api):
        """Loss, Adam, the warm-up + cosine schedule, the gradient scaler and the autocast
        dtype of this run (``None``: full precision)."""
        cfg, device = self.config, self.device
        loss_fn = model_api.A2ILoss(alpha=cfg.loss_alpha, pixel=cfg.pixel_loss).to(device)
        optimizer = make_adam(model.parameters(), cfg.resolved_lr(), device)
        schedule = WarmupCosine(cfg.steps, cfg.resolved_warmup(), cfg.min_lr_fraction)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        amp_dtype = autocast_dtype(device) if cfg.mixed_precision else None
        scaler = torch.amp.GradScaler("cuda" if device.type == "cuda" else "cpu",
                                      enabled=amp_dtype == torch.float16)
        return loss_fn, optimizer, scheduler, scaler, amp_dtype

    def _validation_pairs(self, patches):
        """The fixed validation pairs (never training pairs), their clean targets as NumPy and
        cubic interpolation's scores on them."""
        cfg = self.config
        inputs, targets = patches.make_validation_pairs(
            self.stack, self.ratio, self.degradation, patch_size=cfg.patch_size,
            count=cfg.validation_count, scale=self.scale, seed=cfg.seed + VALIDATION_SEED_OFFSET,
            section_channel=wants_section_map(self.model))
        targets_np = targets[:, 0].numpy()
        return inputs, targets_np, quality_metrics(inputs[:, 0].numpy(), targets_np)

    def _data_loader(self, patches, start: int) -> DataLoader:
        """Training batches from step ``start`` on (a resumed run sees the same pairs)."""
        cfg, device = self.config, self.device
        dataset = patches.PatchPairDataset(
            self.stack, self.ratio, self.degradation, patch_size=cfg.patch_size, scale=self.scale,
            seed=cfg.seed, length=cfg.steps * cfg.batch_size,
            section_channel=wants_section_map(self.model))
        return DataLoader(
            dataset, batch_size=cfg.batch_size,
            sampler=range(start * cfg.batch_size, cfg.steps * cfg.batch_size),
            num_workers=cfg.resolved_workers(device), pin_memory=device.type == "cuda",
            generator=torch.Generator().manual_seed(cfg.seed),
        )

    def _pause_point(self, step: int) -> Iterator[TrainingEvent]:
        """Wait while paused (``Paused`` / ``Resumed`` events); returns the seconds paused."""
        yield Paused(step=step)
        t_pause = time.monotonic()
        while not self._running.wait(0.1):
            pass
        paused = time.monotonic() - t_pause
        if not self._cancel.is_set():
            yield Resumed(step=step)
        return paused

    @staticmethod
    def _rate(speed: deque) -> float:
        if len(speed) < 2:
            return 0.0
        (t0, s0), (t1, s1) = speed[0], speed[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    def _train_step(self, model, loss_fn, optimizer, scheduler, scaler, inputs, targets,
                    amp_dtype) -> tuple[float | None, dict[str, float]]:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, enabled=amp_dtype is not None):
            prediction = model(inputs)
        loss = loss_fn(prediction.float(), targets)
        if not torch.isfinite(loss):
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            return None, {}
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), self.config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        parts = {k: float(v) for k, v in getattr(loss_fn, "last_parts", {}).items()}
        return float(loss.detach()), parts

    @torch.no_grad()
    def _predict(self, model, inputs: torch.Tensor) -> torch.Tensor:
        model.eval()
        chunk = max(1, self.config.batch_size * 2)
        outputs = []
        for i in range(0, inputs.shape[0], chunk):
            with autocast(self.device, enabled=self.config.mixed_precision):
                out = model(inputs[i:i + chunk].to(self.device))
            outputs.append(out.float().cpu())
        return torch.cat(outputs)

    def _validate(self, model, inputs, targets_np, cubic, step) -> ValidationResult:
        network = quality_metrics(self._predict(model, inputs)[:, 0].numpy(), targets_np)
        is_best = network.psnr > self._best_psnr
        if is_best:
            self._best_psnr, self._best_step = network.psnr, step
            if self.config.keep_best:
                self._best_state = _cpu_state(model)
        result = ValidationResult(step=step, network=network, cubic=cubic, is_best=is_best)
        self._validation_history.append(result)
        return result

    def _prepare_preview(self) -> dict:
        """A centred crop of the middle xz plane, cubic-upsampled along z like real inference."""
        _, ny, nx = self.stack.shape
        size = self.config.preview_max_size
        y = ny // 2
        width = min(nx, size)
        x0 = (nx - width) // 2
        plane = np.asarray(self.stack[:, y, x0:x0 + width], dtype=np.float32)
        cubic = upsample_axis(plane, self.ratio, axis=0)
        z0 = 0
        if cubic.shape[0] > size:
            z0 = (cubic.shape[0] - size) // 2
            cubic = cubic[z0:z0 + size]
        cubic = np.ascontiguousarray(cubic, dtype=np.float32)
        tensor = plane_input(self.scale.normalize(cubic), self.model, self.ratio, z0)
        return {"cubic": cubic, "tensor": tensor, "index": y}

    def _preview(self, model, preview: dict, step: int) -> PreviewImage:
        out = self._predict(model, preview["tensor"])[0, 0].numpy()
        return PreviewImage(step=step, prediction=self.scale.denormalize(out),
                            cubic=preview["cubic"], plane="xz", index=preview["index"])

    def _checkpoint_state(self, step, model, optimizer, scheduler, scaler, elapsed) -> dict:
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "step": int(step), "total_steps": int(self.config.steps),
            "model": _cpu_state(model), "best_model": self._best_state,
            "best_step": int(self._best_step), "best_psnr": float(self._best_psnr),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler.is_enabled() else None, "rng": rng,
            "train_config": self.config.to_dict(),
            "network_config": self.network_config().to_dict(),
            "degradation": self.degradation.to_dict(), "ratio": float(self.ratio),
            "spacing": [float(s) for s in self.spacing], "intensity": self.scale.to_dict(),
            "stack_shape": [int(s) for s in self.stack.shape],
            "history": {
                "loss_step": [s for s, _ in self._loss_history],
                "loss": [v for _, v in self._loss_history],
                "validation": [v.to_dict() for v in self._validation_history],
            },
            "elapsed_seconds": float(elapsed), "package_version": __version__,
        }

    def _save_checkpoint(self, step, **context) -> Path:
        path = save_checkpoint(self.checkpoint_path, self._checkpoint_state(step, **context))
        self.checkpoint_step = step
        return path

    def _restore(self, state, model, optimizer, scheduler, scaler) -> tuple[int, float]:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        # the schedule follows this run's total steps (equal to the checkpoint's unless extended)
        schedule = WarmupCosine(self.config.steps, self.config.resolved_warmup(),
                                self.config.min_lr_fraction)
        scheduler.lr_lambdas = [schedule] * len(optimizer.param_groups)
        for group, base_lr in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
            group["lr"] = base_lr * schedule(scheduler.last_epoch)
        if state.get("scaler") and scaler.is_enabled():
            scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        history = state["history"]
        self._loss_history = list(zip((int(s) for s in history["loss_step"]),
                                      (float(v) for v in history["loss"]), strict=True))
        self._validation_history = [ValidationResult.from_dict(d) for d in history["validation"]]
        self._best_state = state.get("best_model")
        self._best_step = int(state.get("best_step", 0))
        self._best_psnr = float(state.get("best_psnr", -float("inf")))
        return int(state["step"]), float(state.get("elapsed_seconds", 0.0))

    def _check(self, model) -> ModelChecked:
        """The no-truth check (:mod:`.model_check`) of the model that will be saved (the best)."""
        from .model_check import check_model

        try:
            with self._best_weights(model):
                result = check_model(self.stack, model, self.ratio, estimate=self.calibration,
                                     scale=self.scale, device=str(self.device),
                                     seed=self.config.seed)
        except InputError as exc:
            return ModelChecked(step=self.step, passed=True,
                                summary=f"no-truth check skipped: {exc}")
        finally:
            model.train()
        return ModelChecked(step=self.step, passed=result.passed, summary=result.summary(),
                            warnings=tuple(result.warnings), record=result.to_dict())

    def _save_model(self, model, check: ModelChecked | None = None) -> Path | None:
        if self.model_path is None:
            return None
        model_api = _model_api()
        with self._best_weights(model):
            model_api.save_model(
                self.model_path, model, degradation=self.degradation.to_dict(),
                spacing=tuple(self.spacing), ratio=float(self.ratio),
                intensity=self.scale.to_dict(),
                extra={"train_config": self.config.to_dict(), "steps": int(self.step),
                       "best_step": int(self._best_step),
                       "validation_psnr": float(self._best_psnr),
                       "calibration": None if self.calibration is None
                       else self.calibration.to_dict(),
                       "model_check": None if check is None else check.record,
                       "cubic_psnr": float(self._validation_history[-1].cubic.psnr)
                       if self._validation_history else float("nan")})
        return self.model_path

    @contextlib.contextmanager
    def _best_weights(self, model):
        """``model`` holds the best validated weights inside the block (``keep_best``), its own
        again afterwards."""
        current = None
        if self.config.keep_best and self._best_state is not None:
            current = _cpu_state(model)
            model.load_state_dict(self._best_state)
        try:
            yield model
        finally:
            if current is not None:
                model.load_state_dict(current)
