"""GradNorm (Huang, Geng & Li, NeurIPS 2021): the L1 norm of the gradient of
KL(u || softmax(f)) with respect to the final layer's weights W, u uniform, T = 1.

With f = W h + b the gradient is (p - u) h^T, so its L1 norm is ||p - u||_1 * ||h||_1 in closed
form: no backward pass. Higher = ID. The authors' code takes the loss as sum_j -log p_j (K times
the KL term) and so reports K times this score: same ranking. Needs the head only:
``fit(head=model.fc)``.
"""

from __future__ import annotations

import torch

from ._head import linear
from .base import Scorer
from .registry import register


@register("gradnorm")
class GradNorm(Scorer):
    input_kind = "features"
    fit_needs = frozenset({"head"})
    state_shapes = {"weight": ("K", "D"), "bias": ("K",)}
    check_inputs = True

    def _fit(self, X, y, weight=None, bias=None, **_) -> None:
        self.weight, self.bias = weight, bias

    def _after_state(self) -> None:
        self.n_features_in_ = int(self.weight.shape[1])

    def _score_chunk(self, z: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(linear(z, self.weight, self.bias), dim=1)
        return (p - 1.0 / p.shape[1]).abs().sum(1) * z.abs().sum(1)
