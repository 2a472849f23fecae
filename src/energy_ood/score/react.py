"""ReAct (Sun et al. 2021): clip penultimate activations at the p-th percentile of ID
activations, then the energy score of the logits the clipped features give."""

from __future__ import annotations

import numpy as np
import torch

from .._validate import InputError, as_tensor_2d
from . import functional as F
from ._head import check_features, resolve_head
from .base import Scorer, register


@register("react")
class ReAct(Scorer):
    input_kind = "features"
    needs_fit = True

    def __init__(self, percentile: float = 90.0, T: float = 1.0):
        super().__init__()
        if not 0 < percentile <= 100:
            raise InputError(f"react: percentile must be in (0, 100], got {percentile}")
        self.percentile, self.T = float(percentile), float(T)

    def get_params(self) -> dict:
        return {"percentile": self.percentile, "T": self.T}

    def fit(self, features, weight=None, bias=None, head=None) -> ReAct:
        z = as_tensor_2d(features, "react features", torch.float32)
        self.weight, self.bias = resolve_head("react", weight, bias, head)
        check_features(self.name, z, self.weight.shape[1])
        self.threshold = torch.tensor(float(np.percentile(z.numpy(), self.percentile)))
        self.fitted_ = True
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"weight": self.weight, "bias": self.bias, "threshold": self.threshold}

    def _score_chunk(self, z: torch.Tensor) -> torch.Tensor:
        check_features(self.name, z, self.weight.shape[1])
        logits = z.float().clamp(max=float(self.threshold)) @ self.weight.T + self.bias
        return F.energy_score(logits, self.T)
