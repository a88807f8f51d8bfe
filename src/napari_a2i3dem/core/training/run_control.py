"""Runs a :class:`~.engine.Trainer` in a worker thread so that it can still
be finished cleanly from the GUI thread when the viewer closes (Qt-free)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from .engine import Trainer
from .events import TrainingEvent


class TrainingFailed(Exception):
    """A run ended with an unexpected error (re-raised as this type: Qt workers treat a
    ``RuntimeError`` as "worker deleted" and would drop it silently)."""


class TrainingRun:
    """Owns one trainer's event generator.

    :meth:`events` is what the worker thread iterates; each step of the generator happens under a
    lock. :meth:`finish` (GUI thread, e.g. when the viewer closes) cancels the run, waits for the
    step in progress and drives the rest of the run itself, so the final checkpoint and model are
    written even when the worker was aborted between two events.
    """

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self._events = trainer.run()
        self._lock = threading.Lock()
        self.done = threading.Event()

    def events(self) -> Iterator[TrainingEvent]:
        while True:
            with self._lock:
                if self.done.is_set():
                    return
                try:
                    event = next(self._events)
                except StopIteration:
                    self.done.set()
                    return
                except RuntimeError as exc:
                    self.done.set()
                    raise TrainingFailed(f"{type(exc).__name__}: {exc}") from exc
                except BaseException:
                    self.done.set()
                    raise
            yield event

    def finish(self, timeout: float = 60.0) -> bool:
        """Cancel and make sure the run has ended (final checkpoint and model written); True if
        it did within ``timeout`` seconds.

        Waits for the step in progress, then drives whatever is left of the (cancelled) run in
        the calling thread; the worker, if still alive, then finds the run done and returns.
        """
        self.trainer.cancel()
        if not self._lock.acquire(timeout=timeout):
            return False
        try:
            if not self.done.is_set():
                for _ in self._events:
                    pass
        except Exception:  # the run failed while finishing; its checkpoint is already written
            pass
        finally:
            self.done.set()
            self._lock.release()
        return True
