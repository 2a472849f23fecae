"""Typed results of the WordNet gloss benchmark, its claims decided over splits (each split a
paired unit: the same categories, glosses and prompt initialisation for both sides) with the
one rule of :mod:`energy_ood.bench.stats`, and the table of departures from the paper."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...io.typed_schema import to_plain
from ..claims import Claim

DE = "DeltaE(c=1,floor=0)"


@dataclass
class VLMResults:
    title: str
    convention: dict
    reconstruction: str
    run: dict
    splits: list[dict]
    labels: list[str]
    stages: list[str]
    params: dict[str, str]  # label -> the parameter chosen on validation ("tau" | "logit_scale")
    claims: list[Claim] = field(default_factory=list)
    departures: list[list[str]] = field(default_factory=list)
    timing_s: dict = field(default_factory=dict)
    kind: str = "vlm"

    def metric(self, stage: str, label: str, key: str, which: str = "scores") -> np.ndarray:
        """Per split, ``key`` of score ``label`` at ``stage`` (``which`` = "scores" at the
        validated temperature, "default" at the published one)."""
        return np.array([s["stages"][stage][which][label][key] for s in self.splits])

    def accuracy(self, stage: str) -> np.ndarray:
        return np.array([s["stages"][stage]["accuracy"] for s in self.splits])

    def chosen(self, stage: str, label: str) -> list[float]:
        p = self.params[label]
        return [s["stages"][stage]["chosen"][label][p] for s in self.splits]

    def to_plain(self) -> dict:
        return {k: to_plain(getattr(self, k)) for k in self.__dataclass_fields__}


def from_plain(d: dict) -> VLMResults:
    """The typed results a results.json holds (the registry's reader of this protocol)."""
    return VLMResults(**{**d, "claims": [Claim.from_plain(c) for c in d.get("claims", [])]})
