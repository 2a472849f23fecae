"""Typed results of a dataset-vs-dataset benchmark, as written to ``results.json`` and rendered.

Every number is kept per seed; reports compute mean ± std over seeds and paired verdicts from
these lists (:mod:`.stats`). Evaluations are found by model, scorer name and parameters
(:meth:`OODResults.find`), never by matching label text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...io.typed_schema import to_plain
from ..claims import Claim
from ..evaluation import Evaluation

METRICS = ("fpr95", "auroc", "aupr_in", "aupr_out")


@dataclass
class MarginPoint:
    offset: list[float]
    m_in: float
    m_out: float
    val_fpr95: float  # energy score, ID validation vs the margin-validation outliers
    val_error: float  # ID validation error
    test_fpr95: float  # mean over the headline OOD sets (reported, never used to choose)
    test_error: float
    val_auroc: float | None = None  # None in results written before it was recorded


@dataclass
class MarginSweep:
    seed: int
    base: dict  # the data-chosen margins the offsets are added to
    points: list[MarginPoint]
    chosen: int
    rule: str
    epochs: int
    val_sets: list[str] = field(default_factory=list)  # the margin-validation outlier sources
    choice: dict | None = None  # margin_choice.choose's record: tied points, tie-breaks used
    val_pool: dict | None = None  # what the validation outliers are made of

    def choice_text(self) -> str:
        """The generated sentence: what chose the offset, and any tie and its tie-break."""
        from .margin_choice import choice_text

        return choice_text(self.points, self.chosen, self.choice)

    @classmethod
    def from_plain(cls, d: dict) -> MarginSweep:
        return cls(**{**d, "points": [MarginPoint(**p) for p in d["points"]]})


@dataclass
class TemperatureSweep:
    """Per seed and temperature, the mean over the headline sets."""

    temperatures: list[float]
    energy_fpr95: list[list[float]]
    msp_fpr95: list[list[float]]
    energy_auroc: list[list[float]]
    msp_auroc: list[list[float]]


@dataclass
class OODResults:
    title: str
    convention: dict
    protocol: dict
    seeds: list[int]
    ood_sets: list[str]
    headline_sets: list[str]  # natural-image sets (the config loader refuses an aux family)
    noise_sets: list[str]
    sources: dict[str, dict]  # set / aux source -> family, kind, content, origin, licence
    aux: list[str]
    id_error: dict[str, list[float]]  # model -> per seed
    margins: dict[str, list[dict | None]]  # model -> per seed margins used
    evaluations: list[Evaluation]
    departures: list[list[str]] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    temperature_sweep: TemperatureSweep | None = None
    margin_sweep: MarginSweep | None = None
    noise: dict | None = None
    aux_pool: dict | None = None  # what the auxiliary outliers are, and how often each is drawn
    run: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    kind: str = "ood"
    raw: dict | None = field(default=None, repr=False)  # first seed's scores, for plots only
    warning: str | None = None  # the ID-accuracy gate's line (a non-strict run), shown first

    def find(self, model: str, scorer: str, **params) -> Evaluation | None:
        """The evaluation of ``scorer`` (with ``params``, absent = default) on ``model``."""
        for e in self.evaluations:
            if e.model == model and e.spec.matches(scorer, **params):
                return e
        return None

    def models(self) -> list[str]:
        return list(dict.fromkeys(e.model for e in self.evaluations))

    def to_plain(self) -> dict:
        out = {"warning": self.warning}
        out.update({k: to_plain(getattr(self, k)) for k in self.__dataclass_fields__
                    if k not in ("raw", "warning")})  # fmt: skip
        return out

    @classmethod
    def from_plain(cls, d: dict) -> OODResults:
        d = dict(d)
        d["evaluations"] = [Evaluation.from_plain(e) for e in d["evaluations"]]
        d["claims"] = [Claim.from_plain(c) for c in d.get("claims", [])]
        if d.get("temperature_sweep"):
            d["temperature_sweep"] = TemperatureSweep(**d["temperature_sweep"])
        if d.get("margin_sweep"):
            d["margin_sweep"] = MarginSweep.from_plain(d["margin_sweep"])
        return cls(**d)


def from_plain(d: dict) -> OODResults:
    """The typed results a results.json holds (the registry's reader of this protocol)."""
    return OODResults.from_plain(d)
