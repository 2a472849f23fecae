"""``LoadedModel``: what ``load_model`` / ``load_program`` return."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from torch import nn

from .preprocess import Preprocess


@dataclass
class LoadedModel:
    """A model ready for scoring: ``ModelAdapter(lm.model, head=lm.head)``, inputs
    ``lm.preprocess(images)``; ``describe()`` is the JSON record for run.json / reports."""

    model: nn.Module
    head: str | None  # final nn.Linear; None: logits only (TorchScript), no feature scorers
    preprocess: Preprocess
    arch: dict
    num_classes: int | None
    checkpoint: str | None = None
    normalization: dict | None = None  # the resolved --normalize (data.for_model), for reports

    @property
    def source(self) -> str:
        """``energy_ood``, ``torchvision``, ``timm``, ``torchscript`` or ``export``."""
        return self.arch.get("source", "energy_ood")

    @property
    def in_channels(self) -> int:
        return self.preprocess.channels

    @property
    def input_size(self) -> tuple[int, int] | None:
        return self.preprocess.size

    def describe(self) -> dict:
        return {
            "model": self.arch["name"],
            "arch": copy.deepcopy(self.arch),
            "head": self.head,
            "preprocess": self.preprocess.to_dict(),
            "checkpoint": self.checkpoint,
            "normalization": self.normalization,
        }
