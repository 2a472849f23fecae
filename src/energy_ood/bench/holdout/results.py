"""Typed results of a hold-out-class benchmark, as written to ``results.json`` (the paper's
claims tested on them are in ``claims``, the table of what differs from the paper in
``disclosure``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...io.typed_schema import to_plain
from ..claims import Claim
from ..sections import ScorerSpec


@dataclass
class HoldoutResults:
    """Per variant: AP per method label and accuracy, each trials x classes."""

    title: str
    convention: dict
    classes: list[str]
    skew: list[float]
    trials: int
    seeds: list[int]  # the base seed of each trial (class c trains with seed + c)
    methods: list[ScorerSpec]
    labels: list[str]
    variants: dict[str, dict]  # variant -> {"ap": {label: [[...]]}, "accuracy": [[...]]}
    subsets: list[dict] = field(default_factory=list)  # each trial's training subset
    training: dict = field(default_factory=dict)  # the training setup (disclosure.training_record)
    departures: list[list[str]] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    run: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    kind: str = "holdout"
    warning: str | None = None  # the ID-accuracy gate's line (a non-strict run), shown first

    def ap(self, variant: str, label: str) -> np.ndarray:
        return np.array(self.variants[variant]["ap"][label], dtype=float)

    def accuracy(self, variant: str) -> np.ndarray:
        return np.array(self.variants[variant]["accuracy"], dtype=float)

    def label_of(self, name: str, **params) -> str | None:
        for spec, lab in zip(self.methods, self.labels):
            if spec.matches(name, **params):
                return lab
        return None

    def to_plain(self) -> dict:
        out = {"warning": self.warning}
        out.update({k: to_plain(getattr(self, k)) for k in self.__dataclass_fields__})
        return out


def from_plain(d: dict) -> HoldoutResults:
    """The typed results a results.json holds (the registry's reader of this protocol)."""
    d = {**d, "methods": [ScorerSpec.from_plain(m) for m in d["methods"]],
         "claims": [Claim.from_plain(c) for c in d.get("claims", [])]}  # fmt: skip
    return HoldoutResults(**d)
