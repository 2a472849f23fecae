"""Deep nearest neighbours (Sun et al. 2022): score = -(distance from the L2-normalised
feature to its k-th nearest L2-normalised ID training feature).

For unit vectors ||q - b||^2 = 2 - 2 q.b, so one matrix product per chunk of queries and one
top-k give the k-th distance exactly (brute force, no approximate index). The product of a
chunk goes into one reused buffer of at most ``buffer_mb`` (a fresh 200 MB block per chunk costs
page faults: 1.4x slower in BENCHMARKS.md); the product runs at this machine's matmul peak, so
the top-k is the only other cost."""

from __future__ import annotations

import torch

from .._validate import InputError, as_tensor_2d
from ._head import check_features
from .base import Scorer, register


def _normalize(z: torch.Tensor) -> torch.Tensor:
    return z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)


@register("knn")
class KNN(Scorer):
    input_kind = "features"
    needs_fit = True
    chunk_rows = 1024
    buffer_mb = 256

    def __init__(self, k: int = 50):
        super().__init__()
        if int(k) < 1:
            raise InputError(f"knn: k must be >= 1, got {k}")
        self.k = int(k)
        self._buf: torch.Tensor | None = None

    def get_params(self) -> dict:
        return {"k": self.k}

    def fit(self, features) -> KNN:
        bank = as_tensor_2d(features, "knn features", torch.float32)
        if bank.shape[0] < self.k:
            raise InputError(f"knn: k={self.k} but only {bank.shape[0]} training features")
        self.bank = _normalize(bank).contiguous()
        self.fitted_ = True
        self._set_chunk()
        return self

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        super().load_state_dict(state)
        self._set_chunk()

    def _set_chunk(self) -> None:
        per_row = 4 * self.bank.shape[0]
        self.chunk_rows = int(max(1, min(1024, self.buffer_mb * 2**20 // per_row)))
        self._buf = None

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"bank": self.bank}

    def _score_chunk(self, z: torch.Tensor) -> torch.Tensor:
        check_features(self.name, z, self.bank.shape[1])
        if self._buf is None or self._buf.shape[0] < z.shape[0]:
            self._buf = torch.empty(self.chunk_rows, self.bank.shape[0])
        sims = torch.mm(_normalize(z.float()), self.bank.T, out=self._buf[: z.shape[0]])
        kth = sims.topk(self.k, dim=1, sorted=False).values.amin(1)
        return -torch.sqrt((2.0 - 2.0 * kth).clamp_min(0.0))
