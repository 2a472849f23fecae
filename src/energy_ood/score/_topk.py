"""Running top-k of similarities, merged block by block (numba, parallel over rows).

``heap[i]`` holds the k largest values seen so far for query i as a binary min-heap, so
``heap[i, 0]`` is the current k-th largest. ``merge(heap, rows, sims, skip_lo, skip_hi)`` feeds
row j of ``sims`` (columns ``skip_lo[j]:skip_hi[j]`` left out) into ``heap[rows[j]]``: a value
above the root replaces it and sinks down, O(log k). Most values of a block fall below the root,
so a merge costs about one comparison per value: no copy, no sort. A heap starts as -inf.
Big merges are split over ``torch.get_num_threads()`` Python threads (the kernel releases the
GIL): numba's own parallel loops fight torch's OpenMP threads on a small machine. Without
numba, ``merge`` does the same with torch.topk.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

try:
    from numba import njit
except ImportError:  # pragma: no cover
    njit = None


CHUNK = 64  # values counted against the root at once (a vector compare) before any is merged


def _sift_down(h, k):
    pos = 0
    v = h[0]
    while True:
        child = 2 * pos + 1
        if child >= k:
            break
        right = child + 1
        if right < k and h[right] < h[child]:
            child = right
        if h[child] < v:
            h[pos] = h[child]
            pos = child
        else:
            break
    h[pos] = v


def _merge_rows(heap, rows, sims, skip_lo, skip_hi):
    k = heap.shape[1]
    m = sims.shape[1]
    for i in range(rows.shape[0]):
        h = heap[rows[i]]
        row = sims[i]
        lo, hi = skip_lo[i], skip_hi[i]
        for a, b in ((0, lo), (hi, m)):
            j = a
            t = h[0]  # the root, held in a register: the heap cannot alias ``sims``
            while j + CHUNK <= b:
                seg = row[j : j + CHUNK]
                hits = 0
                for u in range(CHUNK):  # vectorized: most chunks hold nothing above the root
                    hits += seg[u] > t
                if hits:
                    for u in range(CHUNK):
                        v = seg[u]
                        if v > t:
                            h[0] = v
                            _sift_down(h, k)
                            t = h[0]
                j += CHUNK
            for u in range(j, b):
                v = row[u]
                if v > t:
                    h[0] = v
                    _sift_down(h, k)
                    t = h[0]


if njit is not None:
    _sift_down = njit(cache=True, nogil=True, inline="always")(_sift_down)
    _merge_jit = njit(cache=True, nogil=True)(_merge_rows)
else:  # pragma: no cover
    _merge_jit = None


_POOL: ThreadPoolExecutor | None = None
SPLIT_MIN = 2_000_000  # values per merge below which one thread does it all


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="energy-ood-topk")
    return _POOL


def new_heap(n: int, k: int) -> torch.Tensor:
    return torch.full((n, k), -float("inf"))


def merge(heap, rows, sims, skip_lo=None, skip_hi=None) -> None:
    """Merge ``sims`` (len(rows) x m, float32) into ``heap[rows]`` in place."""
    n = rows.shape[0]
    if skip_lo is None:
        skip_lo = skip_hi = torch.zeros(n, dtype=torch.long)
    if _merge_jit is not None:
        args = (rows.numpy(), np.ascontiguousarray(sims.numpy()), skip_lo.numpy(), skip_hi.numpy())
        h = heap.numpy()
        parts = min(torch.get_num_threads(), max(1, sims.numel() // SPLIT_MIN), n)
        if parts == 1:
            _merge_jit(h, *args)
            return
        cuts = np.linspace(0, n, parts + 1).astype(int)
        jobs = [
            _pool().submit(_merge_jit, h, *(a[i:j] for a in args))
            for i, j in zip(cuts[:-1], cuts[1:])
        ]
        for job in jobs:
            job.result()
        return
    cols = torch.arange(sims.shape[1])  # pragma: no cover - the torch path without numba
    skip = (cols >= skip_lo[:, None]) & (cols < skip_hi[:, None])
    merged = torch.cat([heap[rows], sims.masked_fill(skip, -float("inf"))], dim=1)
    best = merged.topk(heap.shape[1], dim=1).values  # sorted descending
    heap[rows] = best.flip(1)  # ascending: a valid min-heap
