"""Score a trained model with many post-hoc methods on ID test data and OOD sets.

Logits and features are extracted once per data set (one forward pass) and every logit or
feature scorer reuses them; ODIN needs inputs and gradients and runs on the inputs. Scorers
that learn ID statistics (Mahalanobis, KNN, ReAct, ViM) are fitted on ID *training* features.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import _dist
from .._progress import log
from ..score import ModelAdapter, create_scorer
from .extract import extract

FEATURE_FIT = {"mahalanobis": "labels", "knn": "plain", "react": "head", "vim": "head"}


def method_label(spec: dict) -> str:
    params = {k: v for k, v in spec.items() if k not in ("name", "label")}
    if "label" in spec:
        return spec["label"]
    return (
        spec["name"]
        if not params
        else spec["name"]
        + "("
        + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        + ")"
    )


class ScoredModel:
    """Caches logits/features of one model on named input sets."""

    def __init__(
        self,
        model: torch.nn.Module,
        fit_x: torch.Tensor,
        fit_y: torch.Tensor,
        batch_size: int = 1024,
        runtime=None,
    ):
        self.model = model
        self.adapter = ModelAdapter(model)
        self.batch_size = batch_size
        self.runtime = runtime
        self.inputs: dict[str, torch.Tensor] = {}
        self.cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.fit_y = fit_y
        self.add("__fit__", fit_x)

    def add(self, name: str, x: torch.Tensor) -> None:
        self.inputs[name] = x
        self.cache[name] = extract(
            self.model, x, self.batch_size, self.runtime, desc=f"features {name}"
        )

    def logits(self, name: str) -> torch.Tensor:
        return self.cache[name][0]

    def scores(self, spec: dict, names: list[str]) -> dict[str, np.ndarray]:
        """{set name: ID-ness scores} of the method ``spec`` ({"name": ..., params...})."""
        params = {k: v for k, v in spec.items() if k not in ("name", "label")}
        name = spec["name"]
        if name == "odin":
            sc = create_scorer("odin", model=self.model, **params)
            return {n: sc.score(self.inputs[n]) for n in names}
        sc = create_scorer(name, **params)
        if name in FEATURE_FIT:
            feats = self.cache["__fit__"][1]
            kind = FEATURE_FIT[name]
            if kind == "labels":
                sc.fit(feats, self.fit_y)
            elif kind == "head":
                sc.fit(feats, head=self.adapter.head)
            else:
                sc.fit(feats)
            return {n: sc.score(self.cache[n][1]) for n in names}
        return {n: sc.score(self.cache[n][0]) for n in names}


def score_methods(
    scored: ScoredModel, methods: list[dict], id_name: str, ood_names: list[str]
) -> dict[str, dict]:
    """{method label: {"id": scores, "ood": {set: scores}}}."""
    out = {}
    for spec in methods:
        label = method_label(spec)
        log(f"scoring {label}")
        s = scored.scores(spec, [id_name, *ood_names])
        out[label] = {"id": s[id_name], "ood": {n: s[n] for n in ood_names}, "spec": spec}
    return out


def score_on_sets(
    model, data, oods: dict, methods: list[dict], fit_n: int, seed: int, runtime=None
):
    """Extract logits/features of ``model`` on the ID test set (named "id") and each OOD set,
    fit feature scorers on a seeded subset of ``fit_n`` ID training images, and score every
    method: ``(score_methods(...) result, ScoredModel)``. In a torchrun job every process
    extracts its shard and rank 0 alone scores (the others get ``(None, ScoredModel)``)."""
    g = torch.Generator().manual_seed(seed)
    fit_idx = torch.randperm(len(data.x_train), generator=g)[:fit_n]
    scored = ScoredModel(model, data.x_train[fit_idx], data.y_train[fit_idx], runtime=runtime)
    scored.add("id", data.x_test)
    for name, x in oods.items():
        scored.add(name, x)
    if not _dist.is_main():
        return None, scored
    return score_methods(scored, methods, "id", list(oods)), scored
