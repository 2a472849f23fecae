"""NNGuide, nearest-neighbour guidance (Park, Jung & Teoh, ICCV 2023).

Bank: the L2-normalised ID training features, each scaled by its confidence, the energy score
logsumexp(W h + b). Guidance of a query: the mean of its k largest inner products between the
normalised query and the bank rows (the authors' code: an exact inner-product index). Score =
energy(query) * guidance (higher = ID). Default k = 10, the authors' code's default.
``fit(train_features, head=model.fc)``; the paper subsamples the training set for the bank
(pass the rows you want to keep).

pytorch-ood 0.4.0's NNGuide computes the same numbers (benchmarks/bench_agreement.py).
"""

from __future__ import annotations

import torch

from .._validate import InputError, as_tensor_2d
from . import param_checks as P
from ._head import check_head_width, linear
from .base import Scorer
from .registry import register


def _unit(z: torch.Tensor) -> torch.Tensor:
    return z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)


@register("nnguide")
class NNGuide(Scorer):
    input_kind = "features"
    fit_needs = frozenset({"X", "head"})
    state_shapes = {"weight": ("K", "D"), "bias": ("K",), "bank": ("N", "D")}
    check_inputs = True
    buffer_mb = 256

    def __init__(self, k: int = 10):
        super().__init__()
        self.k = P.integer(k, "nnguide: k", low=1)

    def _fit(self, X, y, weight=None, bias=None, **_) -> None:
        z = as_tensor_2d(X, "nnguide features", torch.float32).to(weight.device)
        check_head_width("nnguide", z, weight)
        conf = torch.logsumexp(linear(z, weight, bias), dim=1)
        self.weight, self.bias = weight, bias
        self.bank = (_unit(z) * conf[:, None]).contiguous()

    def _after_state(self) -> None:
        n = self.bank.shape[0]
        if n < self.k:
            raise InputError(f"nnguide: k={self.k} but only {n} bank rows")
        self.chunk_rows = int(max(1, min(8192, self.buffer_mb * 2**20 // (4 * n))))
        self.n_features_in_ = int(self.weight.shape[1])

    def _score_chunk(self, z: torch.Tensor) -> torch.Tensor:
        sims = _unit(z.float()) @ self.bank.T
        guidance = sims.topk(self.k, dim=1, sorted=False).values.mean(1)
        energy = torch.logsumexp(linear(z, self.weight, self.bias), dim=1)
        return energy * guidance.to(z.dtype)
