"""The typed config of a dataset-vs-dataset benchmark (``kind = "ood"``, e.g. configs/fmnist.toml).

Families are checked on load: an auxiliary source that shares a family with an OOD test set or
with the ID data, an OOD test set of the ID data's family, and a margin-validation source
(``data.margin_val``, the outliers the margin sweep chooses on) of the family of a test set,
an auxiliary source or the ID data are refused before anything trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..._validate import MAX_INPUT_SIZE, MAX_SEED, InputError
from ...data.sources import id_family, ood_family, ood_set_names
from ...data.splits import check_families
from ...io.typed_schema import Section, option
from ..sections import ModelSection, RunOptions, ScorerSpec, TrainSection, check_distinct


@dataclass(kw_only=True)
class DataSection(Section):
    dataset: str
    ood_sets: list[str] = option(min_len=1)
    aux: list[str] = option(factory=list)
    # the margin sweep's validation outliers: a family used neither for aux nor for ood_sets
    margin_val: list[str] = option(factory=list)
    n_ood: int | None = option(None, min=1)  # OOD pool per set (default: len(ID test))
    train_limit: int | None = option(None, min=10)
    test_limit: int | None = option(None, min=1)

    def check(self, where: str) -> None:
        from ...data import available_datasets

        if self.dataset.lower() not in [*available_datasets(), "fmnist", "cifar-10"]:
            raise InputError(
                f"{where}.dataset: unknown data set {self.dataset!r}; "
                f"one of {', '.join(available_datasets())}"
            )
        for key, names in (("ood_sets", self.ood_sets), ("aux", self.aux),
                           ("margin_val", self.margin_val)):  # fmt: skip
            check_distinct(names, f"{where}.{key}")
            for n in names:
                if n not in ood_set_names():
                    raise InputError(
                        f"{where}.{key}: unknown set {n!r}; one of {', '.join(ood_set_names())}"
                    )
        for t in self.ood_sets:
            if ood_family(t) == id_family(self.dataset):
                raise InputError(
                    f"{where}.ood_sets: {t!r} is the in-distribution data's family "
                    f"({ood_family(t)})"
                )
        try:
            check_families(self.aux, self.ood_sets, self.dataset)
        except InputError as e:
            raise InputError(f"{where}.aux: {e}") from None
        self._check_margin_val(where)

    def _check_margin_val(self, where: str) -> None:
        used = {id_family(self.dataset): "the ID data"}
        for what, names in (("OOD test set", self.ood_sets), ("auxiliary source", self.aux)):
            for t in names:
                used.setdefault(ood_family(t), f"{what} {t!r}")
        for v in self.margin_val:
            fam = ood_family(v)
            if fam in used:
                raise InputError(
                    f"{where}.margin_val: {v!r} is of the family of {used[fam]} ({fam}); "
                    "margin-validation outliers must be of a family used neither for training "
                    "outliers nor for tests"
                )


@dataclass(kw_only=True)
class BenchModelSection(ModelSection):
    """The model of a dataset-vs-dataset benchmark. ``name``: a registry architecture (trained
    from scratch by the pretraining stage), or ``torchvision:NAME`` / ``timm:NAME``, whose
    pretraining stage starts from ``checkpoint`` (a local state dict, loaded weights_only;
    relative paths are relative to the working folder) and trains on the ID data with
    cross-entropy. ``new_head`` replaces a head whose class count differs from the ID data's;
    ``input_size`` overrides the model's preprocessing size; ``normalize`` says what the model
    expects (model | dataset | none | "MEAN,STD", as ``--normalize``); ``class_names`` a file
    of the model's classes in output order (as ``--class-names``)."""

    checkpoint: str | None = None
    new_head: bool = False
    input_size: int | None = option(None, min=8, max=MAX_INPUT_SIZE)
    normalize: str | None = None
    class_names: str | None = None

    @property
    def pretrained(self) -> bool:
        """Whether the pretraining stage starts from given weights or an external model."""
        from ...models.external import is_external

        return self.checkpoint is not None or is_external(self.name)

    def check(self, where: str) -> None:
        from pathlib import Path

        from ...models import available_models
        from ...models.external import is_external

        if not is_external(self.name) and self.name not in available_models():
            raise InputError(
                f"{where}.name: unknown model {self.name!r}; one of "
                f"{', '.join(available_models())}, torchvision:NAME or timm:NAME"
            )
        if self.checkpoint is not None and not Path(self.checkpoint).is_file():
            raise InputError(f"{where}.checkpoint: no such file {self.checkpoint!r}")
        if not self.pretrained and (
            self.new_head or self.input_size is not None or self.normalize is not None
            or self.class_names is not None
        ):  # fmt: skip
            raise InputError(
                f"{where}: new_head, input_size, normalize and class_names go with a checkpoint or "
                "a "
                "torchvision: / timm: model"
            )
        from ...models.normalization import parse_normalize

        parse_normalize(self.normalize, f"{where}.normalize")


