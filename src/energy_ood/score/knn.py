"""Deep nearest neighbours (Sun et al. 2022): score = -(distance from the L2-normalised
feature to its k-th nearest L2-normalised ID training feature).

For unit vectors ||q - b||^2 = 2 - 2 q.b, so the k-th distance follows from the k-th largest
similarity, computed exactly either way:

* ``index="brute"``: one matrix product per chunk of queries into one reused buffer of at most
  ``buffer_mb`` (a fresh 200 MB block per chunk costs page faults), merged into a running
  top-k heap per query (``_topk``: about one comparison per similarity);
* ``index="cluster"``: the pruned search of ``_knn_index`` (k-means clusters of the bank and a
  triangle-inequality bound skip the clusters that cannot hold a nearer point); a chunk where
  it would compare more than half of the pairs falls back to brute force;
* ``index="auto"`` (default): ``cluster`` for banks of at least ``CLUSTER_MIN`` rows.
"""

from __future__ import annotations

import torch

from .._validate import InputError, as_tensor_2d
from . import _topk
from ._head import check_features
from ._knn_index import ClusterIndex
from .base import Scorer, register

INDEXES = ("auto", "brute", "cluster")
CLUSTER_MIN = 20_000


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
        self._buf: torch.Tensor | None = None
        self._tree: ClusterIndex | None = None

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
        n = self.bank.shape[0]
        self._brute_rows = int(max(1, min(1024, self.buffer_mb * 2**20 // (4 * n))))
        self._buf = None
        use = self.index == "cluster" or (self.index == "auto" and n >= CLUSTER_MIN)
        self._tree = ClusterIndex(self.bank) if use else None
        self.chunk_rows = 8192 if use else self._brute_rows

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"bank": self.bank}

    def _brute(self, zn: torch.Tensor) -> torch.Tensor:
        if self._buf is None:
            self._buf = torch.empty(self._brute_rows, self.bank.shape[0])
        heap = _topk.new_heap(zn.shape[0], self.k)
        for i in range(0, zn.shape[0], self._brute_rows):
            part = zn[i : i + self._brute_rows]
            sims = torch.mm(part, self.bank.T, out=self._buf[: part.shape[0]])
            _topk.merge(heap, torch.arange(i, i + part.shape[0]), sims)
        return heap[:, 0]

    def _score_chunk(self, z: torch.Tensor) -> torch.Tensor:
        check_features(self.name, z, self.bank.shape[1])
        zn = _normalize(z.float())
        kth = self._tree.kth_similarity(zn, self.k) if self._tree is not None else None
        if kth is None:
            kth = self._brute(zn)
        return -torch.sqrt((2.0 - 2.0 * kth).clamp_min(0.0))
