"""Exact k-th nearest-neighbour similarity with cluster pruning (used by ``KNN``).

The bank of unit vectors is split by a few rounds of k-means into C clusters; each cluster keeps
its mean c and radius r = max ||b - c|| over its members. For a query q every member b of a
cluster satisfies ||q - b|| >= ||q - c|| - r (triangle inequality). Scoring then works in two
rounds of matrix products, cluster by cluster:

1. each query is compared with every member of its nearest clusters until at least k members are
   seen: the k-th best similarity found is a lower bound of the true k-th best, i.e. an upper
   bound U on the k-th smallest distance;
2. every other cluster whose distance bound ||q - c|| - r is at most U (plus a small slack for
   float rounding) is compared too. A cluster left out holds no point closer than U, so the k-th
   smallest distance over the compared points is the exact one.

On class-structured features (penultimate features of a classifier) whole classes are pruned;
on structureless data nothing is pruned and the cost is brute force plus the bookkeeping.
"""

from __future__ import annotations

import torch

SLACK = 1e-4  # distance units; covers float32 rounding in the bounds


def _kmeans(bank: torch.Tensor, n_clusters: int, iters: int, seed: int) -> torch.Tensor:
    """Spherical k-means assignments (cosine), seeded, a few Lloyd rounds."""
    g = torch.Generator().manual_seed(seed)
    cent = bank[torch.randperm(bank.shape[0], generator=g)[:n_clusters]].clone()
    assign = torch.zeros(bank.shape[0], dtype=torch.long)
    for _ in range(iters):
        assign = _nearest(bank, cent)
        sums = torch.zeros_like(cent).index_add_(0, assign, bank)
        norms = sums.norm(dim=1, keepdim=True)
        empty = norms.squeeze(1) == 0
        cent = torch.where(empty[:, None], cent, sums / norms.clamp_min(1e-12))
    return _nearest(bank, cent)


def _nearest(x: torch.Tensor, cent: torch.Tensor, rows: int = 8192) -> torch.Tensor:
    return torch.cat([(x[i : i + rows] @ cent.T).argmax(1) for i in range(0, len(x), rows)])


class ClusterIndex:
    """Bank sorted by cluster, with per-cluster means, radii and offsets."""

    def __init__(self, bank: torch.Tensor, n_clusters: int | None = None, seed: int = 0):
        n = bank.shape[0]
        c = n_clusters or max(1, min(1024, int(round(n**0.5))))
        assign = _kmeans(bank, min(c, n), iters=8, seed=seed)
        order = torch.argsort(assign, stable=True)
        assign = assign[order]
        self.bank = bank[order].contiguous()
        counts = torch.bincount(assign, minlength=min(c, n))
        keep = counts > 0
        counts = counts[keep]
        self.offsets = torch.zeros(len(counts) + 1, dtype=torch.long)
        self.offsets[1:] = torch.cumsum(counts, 0)
        means = torch.stack(
            [self.bank[a:b].mean(0) for a, b in zip(self.offsets[:-1], self.offsets[1:])]
        )
        self.means = means
        self.means_sq = (means * means).sum(1)
        self.radius = torch.stack(
            [
                (self.bank[a:b] - m).norm(dim=1).max()
                for a, b, m in zip(self.offsets[:-1], self.offsets[1:], means)
            ]
        )
        self.sizes = counts

    def kth_similarity(self, q: torch.Tensor, k: int) -> torch.Tensor:
        """The k-th largest q . b over the bank for each (unit) query row, exactly."""
        n_q, n_c = q.shape[0], self.means.shape[0]
        d_qc = (1.0 - 2.0 * (q @ self.means.T) + self.means_sq).clamp_min(0.0).sqrt()
        # round 1: nearest clusters until >= k members are covered
        order = d_qc.argsort(dim=1)
        covered = torch.cumsum(self.sizes[order], dim=1)
        need = (covered < k).sum(1, keepdim=True)  # clusters before reaching k, per query
        first = torch.zeros(n_q, n_c, dtype=torch.bool)
        first.scatter_(1, order, torch.arange(n_c).expand(n_q, n_c) <= need)
        top = torch.full((n_q, k), -float("inf"))
        self._compare(q, first, top, k)
        upper = (2.0 - 2.0 * top.amin(1)).clamp_min(0.0).sqrt()  # bound on the k-th distance
        # round 2: every other cluster that may hold a closer point
        lower = d_qc - self.radius
        second = (lower <= upper[:, None] + SLACK) & ~first
        self._compare(q, second, top, k)
        return top.amin(1)

    def _compare(self, q, pairs: torch.Tensor, top: torch.Tensor, k: int) -> None:
        """Merge the similarities of the (query, cluster) ``pairs`` into the running top-k."""
        for c in torch.nonzero(pairs.any(0)).flatten().tolist():
            rows = torch.nonzero(pairs[:, c]).flatten()
            a, b = int(self.offsets[c]), int(self.offsets[c + 1])
            sims = q[rows] @ self.bank[a:b].T
            merged = torch.cat([top[rows], sims], dim=1)
            top[rows] = merged.topk(k, dim=1, sorted=False).values
