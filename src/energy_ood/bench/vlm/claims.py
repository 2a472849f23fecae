"""The Delta-Energy paper's claims on the WordNet gloss benchmark, decided over splits (each
split a paired unit: the same categories, glosses and prompt initialisation for both sides) with
the one rule of :mod:`energy_ood.bench.stats` (departures from the paper: :mod:`.disclosure`)."""

from __future__ import annotations

from ..claims import Claim
from ..stats import paired_verdict
from .results import DE, VLMResults


def vlm_claims(res: VLMResults) -> list[Claim]:
    out = []

    def add(text, metric, a, b, paper, lower):
        a, b = [float(x) for x in a], [float(x) for x in b]
        out.append(Claim(text, metric, lower, a, b, paper, paired_verdict(a, b, lower)))

    keys = (("fpr95", "FPR95", True), ("auroc", "AUROC", False))
    paper = "Delta-Energy paper: yes"
    if DE in res.labels:
        for stage in res.stages:
            for other in ("Energy", "MCM"):
                for key, name, lower in keys:
                    add(
                        f"{stage}: Delta-Energy (c=1, floor=0) beats {other}",
                        name,
                        res.metric(stage, DE, key),
                        res.metric(stage, other, key),
                        paper,
                        lower,
                    )
        if "CoOp CE" in res.stages and "CoOp CE+EBM" in res.stages:
            for key, name, lower in keys:
                add("CE+EBM prompt tuning beats CE (Delta-Energy score)", name,
                    res.metric("CoOp CE+EBM", DE, key), res.metric("CoOp CE", DE, key), paper,
                    lower)  # fmt: skip
            add("CE+EBM prompt tuning keeps closed-set accuracy (vs CE)", "accuracy",
                res.accuracy("CoOp CE+EBM"), res.accuracy("CoOp CE"), "Delta-Energy paper: yes",
                False)  # fmt: skip
    return out
