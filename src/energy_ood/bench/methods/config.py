"""The typed config of a training-method comparison (``kind = "methods"``, e.g.
configs/methods_fmnist.toml).

Every method trains on the same ID data, seeds and auxiliary pool: the ``scratch`` stage's
schedule for methods trained from scratch (cross-entropy, LogitNorm, VOS, energy-scratch, ...),
the ``finetune`` stage's for methods that fine-tune the seed's cross-entropy model (energy, OE,
MixOE, ...). A method entry is ``{ name = "vos", queue_size = 200 }``: the registered
objective's name, optionally ``stage`` (default: how its paper trains it), ``label`` (default:
the name; unique), ``score`` (the score it is ranked by; default: its paper's) and its
hyperparameters, all checked when the config loads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from ..._validate import MAX_SEED, InputError
from ...io.typed_schema import Section, describe, option
from ..ood.config import DataSection, EvalSection, PosthocSection
from ..sections import ModelSection, RunOptions, TrainSection, check_distinct

SPEC_KEYS = ("name", "stage", "label", "score")


@dataclass(frozen=True)
class MethodSpec:
    """One training method of a comparison."""

    name: str
    stage: str
    label: str
    score: str
    hparams: dict = field(default_factory=dict)

    @classmethod
    def from_toml(cls, v, key: str) -> MethodSpec:
        from ...score import scorer_class
        from ...train import TrainConfig
        from ...train.objectives import objective_class

        if isinstance(v, str):
            v = {"name": v}
        if not isinstance(v, dict) or not isinstance(v.get("name"), str):
            raise InputError(f"{key}: expected a table {{ name = ..., hyperparameters }}, "
                             f"got {describe(v)}")  # fmt: skip
        try:
            obj = objective_class(v["name"])
        except InputError as e:
            raise InputError(f"{key}.name: {e}") from None
        stage = v.get("stage", obj.stage)
        if stage not in ("scratch", "finetune"):
            raise InputError(f"{key}.stage: expected 'scratch' or 'finetune', got {stage!r}")
        label, score = v.get("label", v["name"]), v.get("score", obj.score)
        for k, x in (("label", label), ("score", score)):
            if not isinstance(x, str) or not x:
                raise InputError(f"{key}.{k}: expected a string, got {describe(x)}")
        try:
            scorer_class(score)
        except InputError as e:
            raise InputError(f"{key}.score: {e}") from None
        hparams = {k: x for k, x in v.items() if k not in SPEC_KEYS}
        for k, x in hparams.items():
            if isinstance(x, float) and not math.isfinite(x):
                raise InputError(f"{key}.{k}: must be finite, got {x}")
        try:
            TrainConfig(method=v["name"], hparams=dict(hparams))  # every value checked now
        except InputError as e:
            raise InputError(f"{key}: {e}") from None
        return cls(v["name"], stage, label, score, hparams)

    def to_plain(self) -> dict:
        return {"name": self.name, "stage": self.stage, "label": self.label,
                "score": self.score, **self.hparams}  # fmt: skip


@dataclass(kw_only=True)
class MethodsData(DataSection):
    n_aux: int = option(20000, min=1)  # the auxiliary pool every method that takes one draws


@dataclass(kw_only=True)
class StageSection(TrainSection):
    aux_batch_size: int | None = option(None, min=1)


@dataclass(kw_only=True)
class CompareSection(Section):
    """Paired verdicts "X beats B" for every method X and baseline label B; ``scores``: which
    scores they compare, ``"native"`` (each method its own) and/or a scorer for both sides."""

    baselines: list[str] = option(factory=lambda: ["energy", "ce"])
    scores: list[str] = option(factory=lambda: ["native"], min_len=1)


def _default_methods() -> list[MethodSpec]:
    return [MethodSpec.from_toml(n, "methods") for n in ("ce", "energy", "oe")]


@dataclass(kw_only=True)
class MethodsConfig(RunOptions):
    kind: Literal["methods"] = "methods"
    title: str = "training methods compared"
    config_file: str = ""
    seeds: list[int] = option(factory=lambda: [0, 1, 2], min_len=1, min=0, max=MAX_SEED)
    skip_missing: bool = False
    strict: bool = True
    accuracy_gate: float = option(1.5, min=0)
    bad_images: Literal["error", "skip"] = "error"
    data: MethodsData
    model: ModelSection = option(factory=ModelSection)
    scratch: StageSection = option(factory=StageSection)
    finetune: StageSection = option(factory=lambda: StageSection(epochs=10, lr=0.001))
    methods: list[MethodSpec] = option(factory=_default_methods, min_len=1)
    posthoc: PosthocSection = option(factory=PosthocSection)
    eval: EvalSection = option(factory=EvalSection)
    compare: CompareSection = option(factory=CompareSection)

    def check(self, where: str) -> None:
        super().check(where)
        check_distinct(self.seeds, "seeds")
        for sec in ("scratch", "finetune"):
            if getattr(self, sec).time_budget_s is not None:
                raise InputError(f"{sec}.time_budget_s: a comparison trains every method for "
                                 "the same epochs; give epochs")  # fmt: skip
        labels = [m.label for m in self.methods]
        check_distinct(labels, "methods (labels)")
        if "ce" not in labels or self.method("ce").name != "ce":
            raise InputError("methods: list { name = 'ce' }: the baseline, and the model the "
                             "fine-tuning methods start from")  # fmt: skip
        if self.method("ce").stage != "scratch":
            raise InputError("methods: 'ce' trains from scratch (stage = 'scratch')")
        from ...train import needs_aux

        if any(needs_aux(m.name) for m in self.methods) and not self.data.aux:
            raise InputError("data.aux: a method takes auxiliary outliers; name their sources")
        for b in self.compare.baselines:
            if b not in labels:
                raise InputError(f"compare.baselines: {b!r} is not a method label of this config")
        for s in self.compare.scores:
            if s != "native":
                from ...score import scorer_class

                try:
                    scorer_class(s)
                except InputError as e:
                    raise InputError(f"compare.scores: {e}") from None

    def method(self, label: str) -> MethodSpec | None:
        return next((m for m in self.methods if m.label == label), None)
