"""Typed results of a hold-out-class benchmark and the semantic-anomaly paper's claims tested on
them (paired over trials); the table of what differs from the paper is in
``holdout_disclosure``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .results import Claim
from .schema import ScorerSpec, to_plain
from .stats import paired_verdict


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
    training: dict = field(default_factory=dict)  # the training setup (holdout_disclosure)
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


def holdout_claims(res: HoldoutResults) -> list[Claim]:
    """The semantic-anomaly paper's claims, paired over trials (mean over classes per trial)."""
    out, v = [], res.variants
    msp = res.label_of("msp")
    odin = next((lab for spec, lab in zip(res.methods, res.labels) if spec.name == "odin"
                 and float(spec.params.get("eps", 1.0)) > 0), None)  # fmt: skip
    energy = res.label_of("energy")

    def add(text, metric, a, b, paper, lower=False):
        a, b = [float(x) for x in a], [float(x) for x in b]
        out.append(Claim(text, metric, lower, a, b, paper, paired_verdict(a, b, lower)))

    if "rotation" in v:
        for lab, paper in ((msp, "40.22 vs 34.92"), (odin, "41.56 vs 36.63"), (energy, "-")):
            if lab:
                add(f"the rotation head raises AP ({lab})", "AP", res.ap("rotation", lab).mean(1),
                    res.ap("plain", lab).mean(1), paper)  # fmt: skip
        add("the rotation head raises accuracy", "accuracy", res.accuracy("rotation").mean(1),
            res.accuracy("plain").mean(1), "96.83 vs 96.03")  # fmt: skip
    if "center-mask" in v:
        add("centre masking raises accuracy", "accuracy", res.accuracy("center-mask").mean(1),
            res.accuracy("plain").mean(1), "96.27 vs 96.03")  # fmt: skip
        if msp:
            add(f"centre masking lowers AP ({msp})", "AP", res.ap("center-mask", msp).mean(1),
                res.ap("plain", msp).mean(1), "34.41 vs 34.92", lower=True)  # fmt: skip
    if msp and odin:
        add(f"ODIN beats MSP ({odin}, plain)", "AP", res.ap("plain", odin).mean(1),
            res.ap("plain", msp).mean(1), "36.63 vs 34.92")  # fmt: skip
    zero = res.label_of("odin", eps=0.0)
    if odin and zero and odin != zero:
        add(f"ODIN's input perturbation helps ({odin} vs eps = 0, plain)", "AP",
            res.ap("plain", odin).mean(1), res.ap("plain", zero).mean(1), "-")  # fmt: skip
    if msp and energy:
        add("energy beats MSP (plain; not a claim of the paper)", "AP",
            res.ap("plain", energy).mean(1), res.ap("plain", msp).mean(1), "-")  # fmt: skip
    return out
