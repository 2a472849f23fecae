"""Spread over seeds and the one verdict rule every report states.

A benchmark trains each model once per seed. A table cell is the mean ± sample standard
deviation (ddof = 1) over seeds; a "mean over OOD sets" cell first averages the sets within each
seed, then takes mean ± std of those per-seed means. A claim "A is better than B" is decided on
the paired per-seed differences d_s = A_s - B_s: the two-sided 95% t-interval
mean(d) ± t(0.975, n-1) · sd(d) / sqrt(n) gives "yes" when it excludes 0 on the claimed side,
"no" when it excludes 0 on the other side, else "inconclusive" (always so with one seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validate import InputError

RULE = (
    "Verdicts: each claim compares two numbers measured on the same seeds. With the paired "
    "per-seed differences d (claimed-better minus other), the 95% t-interval mean(d) ± "
    "t(0.975, n-1) · sd(d)/√n over n seeds decides: **yes** when it excludes 0 in the claimed "
    "direction, **no** when it excludes 0 the other way, otherwise **inconclusive** (always so "
    "with one seed). Table cells are mean ± sample std over seeds; a mean-over-sets cell is the "
    "mean and std over seeds of each seed's mean over the sets."
)


def mean_std(values) -> tuple[float, float | None]:
    """Mean and sample std (ddof = 1) over seeds; std None for one value."""
    a = np.asarray(values, dtype=float)
    if a.ndim != 1 or a.size == 0:
        raise InputError(f"need a non-empty 1-D list of per-seed values, got shape {a.shape}")
    return float(a.mean()), (float(a.std(ddof=1)) if a.size > 1 else None)


def t_quantile(n: int, conf: float = 0.95) -> float:
    """The two-sided ``conf`` quantile of Student's t with n - 1 degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.5 + conf / 2, n - 1))


@dataclass(frozen=True)
class Verdict:
    """A claim "``better`` beats ``other``" on ``metric`` decided over paired seeds."""

    verdict: str  # "yes" | "no" | "inconclusive"
    mean_diff: float  # mean of (better - other), in the metric's units
    low: float | None  # the 95% interval; None with one seed (unbounded)
    high: float | None
    n: int
    wins: int  # seeds where the claimed side is strictly better

    def to_plain(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def interval_text(self, scale: float = 100.0) -> str:
        if self.low is None or self.high is None:
            return f"Δ {scale * self.mean_diff:+.2f} (one seed)"
        lo, hi = scale * self.low, scale * self.high
        return f"Δ {scale * self.mean_diff:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def paired_verdict(claimed, other, lower_is_better: bool, conf: float = 0.95) -> Verdict:
    """Decide "``claimed`` is better than ``other``" from per-seed values (same seed order)."""
    a, b = np.asarray(claimed, dtype=float), np.asarray(other, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise InputError(f"paired values must be two equal 1-D lists, got {a.shape}, {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise InputError("paired values must be finite")
    d = a - b
    n = d.size
    wins = int((d < 0).sum() if lower_is_better else (d > 0).sum())
    mean = float(d.mean())
    if n < 2:
        return Verdict("inconclusive", mean, None, None, n, wins)
    half = t_quantile(n, conf) * float(d.std(ddof=1)) / math.sqrt(n)
    lo, hi = mean - half, mean + half
    better_side = (hi < 0) if lower_is_better else (lo > 0)
    worse_side = (lo > 0) if lower_is_better else (hi < 0)
    verdict = "yes" if better_side else "no" if worse_side else "inconclusive"
    return Verdict(verdict, mean, lo, hi, n, wins)
