"""Measure how long the Qt event loop is blocked: a 20 ms timer that records the gaps between ticks.

A tick that arrives late means the GUI thread was busy (an import, a redraw, a long slot) and the
window could not repaint or react for that long. Used by the tests (``tests/test_gui_stalls.py``)
and by ``benchmarks/gui_stalls.py``::

    with StallMeter() as meter:
        wait_until(lambda: widget.done, timeout=60)
    print(meter.report().longest_ms)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from qtpy.QtCore import QEventLoop, QObject, QTimer

TICK_MS = 20
STALL_MS = 200.0
"""Anything longer than this is a visible freeze (the guide's defect threshold)."""


@dataclass(frozen=True)
class StallReport:
    """The gaps seen between timer ticks while the meter ran."""

    longest_ms: float
    stalls: int          # gaps longer than STALL_MS
    ticks: int
    duration_s: float

    def describe(self) -> str:
        return (f"longest gap {self.longest_ms:.0f} ms, {self.stalls} over {STALL_MS:.0f} ms "
                f"in {self.duration_s:.1f} s")


class StallMeter(QObject):
    """Records event-loop gaps while it runs (start/stop, or use it as a context manager)."""

    def __init__(self, interval_ms: int = TICK_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_ms = int(interval_ms)
        self.gaps_ms: list[float] = []
        self._timer = QTimer(self)
        self._timer.setInterval(self.interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0
        self._started = 0.0
        self._stopped = 0.0

    def start(self) -> StallMeter:
        self.gaps_ms.clear()
        self._started = self._last = time.perf_counter()
        self._stopped = 0.0
        self._timer.start()
        return self

    def stop(self) -> StallReport:
        """Stop and count the time since the last tick as a gap too (a stall at the very end)."""
        self._timer.stop()
        self._stopped = time.perf_counter()
        self.gaps_ms.append((self._stopped - self._last) * 1000.0)
        return self.report()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps_ms.append((now - self._last) * 1000.0)
        self._last = now

    def report(self) -> StallReport:
        end = self._stopped or time.perf_counter()
        gaps = self.gaps_ms or [0.0]
        return StallReport(longest_ms=max(gaps),
                           stalls=sum(gap > STALL_MS for gap in gaps),
                           ticks=len(self.gaps_ms), duration_s=end - self._started)

    def __enter__(self) -> StallMeter:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


def wait_until(condition: Callable[[], bool], timeout: float, what: str = "the work") -> float:
    """Run the Qt event loop (not a busy loop) until ``condition()``; returns the seconds waited.

    The condition is polled every 20 ms from inside the loop, so timers, workers' signals and
    repaints run exactly as they do for a user. Raises TimeoutError after ``timeout`` seconds.
    """
    started = time.perf_counter()
    if condition():
        return 0.0
    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(TICK_MS)
    result = {"timed_out": False}

    def check() -> None:
        if condition():
            loop.quit()
        elif time.perf_counter() - started > timeout:
            result["timed_out"] = True
            loop.quit()

    poll.timeout.connect(check)
    poll.start()
    loop.exec()
    poll.stop()
    if result["timed_out"]:
        raise TimeoutError(f"{what} did not finish within {timeout:.0f} s")
    return time.perf_counter() - started
