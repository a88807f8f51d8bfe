"""Learning-rate schedule for training: linear warm-up, then cosine decay to a floor."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WarmupCosine:
    """Multiplier of the base learning rate at a (0-based) optimisation step.

    Rises linearly from ``1 / warmup_steps`` to 1 over ``warmup_steps`` steps, then follows half a
    cosine from 1 down to ``min_fraction`` at ``total_steps``. A callable object (not a closure) so
    ``LambdaLR.state_dict()`` records its parameters as plain numbers.
    """

    total_steps: int
    warmup_steps: int
    min_fraction: float = 0.05

    def __call__(self, step: int) -> float:
        if self.warmup_steps > 0 and step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, max(0.0, (step - self.warmup_steps) / span))
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.min_fraction + (1.0 - self.min_fraction) * cosine


def default_warmup_steps(total_steps: int) -> int:
    """5 % of the run, at least 1 and at most 1000 steps."""
    return int(min(1000, max(1, round(0.05 * total_steps))))
