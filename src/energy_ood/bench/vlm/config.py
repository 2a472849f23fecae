"""The typed config of the WordNet gloss benchmark (``kind = "vlm"``, configs/vlm_wordnet.toml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..._validate import MAX_SEED, InputError
from ...io.typed_schema import Section, option
from ..sections import RunOptions


@dataclass(kw_only=True)
class VLMData(Section):
    wordnet_dir: str = "/usr/share/wordnet"
    categories: list[str] | None = None  # default: every category with enough glosses
    exclude: list[str] = option(factory=list)
    per_category: int = option(100, min=3)  # glosses sampled per category
    train_per_class: int = option(32, min=1)  # of which for prompt tuning (ID categories)
    val_per_class: int = option(16, min=1)  # of which ID validation (choosing scale and tau)
    n_id: int = option(12, min=2)  # ID categories per split; the rest are semantic OOD
    val_ood_fraction: float = option(1 / 3, gt=0, max=0.9)  # OOD categories kept for validation
    splits: int = option(5, min=1)

    def check(self, where: str) -> None:
        if self.train_per_class + self.val_per_class >= self.per_category:
            raise InputError(
                f"{where}: train_per_class + val_per_class must be < per_category "
                f"({self.train_per_class} + {self.val_per_class} >= {self.per_category})"
            )


@dataclass(kw_only=True)
class EncoderSection(Section):
    kind: Literal["sentence", "openclip"] = "sentence"
    model: str | None = None
    pretrained: str | None = None  # open_clip: a local checkpoint file
    batch_size: int = option(64, min=1)

    def check(self, where: str) -> None:
        if self.pretrained is not None and self.kind != "openclip":
            raise InputError(f"{where}.pretrained: only for kind = 'openclip'")


@dataclass(kw_only=True)
class ZeroShotSection(Section):
    templates: list[str] = option(factory=lambda: ["a photo of a {}."], min_len=1)
    # grids chosen from on the validation split (never test), per score and split
    logit_scales: list[float] = option(factory=lambda: [10.0, 30.0, 100.0, 300.0], gt=0,
                                       min_len=1)  # fmt: skip
    taus: list[float] = option(factory=lambda: [0.01, 0.03, 0.1, 0.3, 1.0], gt=0, min_len=1)

    def check(self, where: str) -> None:
        from ...vlm.zeroshot import check_template

        for i, t in enumerate(self.templates):
            check_template(t, f"{where}.templates[{i}]:")


@dataclass(kw_only=True)
class DeltaEnergySection(Section):
    c: list[int] = option(factory=lambda: [1], min=1, min_len=1)
    floor: list[float] = option(factory=lambda: [0.0], min_len=1)


@dataclass(kw_only=True)
class EBMSection(Section):  # RECONSTRUCTION: all of these constants are ours
    weight: float = option(0.1, min=0)
    margin: float = 10.0
    pair_weight: float = option(1.0, min=0)
    mask_ratio: float = option(0.5, gt=0, max=1)
    floor: float = 0.0


@dataclass(kw_only=True)
class TuneSection(Section):
    losses: list[Literal["ce", "ce+ebm"]] = option(factory=lambda: ["ce", "ce+ebm"])
    n_ctx: int = option(16, min=1)
    init_std: float = option(0.02, gt=0)
    epochs: int = option(10, min=1)
    lr: float = option(0.002, gt=0)
    batch_size: int = option(32, min=1)
    logit_scale: float = option(100.0, gt=0)  # of the CE loss (CoOp: CLIP's trained value)
    ebm: EBMSection = option(factory=EBMSection)


@dataclass(kw_only=True)
class VLMConfig(RunOptions):
    kind: Literal["vlm"] = "vlm"
    title: str = "WordNet gloss benchmark"
    config_file: str = ""
    seed: int = option(0, min=0, max=MAX_SEED)
    data: VLMData
    encoder: EncoderSection = option(factory=EncoderSection)
    zeroshot: ZeroShotSection = option(factory=ZeroShotSection)
    delta_energy: DeltaEnergySection = option(factory=DeltaEnergySection)
    tune: TuneSection = option(factory=TuneSection)
