"""Exact k-th nearest-neighbour similarity with cluster pruning (used by ``KNN`` on big banks).

The bank of unit vectors is split by a few rounds of spherical k-means into C clusters, each
with its mean c and radius r = max ||b - c|| over its members; clusters are then ordered so
that similar ones sit next to each other (a second k-means on the cluster means), and the bank
is stored in that order. For a query q every member b of a cluster satisfies
||q - b|| >= ||q - c|| - r (triangle inequality). Scoring is two rounds of matrix products:

1. each query is compared with the members of its nearest cluster; when that cluster holds at
   least k points, the k-th best similarity found gives an upper bound U on the k-th smallest
   distance (otherwise U = infinity);
2. each other cluster whose bound ||q - c|| - r is at most U (plus a small slack for float
   rounding) may hold a closer point and is compared too, in blocks of adjacent clusters
   (a block is compared with every query that needs one of its clusters).

A cluster left out holds no point closer than U >= the true k-th distance, so the k-th best
similarity over the compared points is the exact one (comparing extra points never changes
it). On class-structured features (penultimate features of a classifier) whole classes are
pruned; where little can be pruned, ``kth_similarity`` returns None and the caller uses brute
force.
``last_share`` is the share of the (query, bank row) pairs the latest call compared (or would
have compared, when it gave up); ``prunes`` measures it on a sample of the bank itself.
"""

from __future__ import annotations

import torch

from . import _topk

SLACK = 1e-4  # distance units; covers float32 rounding in the bounds
BLOCK = 4096  # most bank rows per block of adjacent clusters in round 2


def _nearest(x: torch.Tensor, cent: torch.Tensor, rows: int = 8192) -> torch.Tensor:
    return torch.cat([(x[i : i + rows] @ cent.T).argmax(1) for i in range(0, len(x), rows)])


def spherical_kmeans(x: torch.Tensor, n_clusters: int, iters: int, seed: int) -> torch.Tensor:
    """Cluster labels of the unit rows of ``x`` (cosine k-means, seeded Lloyd rounds)."""
    g = torch.Generator().manual_seed(seed)
    cent = x[torch.randperm(x.shape[0], generator=g)[:n_clusters]].clone()
    for _ in range(iters):
        assign = _nearest(x, cent)
        sums = torch.zeros_like(cent).index_add_(0, assign, x)
        norms = sums.norm(dim=1, keepdim=True)
        cent = torch.where(norms > 0, sums / norms.clamp_min(1e-12), cent)
    return _nearest(x, cent)