@dataclass(kw_only=True)
class FinetuneSection(TrainSection):
    methods: list[Literal["oe", "energy", "single-margin"]] = option(
        factory=lambda: ["oe", "energy"], min_len=1
    )
    epochs: int = option(10, min=1)
    lr: float = option(0.001, gt=0)
    aux_batch_size: int | None = option(None, min=1)
    n_aux: int = option(20000, min=1)
    lam: float | None = option(None, min=0)
    m_in: float | None = None  # fixed margins (default: chosen on validation data)
    m_out: float | None = None

    def check(self, where: str) -> None:
        check_distinct(self.methods, f"{where}.methods")
        if (self.m_in is None) != (self.m_out is None):
            raise InputError(f"{where}: give both m_in and m_out, or neither")
        if self.m_in is not None and not self.m_in < self.m_out:
            raise InputError(f"{where}: need m_in < m_out, got {self.m_in}, {self.m_out}")


def _default_methods() -> list[ScorerSpec]:
    return [ScorerSpec("msp"), ScorerSpec("energy")]


@dataclass(kw_only=True)
class PosthocSection(Section):
    methods: list[ScorerSpec] = option(factory=_default_methods, min_len=1)

    def check(self, where: str) -> None:
        from ...evaluate.scoring import method_label

        check_distinct([method_label(m.as_method()) for m in self.methods], f"{where}.methods")


@dataclass(kw_only=True)
class EvalSection(Section):
    n_draws: int = option(10, min=1)
    fit_samples: int = option(10000, min=1)


@dataclass(kw_only=True)
class MarginSweepSection(Section):
    """Energy fine-tuning at margins offset from the data-chosen ones, ``[[d_in, d_out], ...]``;
    the offset with the lowest validation FPR95 against ``data.margin_val`` (ties broken as
    :mod:`.margin_choice` says) is used for every seed's energy fine-tuning."""

    offsets: list[list[float]] = option(min_len=1)
    seed: int | None = option(None, min=0, max=MAX_SEED)  # default: the first seed

    def check(self, where: str) -> None:
        for i, p in enumerate(self.offsets):
            if len(p) != 2:
                raise InputError(f"{where}.offsets[{i}]: expected [m_in offset, m_out offset]")
        check_distinct([tuple(p) for p in self.offsets], f"{where}.offsets")


@dataclass(kw_only=True)
class SweepsSection(Section):
    temperatures: list[float] = option(factory=list, gt=0)
    margins: MarginSweepSection | None = None


@dataclass(kw_only=True)
class OODConfig(RunOptions):
    kind: Literal["ood"] = "ood"
    title: str = "dataset-vs-dataset benchmark"
    config_file: str = ""
    seeds: list[int] = option(factory=lambda: [0, 1, 2], min_len=1, min=0, max=MAX_SEED)
    skip_missing: bool = False  # an OOD set whose files are absent is left out with a note
    # the ID-accuracy gate on each pretrained model: below accuracy_gate x chance the run
    # stops (strict) or its report opens with the warning (strict = false)
    strict: bool = True
    accuracy_gate: float = option(1.5, min=0)
    # an image file (of a data set or OOD set given by path) that cannot be used: error stops
    # with one line naming it; skip leaves it out and lists it in results.json
    bad_images: Literal["error", "skip"] = "error"
    data: DataSection
    model: BenchModelSection = option(factory=BenchModelSection)
    pretrain: TrainSection = option(factory=TrainSection)
    posthoc: PosthocSection = option(factory=PosthocSection)
    eval: EvalSection = option(factory=EvalSection)
    finetune: FinetuneSection | None = None
    sweeps: SweepsSection = option(factory=SweepsSection)

    def check(self, where: str) -> None:
        super().check(where)
        check_distinct(self.seeds, "seeds")
        if self.finetune is not None and not self.data.aux:
            raise InputError("finetune: fine-tuning needs auxiliary outliers (data.aux)")
        m = self.sweeps.margins
        if m is not None:
            if self.finetune is None or "energy" not in self.finetune.methods:
                raise InputError("sweeps.margins: needs 'energy' among finetune.methods")
            if self.finetune.m_in is not None:
                raise InputError("sweeps.margins: sweeps offsets from data-chosen margins; "
                                 "drop finetune.m_in / m_out")  # fmt: skip
            if m.seed is not None and m.seed not in self.seeds:
                raise InputError(f"sweeps.margins.seed: {m.seed} is not one of seeds")
            if not self.data.margin_val:
                raise InputError(
                    "sweeps.margins: needs data.margin_val, validation outliers of a family "
                    "used neither for data.aux nor for data.ood_sets (held-out auxiliary "
                    "outliers cannot tell the offsets apart)"
                )

    @property
    def sweep_seed(self) -> int:
        m = self.sweeps.margins
        return self.seeds[0] if m is None or m.seed is None else m.seed
