"""The typed config of a hold-out-class benchmark (``kind = "holdout"``, e.g.
configs/holdout_fmnist.toml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..._validate import MAX_SEED, InputError
from ...io.typed_schema import Section, option
from ..sections import ModelSection, RunOptions, ScorerSpec, TrainSection


@dataclass(kw_only=True)
class HoldoutData(Section):
    dataset: str
    train_limit: int | None = option(None, min=20)  # a seeded subset of the training images
    test_limit: int | None = option(None, min=10)

    def check(self, where: str) -> None:
        from ...data import available_datasets

        if self.dataset.lower() not in [*available_datasets(), "fmnist", "cifar-10"]:
            raise InputError(f"{where}.dataset: unknown data set {self.dataset!r}")


@dataclass(kw_only=True)
class HoldoutTrain(TrainSection):
    epochs: int = option(30, min=1)
    rotation_lambda: float = option(0.5, gt=0)  # weight of the rotation task
    center_mask: bool = False  # also train the centre-masked variant (the paper's ablation)


def _default_methods() -> list[ScorerSpec]:
    return [ScorerSpec("msp"), ScorerSpec("odin", {"T": 1000.0, "eps": 5e-5}), ScorerSpec("energy")]


@dataclass(kw_only=True)
class HoldoutConfig(RunOptions):
    kind: Literal["holdout"] = "holdout"
    title: str = "hold-out-class benchmark"
    config_file: str = ""
    seed: int = option(0, min=0, max=MAX_SEED)
    trials: int = option(3, min=1)
    classes: list[int] | None = option(None, min=0, min_len=1)
    rotation: bool = True  # also train the rotation-head variant
    # the ID-accuracy gate on each trained model (its held-in test classes): below
    # accuracy_gate x chance the run stops (strict) or its report opens with the warning
    strict: bool = True
    accuracy_gate: float = option(1.5, min=0)
    methods: list[ScorerSpec] = option(factory=_default_methods, min_len=1)
    data: HoldoutData
    model: ModelSection = option(factory=ModelSection)
    train: HoldoutTrain = option(factory=HoldoutTrain)

    def check(self, where: str) -> None:
        super().check(where)
        from ...evaluate.scoring import method_label

        labels = [method_label(m.as_method()) for m in self.methods]
        if len(set(labels)) != len(labels):
            raise InputError("methods: two methods with the same label")
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise InputError("classes: a class is listed twice")

    @property
    def variants(self) -> list[str]:
        return ["plain"] + ["center-mask"] * self.train.center_mask + ["rotation"] * self.rotation
