"""fDBD, fast decision-boundary distance (Liu & Qin, ICML 2024).

With logits f = W h + b and yhat = argmax f, the distance from h to the boundary between yhat
and class c is |f_yhat - f_c| / ||w_yhat - w_c||. The score is their mean over c != yhat,
divided by ||h - mu||, mu = the mean ID training feature (higher = ID: far from the
boundaries relative to the distance from the ID centre). Hyper-parameter free.
``fit(train_features, head=model.fc)``.
"""

from __future__ import annotations

import torch

from .._validate import InputError, as_tensor_2d
from ._head import check_head_width, linear
from .base import Scorer
from .registry import register


@register("fdbd")
class FDBD(Scorer):
    input_kind = "features"
    fit_needs = frozenset({"X", "head"})
    state_shapes = {"weight": ("K", "D"), "bias": ("K",), "mean": ("D",)}
    check_inputs = True

    def _fit(self, X, y, weight=None, bias=None, **_) -> None:
        z = as_tensor_2d(X, "fdbd features", torch.float64).to(weight.device)
        check_head_width("fdbd", z, weight)
        self.weight, self.bias, self.mean = weight, bias, z.mean(0).float()

    def _after_state(self) -> None:
        if self.weight.shape[0] < 2:
            raise InputError("fdbd: needs at least 2 classes")
        w = self.weight.double()
        norms = torch.cdist(w, w)  # ||w_i - w_j||; the diagonal's 0 is never divided by
        self._inv_norms = torch.where(norms > 0, 1.0 / norms, torch.zeros_like(norms)).float()
        self.n_features_in_ = int(self.weight.shape[1])

    def _score_chunk(self, z: torch.Tensor) -> torch.Tensor:
        logits = linear(z, self.weight, self.bias)
        top, pred = logits.max(dim=1)
        inv = self._inv_norms.to(z)[pred]
        dist = ((top[:, None] - logits) * inv).sum(1) / (logits.shape[1] - 1)
        return dist / (z - self.mean.to(z.dtype)).norm(dim=1).clamp_min(1e-12)
