"""SHE, Simplified Hopfield Energy (Zhang et al., ICLR 2023).

Patterns m_k = mean penultimate features of the ID training samples of class k that the model
classifies correctly; score(h) = <h, m_yhat>, yhat = argmax(W h + b). A class without one
correctly classified sample (a weak model) takes the mean of all its samples instead (listed in
``fallback_classes_``; the paper does not say).
``fit(train_features, train_labels, head=model.fc)``.
"""

from __future__ import annotations

import torch

from .._validate import InputError, as_tensor_2d
from ._head import check_head_width, linear
from .base import Scorer
from .calibrated import check_labels
from .registry import register


@register("she")
class SHE(Scorer):
    input_kind = "features"
    fit_needs = frozenset({"X", "y", "head"})
    state_shapes = {"weight": ("K", "D"), "bias": ("K",), "patterns": ("K", "D")}
    check_inputs = True

    def _fit(self, X, y, weight=None, bias=None, **_) -> None:
        z = as_tensor_2d(X, "she features").to(weight.device)
        y = check_labels(y, z.shape[0], weight.shape[0], "she", z.device)
        check_head_width("she", z, weight)
        k = weight.shape[0]
        pred = linear(z, weight, bias).argmax(1)
        ok = pred == y
        sums = torch.zeros(k, z.shape[1], dtype=z.dtype, device=z.device).index_add_(
            0, y[ok], z[ok]
        )
        counts = torch.bincount(y[ok], minlength=k)
        empty = counts == 0
        if bool(empty.any()):  # no correct sample (a weak model): all samples of the class
            all_sums = torch.zeros_like(sums).index_add_(0, y, z)
            all_counts = torch.bincount(y, minlength=k)
            if bool((all_counts[empty] == 0).any()):
                c = int(torch.nonzero(empty & (all_counts == 0))[0])
                raise InputError(f"she: no training sample of class {c}")
            sums[empty], counts[empty] = all_sums[empty], all_counts[empty]
            self.fallback_classes_ = torch.nonzero(empty).flatten().tolist()
        self.weight, self.bias = weight, bias
        self.patterns = (sums / counts[:, None]).float()

    def _after_state(self) -> None:
        self.n_features_in_ = int(self.weight.shape[1])

    def _score_chunk(self, z: torch.Tensor) -> torch.Tensor:
        pred = linear(z, self.weight, self.bias).argmax(1)
        return (z * self.patterns.to(z.dtype)[pred]).sum(1)
