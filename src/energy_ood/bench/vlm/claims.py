"""The Delta-Energy paper's claims on the WordNet gloss benchmark, decided over splits (each
split a paired unit: the same categories, glosses and prompt initialisation for both sides) with
the one rule of :mod:`energy_ood.bench.stats`, and the table of departures from the paper."""

from __future__ import annotations

from ...runtime.provenance import describe_machine
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


def vlm_departures(cfg, res: VLMResults) -> list[list[str]]:
    d, s0 = cfg.data, res.splits[0]["n"]
    enc = ", ".join(str(v) for v in res.run["data"]["encoder"].values())
    return [
        ["model", "CLIP ViT-B/16 (images and text)", enc],
        ["data", "ImageNet-1k ID; iNaturalist, SUN, Places, Textures OOD",
         f"WordNet noun glosses: {len(res.run['data']['categories'])} categories, "
         f"{d.n_id} ID per split; per split {s0}"],
        ["OOD", "other data sets (covariate and semantic shift)",
         "held-out WordNet categories (semantic shift only)"],
        ["temperatures", "MCM tau = 1, CLIP logit scale 100",
         f"chosen per split and stage on validation (ID validation glosses vs "
         f"{len(res.splits[0]['val_ood_categories'])} validation-OOD categories): tau from "
         f"{cfg.zeroshot.taus}, logit scale from {cfg.zeroshot.logit_scales}"],
        ["Delta-Energy score and EBM loss", "as published (not readable here)",
         "RECONSTRUCTION (see below)"],
        ["prompt tuning", "CoOp, 16 shots per class", f"CoOp, {d.train_per_class} glosses per "
         f"class, epochs: {cfg.tune.epochs}"],
        ["repetitions", "not stated", f"{d.splits} seeded category splits (paired units)"],
        ["machine", "GPU (not stated)", describe_machine(res.run.get("machine"))],
    ]  # fmt: skip
