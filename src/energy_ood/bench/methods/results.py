"""Typed results of a training-method comparison, and its verdicts.

Every number is per seed. A verdict "X beats B" compares two per-seed lists measured on the
same seeds with the paired rule of :mod:`..stats`: the mean over the natural-image OOD sets of
FPR95 (lower is better) and of AUROC, each method with its own score (``"native"``: the score
its paper reports) or both with one named scorer, and the ID test error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...io.typed_schema import to_plain
from ..claims import Claim
from ..evaluation import Evaluation
from ..stats import paired_verdict

METRICS = (("FPR95", "fpr95", True), ("AUROC", "auroc", False))


@dataclass
class MethodsResults:
    title: str
    convention: dict
    protocol: dict
    seeds: list[int]
    ood_sets: list[str]
    headline_sets: list[str]  # natural-image sets, none of an auxiliary source's family
    noise_sets: list[str]
    families: dict[str, str]  # OOD set -> family
    methods: list[dict]  # label, name, stage, score, hyperparameters, paper, schedule
    id_error: dict[str, list[float]]  # label -> per seed
    margins: dict[str, list[dict | None]]  # label -> per seed, the margins chosen for it
    evaluations: list[Evaluation]
    verdicts: dict[str, list[Claim]] = field(default_factory=dict)  # baseline -> claims
    aux_pool: dict | None = None
    run: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    warning: str | None = None
    kind: str = "methods"

    def method(self, label: str) -> dict:
        return next(m for m in self.methods if m["label"] == label)

    def find(self, model: str, scorer: str, **params) -> Evaluation | None:
        for e in self.evaluations:
            if (
                e.model == model
                and e.spec.matches(scorer, **params)
                and (params or not e.spec.params)
            ):
                return e
        return None

    def native(self, label: str) -> Evaluation | None:
        """The method's evaluation with the score it is ranked by."""
        return self.find(label, self.method(label)["score"])

    def family_values(self, e: Evaluation, family: str, metric: str) -> np.ndarray:
        """Per seed, the mean over the OOD sets of one family."""
        return e.mean_over([s for s in self.ood_sets if self.families[s] == family], metric)

    def to_plain(self) -> dict:
        return {k: to_plain(getattr(self, k)) for k in self.__dataclass_fields__}

    @classmethod
    def from_plain(cls, d: dict) -> MethodsResults:
        d = dict(d)
        d["evaluations"] = [Evaluation.from_plain(e) for e in d["evaluations"]]
        d["verdicts"] = {b: [Claim.from_plain(c) for c in cs]
                         for b, cs in d.get("verdicts", {}).items()}  # fmt: skip
        return cls(**d)


def from_plain(d: dict) -> MethodsResults:
    """The typed results a results.json holds (the registry's reader of this protocol)."""
    return MethodsResults.from_plain(d)


def _claim(text, metric, lower, a, b) -> Claim:
    a, b = [float(v) for v in a], [float(v) for v in b]
    return Claim(text, metric, lower, a, b, "-", paired_verdict(a, b, lower))


def verdicts(res: MethodsResults, baselines: list[str], scores: list[str]) -> dict:
    """{B: claims "X beats B"} for every method X and baseline B: headline FPR95 and AUROC per
    score mode, and ID error."""
    return {b: _against(res, b, scores) for b in baselines}


def _against(res: MethodsResults, b: str, scores: list[str]) -> list[Claim]:
    out, sets = [], res.headline_sets
    for x in (m["label"] for m in res.methods if m["label"] != b):
        for mode in scores:
            ex, eb = (res.native(x), res.native(b)) if mode == "native" else (
                res.find(x, mode), res.find(b, mode))  # fmt: skip
            if ex is None or eb is None or not sets:
                continue
            how = (f"{x} ({ex.label}) beats {b} ({eb.label})" if mode == "native"
                   else f"{x} beats {b}, both scored with {mode}")  # fmt: skip
            for name, key, lower in METRICS:
                out.append(_claim(how, name, lower, ex.mean_over(sets, key),
                                  eb.mean_over(sets, key)))  # fmt: skip
        out.append(_claim(f"{x} has lower ID error than {b}", "ID error", True,
                          res.id_error[x], res.id_error[b]))  # fmt: skip
    return out
