"""A paper's claim tested on a benchmark: two per-seed (per-trial, per-split) lists decided by
the one rule of :mod:`.stats`, as results.json stores it."""

from __future__ import annotations

from dataclasses import dataclass

from .stats import Verdict, mean_std


@dataclass
class Claim:
    """A paper's claim tested here: ``claimed`` should beat ``other`` on ``metric``."""

    text: str
    metric: str
    lower_is_better: bool
    claimed: list[float]
    other: list[float]
    paper: str
    verdict: Verdict

    def ours(self, scale: float = 100.0) -> str:
        a, sa = mean_std(self.claimed)
        b, sb = mean_std(self.other)

        def f(m, s):
            return f"{scale * m:.2f}" + ("" if s is None else f" ± {scale * s:.2f}")

        return f"{f(a, sa)} vs {f(b, sb)}"

    def to_plain(self) -> dict:
        return {"text": self.text, "metric": self.metric, "lower_is_better": self.lower_is_better,
                "claimed": self.claimed, "other": self.other, "paper": self.paper,
                "verdict": self.verdict.to_plain()}  # fmt: skip

    @classmethod
    def from_plain(cls, d: dict) -> Claim:
        return cls(**{**d, "verdict": Verdict(**d["verdict"])})
