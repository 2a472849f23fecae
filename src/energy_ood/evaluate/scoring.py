"""Score a trained model with many post-hoc methods on ID test data and OOD sets.

Logits and features are extracted once per data set (one forward pass, on first use) and every
logit or feature scorer reuses them; scorers of model inputs (ODIN, RankFeat, ...) run on the
inputs. Each scorer is fitted with what it declares it needs (``fit_scorer``): ID *training*
features / labels / the head for Mahalanobis, KNN, ReAct, ViM, ..., ID *validation* logits for
temperature scaling and KL-Matching, the input normalisation's std for ODIN's pixel-unit eps.
"""

from __future__ import annotations

import numpy as np
import torch

from ..runtime import dist
from ..runtime.progress import log
from ..score import FitSource, ModelAdapter, create_scorer, fit_scorer
from ..score.adapter import check_features
from .extract import extract


def method_specs(names: list[str], T: float = 1.0) -> list[dict]:
    """``{"name": ..., "T": T}`` of each scorer name (``T`` only where it is not 1 and the
    scorer takes it)."""
    from ..score import scorer_params

    out = []
    for name in names:
        spec = {"name": name}
        if T != 1.0 and "T" in scorer_params(name):
            spec["T"] = T
        out.append(spec)
    return out


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
    """Caches logits/features of one model on named input sets (extracted on first use)."""

    def __init__(
        self,
        model: torch.nn.Module,
        fit_x: torch.Tensor,
        fit_y: torch.Tensor,
        batch_size: int = 1024,
        val_x: torch.Tensor | None = None,
        val_y: torch.Tensor | None = None,
        std: list[float] | None = None,
        runtime=None,
        head: str | None = None,
        class_weights=None,
    ):
        self.model = model
        self.class_weights = class_weights  # learned in training (VOS), for weighted_ebo
        self.adapter = ModelAdapter(model, head)
        self.head_name = head
        self.batch_size = batch_size
        self.runtime = runtime
        self.inputs: dict[str, torch.Tensor] = {}
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.fit_y, self.val_y, self.std = fit_y, val_y, std
        self.add("__fit__", fit_x)
        if val_x is not None:
            self.add("__val__", val_x)

    def add(self, name: str, x: torch.Tensor) -> None:
        self.inputs[name] = x
        self._cache.pop(name, None)
        if dist.world() > 1:  # every process extracts its shard now; rank 0 scores later
            self.outputs(name)

    def outputs(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, features) of the named set, extracted once (on the runtime's device)."""
        if name not in self._cache:
            x = self.inputs[name]
            self._cache[name] = extract(
                self.model, x, self.batch_size, self.runtime, self.head_name, f"features {name}"
            )
        return self._cache[name]

    def logits(self, name: str) -> torch.Tensor:
        return self.outputs(name)[0]

    def data(self, name: str, kind: str):
        if kind == "inputs":
            return self.inputs[name]
        if kind not in ("logits", "features"):
            raise ValueError(f"a classifier gives no {kind}")
        if kind == "features":
            return check_features(self.outputs(name)[1])
        return self.outputs(name)[0]

    def source(self) -> FitSource:
        kinds = ("logits", "features", "inputs")

        def split(name):
            return {k: (lambda k=k: self.data(name, k)) for k in kinds}

        return FitSource(
            train=split("__fit__"),
            train_labels=self.fit_y,
            val=split("__val__") if "__val__" in self.inputs else {},
            val_labels=self.val_y,
            head=self.adapter.head,
            model=self.model,
            std=self.std,
            class_weights=self.class_weights,
        )

    def fitted(self, spec: dict):
        """The scorer of the method ``spec`` ({"name": ..., params...}), fitted."""
        params = {k: v for k, v in spec.items() if k not in ("name", "label")}
        return fit_scorer(create_scorer(spec["name"], **params), self.source())

    def scores(self, spec: dict, names: list[str]) -> dict[str, np.ndarray]:
        """{set name: ID-ness scores} of the method ``spec`` ({"name": ..., params...})."""
        sc = self.fitted(spec)
        return {n: sc.score(self.data(n, sc.input_kind)) for n in names}

    def streamed(self, name: str) -> bool:
        """A set served in batches (a StreamSplit) whose outputs are not held: scored chunk by
        chunk (:meth:`stream_scores`) so memory does not grow with its size."""
        return hasattr(self.inputs[name], "batches") and name not in self._cache

    def stream_scores(self, name: str, scorers: dict) -> dict[str, np.ndarray]:
        """{label: scores of the set ``name``} of fitted ``scorers`` ({label: scorer}): logits
        and features are extracted ``STREAM_ROWS`` images at a time, scored by every scorer,
        and dropped; only the scores are kept."""
        x = self.inputs[name]
        parts: dict[str, list] = {label: [] for label in scorers}
        for a in range(0, len(x), STREAM_ROWS):
            xs = x[np.arange(a, min(len(x), a + STREAM_ROWS))]
            lo, z = extract(self.model, xs, self.batch_size, self.runtime, self.head_name,
                            f"features {name} {a}")  # fmt: skip
            kinds = {"logits": lo, "features": z, "inputs": xs}
            for label, sc in scorers.items():
                data = kinds[sc.input_kind]
                parts[label].append(sc.score(check_features(data) if data is z else data))
        return {label: np.concatenate(p) for label, p in parts.items()}


STREAM_ROWS = 32768  # images per chunk of a streamed set (outputs held: one chunk's)


def score_methods(
    scored: ScoredModel, methods: list[dict], id_name: str, ood_names: list[str]
) -> dict[str, dict]:
    """{method label: {"id": scores, "ood": {set: scores}}}. Streamed sets
    (:meth:`ScoredModel.streamed`) are scored after every method is fitted, chunk by chunk."""
    names = [id_name, *ood_names]
    streamed = [n for n in names if scored.streamed(n)]
    out, fitted = {}, {}
    for spec in methods:
        label = method_label(spec)
        log(f"scoring {label}")
        sc = scored.fitted(spec)
        if streamed:
            fitted[label] = sc
        s = {n: sc.score(scored.data(n, sc.input_kind)) for n in names if n not in streamed}
        out[label] = {"s": s, "spec": spec}
    for n in streamed:
        for label, scores in scored.stream_scores(n, fitted).items():
            out[label]["s"][n] = scores
    return {
        label: {
            "id": r["s"][id_name],
            "ood": {n: r["s"][n] for n in ood_names},
            "spec": r["spec"],
        }
        for label, r in out.items()
    }


def score_on_sets(
    model, data, oods: dict, methods: list[dict], fit_n: int, seed: int, runtime=None, head=None,
    before=None, class_weights=None,
):  # fmt: skip
    """Extract logits/features of ``model`` on the ID test set (named "id") and each OOD set,
    fit scorers on a seeded subset of ``fit_n`` ID training images (validation-split scorers on
    the ID validation images), and score every method: ``(score_methods(...), ScoredModel)``.
    ``before(scored)`` runs on rank 0 before any scorer (the ID-accuracy gate);
    ``class_weights`` are the model's learned class weights (VOS) for ``weighted_ebo``. In a
    torchrun job every process extracts its shard and rank 0 alone scores (the others get
    ``(None, ScoredModel)``)."""
    g = torch.Generator().manual_seed(seed)
    fit_idx = torch.randperm(len(data.x_train), generator=g)[:fit_n]
    val_x = getattr(data, "x_val", None)
    scored = ScoredModel(
        model,
        data.x_train[fit_idx],
        data.y_train[fit_idx],
        val_x=val_x if val_x is not None and len(val_x) else None,
        val_y=getattr(data, "y_val", None),
        std=list(data.std) if getattr(data, "std", None) is not None else None,
        runtime=runtime,
        head=head,
        class_weights=class_weights,
    )
    scored.add("id", data.x_test)
    for name, x in oods.items():
        scored.add(name, x)
    if not dist.is_main():
        return None, scored
    if before is not None:
        before(scored)
    return score_methods(scored, methods, "id", list(oods)), scored
