"""Live plot of a training run: loss per step and validation PSNR (network vs cubic)."""

from __future__ import annotations

import numpy as np

from ..core.training.events import ValidationResult
from ._plots import BackgroundPlot


def running_mean(values: list[float], window: int = 20) -> np.ndarray:
    """Mean of the last ``window`` values at each point (fewer at the start)."""
    if not values:
        return np.zeros(0)
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - window)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


class TrainingPlot(BackgroundPlot):
    """Two panels: training loss (log scale; per step and its running mean) and validation PSNR
    of the network and of plain cubic interpolation. Redrawn in a worker thread (see
    :mod:`._plots`) at most every ``min_interval`` seconds."""

    def __init__(self, parent=None, *, min_interval: float = 1.0) -> None:
        super().__init__(parent, height=240, min_interval=min_interval)
        self.loss_steps: list[int] = []
        self.losses: list[float] = []
        self.validation: list[ValidationResult] = []
        self.request(self._setup, now=True)

    def _setup(self, figure) -> None:
        self.loss_axes = figure.add_subplot(2, 1, 1)
        self.psnr_axes = figure.add_subplot(2, 1, 2, sharex=self.loss_axes)
        for axes in (self.loss_axes, self.psnr_axes):
            axes.tick_params(labelsize=7)
        self.loss_axes.set_ylabel("loss", fontsize=8)
        self.loss_axes.set_yscale("log")
        self.psnr_axes.set_ylabel("val. PSNR (dB)", fontsize=8)
        self.psnr_axes.set_xlabel("step", fontsize=8)
        (self.loss_line,) = self.loss_axes.plot([], [], lw=0.6, color="0.7")
        (self.mean_loss_line,) = self.loss_axes.plot([], [], lw=1.4, color="tab:blue")
        (self.network_line,) = self.psnr_axes.plot([], [], "o-", ms=3, color="tab:red",
                                                   label="network")
        (self.cubic_line,) = self.psnr_axes.plot([], [], "--", color="0.4", label="cubic")
        self.psnr_axes.legend(loc="lower right", fontsize=7)

    def clear_data(self) -> None:
        self.loss_steps = []
        self.losses = []
        self.validation = []
        self.refresh(force=True)

    def add_losses(self, points) -> None:
        """Append ``(step, loss)`` pairs."""
        for step, loss in points:
            self.loss_steps.append(int(step))
            self.losses.append(float(loss))

    def add_validation(self, result: ValidationResult) -> None:
        self.validation.append(result)

    def refresh(self, force: bool = False) -> None:
        """Redraw with the data so far (rate-limited; ``force`` skips the wait)."""
        steps, losses = list(self.loss_steps), list(self.losses)
        validation = list(self.validation)
        self.request(lambda _figure: self._draw(steps, losses, validation), now=force)

    def _draw(self, steps: list[int], losses: list[float],
              validation: list[ValidationResult]) -> None:
        self.loss_line.set_data(steps, losses)
        self.mean_loss_line.set_data(steps, running_mean(losses))
        val_steps = [v.step for v in validation]
        self.network_line.set_data(val_steps, [v.network.psnr for v in validation])
        self.cubic_line.set_data(val_steps, [v.cubic.psnr for v in validation])
        for axes in (self.loss_axes, self.psnr_axes):
            axes.relim()
            axes.autoscale_view()
