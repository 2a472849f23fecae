"""Deep nearest neighbours (Sun et al. 2022): score = -(distance from the L2-normalised
feature to its k-th nearest L2-normalised ID training feature).

For unit vectors ||q - b||^2 = 2 - 2 q.b, so the k-th distance follows from the k-th largest
similarity, computed exactly by the search ``index`` names (``_knn_backends``): ``"faiss"``
(faiss ``IndexFlatIP``, the ``energy-ood[faiss]`` extra), ``"torch"`` (``mm`` + ``topk``; the
GPU path), ``"brute"`` (product + numba top-k heap), ``"cluster"`` (k-means clusters of the bank
and a triangle-inequality bound skip the clusters that cannot hold a nearer point) or
``"auto"`` (default: torch on a GPU; on the CPU the pruned search for big, strongly
class-structured banks, else brute; the measurements behind this are in ``_knn_backends``).
``backend_`` names the search that runs. A bank fitted on, or moved to, a GPU is searched there.
The search runs in float32 (the bank's precision) whatever the input dtype; scores come back
float64 for float64 input.
"""

from __future__ import annotations

import torch

from .._validate import as_tensor_2d
from . import param_checks as P
from ._knn_backends import INDEXES, make_search
from .base import Scorer
from .registry import register


def _normalize(z: torch.Tensor) -> torch.Tensor:
    return z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)


@register("knn")
class KNN(Scorer):
    """Deep k-nearest neighbours (Sun et al., ICML 2022); ``fit(train_features)``."""

    input_kind = "features"
    fit_needs = frozenset({"X"})
    state_shapes = {"bank": ("N", "D")}
    check_inputs = True
    buffer_mb = 256

    def __init__(self, k: int = 50, index: str = "auto"):
        super().__init__()
        self.k = P.integer(k, "knn: k", low=1)
        self.index = P.choice(index, "knn: index", INDEXES)
        self._search = None

    @property
    def backend_(self) -> str | None:
        """The search that runs (e.g. ``"brute"``, ``"cluster+brute"``); None before fit."""
        return None if self._search is None else self._search.name

    def _fit(self, X, y, **_) -> None:
        bank = as_tensor_2d(X, "knn features", torch.float32)
        self.bank = _normalize(bank).contiguous()

    def _check_state(self) -> None:
        from .._validate import InputError

        self.bank = self.bank.float().contiguous()
        if not bool(((self.bank.norm(dim=1) - 1).abs() < 1e-3).all()):
            raise InputError("knn: the bank rows must be unit vectors (as fit stores them)")

    def _after_state(self) -> None:
        from .._validate import InputError

        n = self.bank.shape[0]
        if n < self.k:
            raise InputError(f"knn: k={self.k} but only {n} training features")
        self.n_features_in_ = int(self.bank.shape[1])
        self._search = make_search(self.bank, self.k, self.index, self.buffer_mb)
        self.chunk_rows = self._search.chunk_rows

    def _score_chunk(self, z: torch.Tensor) -> torch.Tensor:
        kth = self._search(_normalize(z.float()))
        return -torch.sqrt((2.0 - 2.0 * kth).clamp_min(0.0))
