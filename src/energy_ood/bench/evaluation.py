"""One scorer applied to one kind of model on every seed of a protocol: the per-seed, per-set
metrics every dataset-vs-dataset report (``ood``, ``methods``) is built from."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .sections import ScorerSpec


@dataclass
class Evaluation:
    """One scorer applied to one kind of model (``pretrained``, ``oe``, ``energy``,
    ``single-margin``) on every seed: ``per_seed[i][set][metric]`` is the mean over draws,
    ``draw_std`` its std over draws."""

    model: str
    spec: ScorerSpec
    label: str
    per_seed: list[dict[str, dict[str, float]]] = field(default_factory=list)
    draw_std: list[dict[str, dict[str, float]]] = field(default_factory=list)

    def values(self, ood_set: str, metric: str) -> np.ndarray:
        return np.array([ps[ood_set][metric] for ps in self.per_seed])

    def mean_over(self, sets: list[str], metric: str) -> np.ndarray:
        """Per seed, the mean over ``sets`` (the quantity whose spread a mean row shows)."""
        return np.array([np.mean([ps[s][metric] for s in sets]) for ps in self.per_seed])

    def to_plain(self) -> dict:
        return {"model": self.model, "spec": self.spec.to_plain(), "label": self.label,
                "per_seed": self.per_seed, "draw_std": self.draw_std}  # fmt: skip

    @classmethod
    def from_plain(cls, d: dict) -> Evaluation:
        return cls(d["model"], ScorerSpec.from_plain(d["spec"]), d["label"], d["per_seed"],
                   d["draw_std"])  # fmt: skip
