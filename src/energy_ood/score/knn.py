"""Deep nearest neighbours (Sun et al. 2022): score = -(distance from the L2-normalised
feature to its k-th nearest L2-normalised ID training feature).

For unit vectors ||q - b||^2 = 2 - 2 q.b, so the k-th distance follows from the k-th largest
similarity, computed exactly by the search ``index`` names (``_knn_backends``): ``"faiss"``
(faiss ``IndexFlatIP``, the ``energy-ood[faiss]`` extra), ``"torch"`` (``mm`` + ``topk``; the
GPU path), ``"brute"`` (product + numba top-k heap), ``"cluster"`` (k-means clusters of the bank
and a triangle-inequality bound skip the clusters that cannot hold a nearer point) or
``"auto"`` (default: torch on a GPU; on the CPU the pruned search for big, strongly
class-structured banks, else brute; the measurements behind this are in ``_knn_backends``).
``backend_`` names the search that runs.
"""

from __future__ import annotations

import torch

from .._validate import InputError, as_tensor_2d
from ._head import check_features
from ._knn_backends import INDEXES, make_search
from .base import Scorer, register


def _normalize(z: torch.Tensor) -> torch.Tensor:
    return z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)


@register("knn")
class KNN(Scorer):
    input_kind = "features"
    needs_fit = True
    buffer_mb = 256

    def __init__(self, k: int = 50, index: str = "auto"):
        super().__init__()
        if int(k) < 1:
            raise InputError(f"knn: k must be >= 1, got {k}")
        if index not in INDEXES:
            raise InputError(f"knn: index must be one of {INDEXES}, got {index!r}")
        self.k, self.index = int(k), index
        self._search = None

    def get_params(self) -> dict:
        return {"k": self.k, "index": self.index}

    def fit(self, features) -> KNN:
        bank = as_tensor_2d(features, "knn features", torch.float32)
        if bank.shape[0] < self.k:
            raise InputError(f"knn: k={self.k} but only {bank.shape[0]} training features")
        self.bank = _normalize(bank).contiguous()
        self.fitted_ = True
        self._prepare()
        return self

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        super().load_state_dict(state)
        self._prepare()

    def _prepare(self) -> None:
        self._search = make_search(self.bank, self.k, self.index, self.buffer_mb)
        self.chunk_rows = self._search.chunk_rows

    @property
    def backend_(self) -> str | None:
        """The search that runs (e.g. ``"faiss"``, ``"cluster+faiss"``); None before fit."""
        return None if self._search is None else self._search.name

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"bank": self.bank}

    def _score_chunk(self, z: torch.Tensor) -> torch.Tensor:
        check_features(self.name, z, self.bank.shape[1])
        zn = _normalize(z.float())
        kth = self._search(zn)
        return -torch.sqrt((2.0 - 2.0 * kth).clamp_min(0.0))
