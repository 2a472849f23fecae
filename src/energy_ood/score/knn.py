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

On a GPU (a bank fitted on, or moved to, a CUDA device) the search is one matrix product and
``torch.topk`` per chunk. The search runs in float32 (the bank's precision) whatever the input
dtype; scores come back float64 for float64 input.
"""

from __future__ import annotations

import torch

from .._validate import as_tensor_2d
from . import _params as P
from . import _topk
from ._knn_index import ClusterIndex
from .base import Scorer, register

INDEXES = ("auto", "brute", "cluster")
CLUSTER_MIN = 20_000


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
        self._buf: torch.Tensor | None = None
        self._tree: ClusterIndex | None = None

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
        if self.bank.device.type != "cpu":
            self._tree, self._buf = None, None
            self.chunk_rows = int(max(1, min(8192, self.buffer_mb * 2**20 // (4 * n))))
            return
        self._brute_rows = int(max(1, min(1024, self.buffer_mb * 2**20 // (4 * n))))
        self._buf = None
        use = self.index == "cluster" or (self.index == "auto" and n >= CLUSTER_MIN)
        self._tree = ClusterIndex(self.bank) if use else None
        self.chunk_rows = 8192 if use else self._brute_rows

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
        zn = _normalize(z.float())
        if zn.device.type != "cpu":
            kth = (zn @ self.bank.T).topk(self.k, dim=1, sorted=False).values.amin(1)
            return -torch.sqrt((2.0 - 2.0 * kth).clamp_min(0.0))
        kth = self._tree.kth_similarity(zn, self.k) if self._tree is not None else None
        if kth is None:
            kth = self._brute(zn)
        return -torch.sqrt((2.0 - 2.0 * kth).clamp_min(0.0))
