"""Live plot of a training run: loss per step and validation PSNR (network vs cubic)."""

from __future__ import annotations

import time

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from ..core.training_events import ValidationResult


def running_mean(values: list[float], window: int = 20) -> np.ndarray:
    """Mean of the last ``window`` values at each point (fewer at the start)."""
    if not values:
        return np.zeros(0)
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - window)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


class TrainingPlot(FigureCanvasQTAgg):
    """Two panels: training loss (log scale; per step and its running mean) and validation PSNR
    of the network and of plain cubic interpolation. Redraws at most every ``min_interval``
    seconds."""

    def __init__(self, parent=None, *, min_interval: float = 0.5) -> None:
        figure = Figure(figsize=(4.0, 3.2), tight_layout=True)
        super().__init__(figure)
        self.setParent(parent)
        self.loss_axes = figure.add_subplot(2, 1, 1)
        self.psnr_axes = figure.add_subplot(2, 1, 2, sharex=self.loss_axes)
        self.loss_axes.set_ylabel("loss")
        self.loss_axes.set_yscale("log")
        self.psnr_axes.set_ylabel("val. PSNR (dB)")
        self.psnr_axes.set_xlabel("step")
        (self.loss_line,) = self.loss_axes.plot([], [], lw=0.6, color="0.7")
        (self.mean_loss_line,) = self.loss_axes.plot([], [], lw=1.4, color="tab:blue")
        (self.network_line,) = self.psnr_axes.plot([], [], "o-", ms=3, color="tab:red",
                                                   label="network")
        (self.cubic_line,) = self.psnr_axes.plot([], [], "--", color="0.4", label="cubic")
        self.psnr_axes.legend(loc="lower right", fontsize="small")
        self.min_interval = float(min_interval)
        self.clear_data()

    def clear_data(self) -> None:
        self.loss_steps: list[int] = []
        self.losses: list[float] = []
        self.validation: list[ValidationResult] = []
        self._last_draw = 0.0
        self.refresh(force=True)

    def add_losses(self, points) -> None:
        """Append ``(step, loss)`` pairs."""
        for step, loss in points:
            self.loss_steps.append(int(step))
            self.losses.append(float(loss))

    def add_validation(self, result: ValidationResult) -> None:
        self.validation.append(result)

    def refresh(self, force: bool = False) -> None:
        """Update the lines and redraw (throttled unless ``force``)."""
        now = time.monotonic()
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self.loss_line.set_data(self.loss_steps, self.losses)
        self.mean_loss_line.set_data(self.loss_steps, running_mean(self.losses))
        steps = [v.step for v in self.validation]
        self.network_line.set_data(steps, [v.network.psnr for v in self.validation])
        self.cubic_line.set_data(steps, [v.cubic.psnr for v in self.validation])
        for axes in (self.loss_axes, self.psnr_axes):
            axes.relim()
            axes.autoscale_view()
        # draw now rather than draw_idle(): a queued idle draw can fire after the widget was
        # deleted (viewer closed); a hidden canvas is drawn when it is shown
        self._stale = not self.isVisible()
        if not self._stale:
            self.draw()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if getattr(self, "_stale", False):
            self._stale = False
            self.draw()
