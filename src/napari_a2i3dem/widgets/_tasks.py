"""Name a worker's task in words, for napari's activity list and its close-while-running dialog.

napari (>= 0.6.5) registers every ``create_worker`` task with the window and, when the user
closes the window while one runs, asks first, listing the tasks as ``str(function)``. A
:class:`NamedTask` makes that line read "A2I-3DEM training on 'stack'" instead of a repr. It is a
``functools.partial``, so napari still sees a generator function where there is one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class NamedTask(functools.partial):
    """``function`` with a readable ``str()``; calling it calls ``function``."""

    description = ""

    def __str__(self) -> str:
        return self.description

    __repr__ = __str__


def named_task(function: Callable[..., Any], description: str) -> NamedTask:
    task = NamedTask(function)
    task.description = description
    return task