class ClusterIndex:
    """The bank sorted by cluster, with per-cluster means, radii and offsets."""

    def __init__(
        self, bank: torch.Tensor, n_clusters: int | None = None, seed: int = 0, iters: int = 8
    ):
        n = bank.shape[0]
        c = min(n, n_clusters or max(1, int(round(n**0.5))))
        assign = spherical_kmeans(bank, c, iters=iters, seed=seed)
        labels, assign = torch.unique(assign, return_inverse=True)  # drop empty clusters
        c = len(labels)
        sums = torch.zeros(c, bank.shape[1]).index_add_(0, assign, bank)
        sizes = torch.bincount(assign, minlength=c)
        means = sums / sizes[:, None]
        # order clusters so that similar ones are adjacent: group their (normalised) means
        groups = spherical_kmeans(
            torch.nn.functional.normalize(means, dim=1), max(1, int(round(c**0.5))), 8, seed
        )
        corder = torch.argsort(groups * c + torch.arange(c), stable=True)
        self.groups = groups[corder]
        rank = torch.empty_like(corder)
        rank[corder] = torch.arange(c)
        assign = rank[assign]
        means, sizes = means[corder], sizes[corder]
        order = torch.argsort(assign, stable=True)
        self.bank = bank[order].contiguous()
        self.assign = assign[order]
        self.offsets = torch.zeros(c + 1, dtype=torch.long)
        self.offsets[1:] = torch.cumsum(sizes, 0)
        self.means, self.sizes = means.contiguous(), sizes
        self.means_sq = (means * means).sum(1)
        dist = (self.bank - means[self.assign]).norm(dim=1)
        self.radius = torch.zeros(c).scatter_reduce_(0, self.assign, dist, "amax")
        self.blocks = self._blocks()
        self.last_share = float("nan")

    def _blocks(self) -> list[tuple[int, int]]:
        """Runs of adjacent clusters, (first, end), one per group of similar clusters (split
        where a group holds more than BLOCK bank rows), so a block is mostly all needed or all
        pruned for a query."""
        out, start, rows = [], 0, 0
        groups = self.groups.tolist()
        for i, s in enumerate(self.sizes.tolist()):
            if rows and (groups[i] != groups[i - 1] or rows + s > BLOCK):
                out.append((start, i))
                start, rows = i, 0
            rows += s
        out.append((start, len(self.sizes)))
        return out

    def prunes(self, k: int, max_share: float, rows: int = 512) -> bool:
        """Whether ``rows`` bank rows, evenly spread over the clusters, used as queries are
        answered comparing at most ``max_share`` of the pairs (ID queries look like them)."""
        n = self.bank.shape[0]
        pick = torch.linspace(0, n - 1, min(rows, n)).round().long()
        return self.kth_similarity(self.bank[pick], k, max_share) is not None

    def kth_similarity(self, q: torch.Tensor, k: int, max_share: float = 0.5):
        """The k-th largest q . b over the bank for each unit query row, exactly; None when
        more than ``max_share`` of the (query, bank row) pairs would have to be compared."""
        d_qc = (1.0 - 2.0 * (q @ self.means.T) + self.means_sq).clamp_min(0.0).sqrt()
        near = d_qc.argmin(1)
        heap = _topk.new_heap(q.shape[0], k)
        upper = torch.full((q.shape[0],), float("inf"))
        # round 1: each query against its nearest cluster
        for c in torch.unique(near).tolist():
            rows = torch.nonzero(near == c).flatten()
            a, b = int(self.offsets[c]), int(self.offsets[c + 1])
            _topk.merge(heap, rows, q[rows] @ self.bank[a:b].T)
            if b - a >= k:
                upper[rows] = (2.0 - 2.0 * heap[rows, 0]).clamp_min(0.0).sqrt()
        # round 2: every other cluster that may hold a closer point
        need = (d_qc - self.radius) <= (upper[:, None] + SLACK)
        need[torch.arange(q.shape[0]), near] = False
        work = float((need.float() @ self.sizes.float()).sum() + self.sizes[near].sum())
        self.last_share = work / (q.shape[0] * self.bank.shape[0])
        if self.last_share > max_share:
            return None
        for c0, c1 in self.blocks:
            rows = torch.nonzero(need[:, c0:c1].any(1)).flatten()
            if len(rows) == 0:
                continue
            a = int(self.offsets[c0])
            sims = q[rows] @ self.bank[a : int(self.offsets[c1])].T
            # a query's nearest cluster may sit in this block: its best members are already
            # in the heap (the others cannot reach the top k), so its columns are skipped
            nr = near[rows]
            own = (nr >= c0) & (nr < c1)
            lo = torch.where(own, self.offsets[nr] - a, 0)
            hi = torch.where(own, self.offsets[nr + 1] - a, 0)
            _topk.merge(heap, rows, sims, lo, hi)
        return heap[:, 0].clone()


def sample_share(
    bank: torch.Tensor, k: int, rows: int = 8192, probe: int = 256, iters: int = 3
) -> float:
    """The share of pairs the pruned search compares, estimated on a seeded sample of ``rows``
    bank rows (its own index, ``probe`` of its rows as queries, k scaled to the sample so the
    k-th neighbour sits at the same quantile): a few percent of the full index's build, to
    skip that build where the bank has little structure."""
    n = bank.shape[0]
    g = torch.Generator().manual_seed(0)
    sample = bank[torch.randperm(n, generator=g)[: min(rows, n)]]
    ks = max(1, min(sample.shape[0], round(k * sample.shape[0] / n)))
    # as many clusters as the full index, fewer k-means rounds (an estimate, a third the time)
    tree = ClusterIndex(sample, n_clusters=max(1, round(n**0.5)), iters=iters)
    tree.prunes(ks, 1.0, probe)
    return tree.last_share
