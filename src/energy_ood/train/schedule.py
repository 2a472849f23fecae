"""Per-step cosine decay as a pure function of the global step (so a resumed run matches)."""

from __future__ import annotations

import math


def cosine_lr(step: int, total_steps: int, base_lr: float, min_lr: float = 1e-6) -> float:
    """lr at ``step``: from base_lr down to min_lr along half a cosine over total_steps."""
    if total_steps <= 0:
        return base_lr
    t = min(step, total_steps) / total_steps
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))
