"""Exact k-th nearest-neighbour similarity of unit queries against a bank of unit vectors.

``make_search(bank, k, index)`` returns a search ``s``: ``s(q)`` is, for each row of ``q``, the
k-th largest ``q . b`` over the rows ``b`` of ``bank`` (float32, exact up to float rounding: every
backend compares every pair it cannot prove irrelevant); ``s.name`` is the backend that runs,
``s.chunk_rows`` the query rows one call should hold. Backends:

* ``"faiss"``: faiss's exhaustive ``IndexFlatIP`` (BLAS product + selection in C++), CPU only;
  an optional dependency (``pip install 'energy-ood[faiss]'``), imported on first use;
* ``"torch"``: ``torch.mm`` + ``torch.topk`` per chunk, on the bank's device (the GPU path;
  valid on the CPU too);
* ``"brute"``: ``torch.mm`` into one reused buffer merged into a running top-k heap per query
  (``_topk``, numba), CPU only;
* ``"cluster"``: the pruned search of ``_knn_index`` (k-means clusters + triangle-inequality
  bound), CPU only; a chunk where it would compare more than ``cluster_max_share()`` of the
  pairs runs ``"brute"`` instead;
* ``"auto"``: :func:`auto_backend`, the rule measured by ``benchmarks/bench_knn.py``.

What the rule rests on (bench_knn.py, 1e4 queries x 5e4 bank x 128, k = 50; H200 host = Intel
Xeon, 16 cores, quiet; EPYC = this project's 2-core machine, quiet for the faiss rows,
loaded for the pruned-search rows):

* GPU: torch 11.5-12.7 ms (H200, queries from the CPU included) against 192-338 ms for the best
  CPU search at 16 threads: a bank on a GPU always takes ``torch``.
* Exhaustive CPU search: no one backend wins everywhere. On the H200 host's Xeon faiss-cpu
  1.15.1 ``IndexFlatIP`` took 2.0-2.3x (16 threads) and 2.7-3.1x (2 threads) the time of
  ``brute``; on the quiet 2-core EPYC it took 0.71-0.86x (1.1-1.4x faster, 2e3 to 1e4 queries,
  random and class-structured banks; again 0.79-0.90x on 2026-12-05 with ``brute`` searching
  the bank in tiles); ``torch`` mm + topk took 1.2-1.8x ``brute`` on both. So when faiss is
  installed and the bank is large, ``auto`` measures the two once per machine and thread
  count (``measured_exhaustive``, kept on disk) and keeps the faster; without faiss it is
  ``brute``.
* Pruned vs brute: the pruned search wins while the share s of pairs it compares is below a
  crossover that falls with the thread count (its blocks are smaller products plus heap work,
  which scale worse): about 0.28 at 2 threads on the Xeon (s = 0.10: 0.34x brute, real
  Fashion-MNIST features s = 0.21: 0.77x, s = 1: 1.6x) and at 1 thread on the EPYC (s = 0.19:
  0.64x, s = 0.22: 0.72x, s = 0.35: 1.55x), about 0.08-0.15 at 16 threads (s = 0.02: 0.61x,
  s = 0.10: 0.9-1.2x, s = 0.19: 1.24x, s = 0.21: 1.64x, s = 0.36: 2.2x). Against faiss at 2
  threads on the quiet EPYC (2026-12-05), with the cluster build (about 0.35 s) counted: s =
  0.10: 0.38x faiss's search, s = 0.21: 0.92x, which the build turns into a loss (1.28x faiss's
  search + build): the 2-thread limit is 0.15. ``CLUSTER_MAX_SHARE`` holds these limits,
  conservatively, per thread count.
"""

from __future__ import annotations

import importlib
import os
import time

import numpy as np
import torch

from .._validate import InputError
from . import _topk
from ._knn_index import ClusterIndex, sample_share
from ._measured_choice import load_choice, machine_key, save_choice

BACKENDS = ("faiss", "torch", "brute", "cluster")
INDEXES = ("auto", *BACKENDS)
CPU_ONLY = ("faiss", "brute", "cluster")

# --- the auto rule (see auto_backend and the measurements above) ------------------------------
ACCEL_BACKEND = "torch"  # a bank on a GPU (CUDA, MPS): one product + topk per chunk
CPU_EXHAUSTIVE = ("brute", "faiss")  # exhaustive CPU searches; measured, else the first
EXHAUSTIVE_ENV = "ENERGY_OOD_KNN_EXHAUSTIVE"  # brute | faiss: skip the measurement
MEASURE_MIN_ROWS = 10_000  # banks this big pick the exhaustive search by measurement ...
MEASURE_BANK, MEASURE_QUERIES = 8192, 1024  # ... on a probe of this size (about 20-60 ms)
_MEASURED: dict[tuple, str] = {}  # (backends, dim, threads) -> the faster exhaustive search
CLUSTER_MIN_ROWS = 20_000  # CPU banks this big are clustered ...
# ... and searched pruned while at most this share of the (query, bank row) pairs is compared:
# (most torch threads, share) rows, the first that fits the current thread count applies
CLUSTER_MAX_SHARE = ((1, 0.25), (2, 0.15), (None, 0.08))
BRUTE_TILE = 8192  # bank rows per product of the brute search (see BruteSearch)
PROBE_ROWS = 512  # bank rows used at build time as sample queries to measure that share
# before clustering a whole bank, a sample of it is clustered: a sample share above this many
# times the limit skips the full build (random or weakly structured banks: the build would be
# wasted). The sample's estimate ran 0.7-1.0x the full index's probe share (EPYC, 5e4 x 128:
# mixtures 0.104 / 0.136 against 0.10 / 0.18, real Fashion-MNIST features 0.153 against 0.21),
# hence a factor below 1.
SAMPLE_ROWS, SAMPLE_SKIP = 8192, 0.75


def cluster_max_share(threads: int | None = None) -> float:
    """The share of pairs above which the pruned search loses to brute force at ``threads``
    (default: torch's current intra-op thread count), from ``CLUSTER_MAX_SHARE``."""
    t = threads or torch.get_num_threads()
    for most, share in CLUSTER_MAX_SHARE:
        if most is None or t <= most:
            return share
    return CLUSTER_MAX_SHARE[-1][1]


def faiss_available() -> bool:
    try:
        importlib.import_module("faiss")
    except ImportError:
        return False
    return True


def _faiss():
    try:
        return importlib.import_module("faiss")
    except ImportError as e:
        raise InputError(
            "knn: index='faiss' needs the faiss package: pip install 'energy-ood[faiss]' "
            f"(or faiss-cpu) ({e})"
        ) from None


def exhaustive_cpu_backend(bank: torch.Tensor | None = None) -> str:
    """The exhaustive CPU search ``auto`` uses. With one available (faiss absent): that one.
    With several and a ``bank`` of at least ``MEASURE_MIN_ROWS`` rows: the one measured faster
    on this machine at this thread count (:func:`measured_exhaustive`, once per process);
    otherwise the first available of ``CPU_EXHAUSTIVE``. ``ENERGY_OOD_KNN_EXHAUSTIVE=brute|faiss``
    forces one."""
    available = tuple(n for n in CPU_EXHAUSTIVE if n != "faiss" or faiss_available()) or ("brute",)
    forced = os.environ.get(EXHAUSTIVE_ENV, "").strip().lower()
    if forced:
        if forced not in available:
            raise InputError(f"{EXHAUSTIVE_ENV}={forced!r}: choose one of {', '.join(available)}")
        return forced
    if len(available) == 1 or bank is None or bank.shape[0] < MEASURE_MIN_ROWS:
        return available[0]
    return measured_exhaustive(available, int(bank.shape[1]))


def _time_search(name: str, bank: torch.Tensor, q: torch.Tensor, k: int) -> float:
    search = _EXHAUSTIVE[name](bank, k, 256)
    t0 = time.perf_counter()
    search(q)
    return time.perf_counter() - t0


def measured_exhaustive(available: tuple[str, ...], dim: int) -> str:
    """The fastest of ``available`` on a seeded random probe (``MEASURE_QUERIES`` queries x
    ``MEASURE_BANK`` rows of ``dim``, k = 50, best of 2, interleaved), measured once per
    (CPU model, backends, dim, torch threads, library versions) and kept on disk
    (``_measured_choice``: the probe takes about 150 ms on 2 cores) and in this process. Every
    backend is exact, so the choice changes only the time: faiss's IndexFlatIP beat ``brute``
    1.1-1.4x on the 2-core EPYC of BENCHMARKS.md and lost 2-3x on a 16-core Xeon."""
    key = (available, dim, torch.get_num_threads())
    if key not in _MEASURED:
        disk = machine_key("knn exhaustive", *key, torch.__version__, _faiss_version(available))
        _MEASURED[key] = load_choice(disk, available) or _measure(available, dim)
        save_choice(disk, _MEASURED[key])
    return _MEASURED[key]


def _faiss_version(available) -> str:
    try:
        return (
            f"faiss {importlib.import_module('faiss').__version__}" if "faiss" in available else ""
        )
    except (ImportError, AttributeError):
        return "faiss ?"


def _measure(available: tuple[str, ...], dim: int) -> str:
    g = torch.Generator().manual_seed(0)
    bank = torch.nn.functional.normalize(torch.randn(MEASURE_BANK, dim, generator=g), dim=1)
    q = torch.nn.functional.normalize(torch.randn(MEASURE_QUERIES, dim, generator=g), dim=1)
    best = dict.fromkeys(available, float("inf"))
    for _ in range(2):
        for name in available:
            best[name] = min(best[name], _time_search(name, bank, q, 50))
    return min(available, key=lambda n: (best[n], available.index(n)))


def auto_backend(bank: torch.Tensor) -> str:
    """What ``index="auto"`` runs for ``bank`` (before the cluster probe, see ``make_search``):

    ============================  ==================================================
    bank                          backend
    ============================  ==================================================
    on a GPU                      ``ACCEL_BACKEND`` (torch)
    CPU, < CLUSTER_MIN_ROWS rows  ``exhaustive_cpu_backend(bank)``: brute or faiss, the one
                                  measured faster from MEASURE_MIN_ROWS rows; brute below
    CPU, >= CLUSTER_MIN_ROWS      ``cluster`` when the probe of PROBE_ROWS bank rows compares
                                  at most ``cluster_max_share()`` of the pairs (strongly
                                  class-structured features), with the exhaustive backend
                                  for chunks that would compare more; else the exhaustive
                                  backend (brute or faiss, whichever measured faster)
    ============================  ==================================================
    """
    if bank.device.type != "cpu":
        return ACCEL_BACKEND
    if bank.shape[0] >= CLUSTER_MIN_ROWS:
        return "cluster"
    return exhaustive_cpu_backend(bank)


def _rows_for(buffer_mb: float, per_row_bytes: int, cap: int) -> int:
    return int(max(1, min(cap, buffer_mb * 2**20 // max(1, per_row_bytes))))


class _Search:
    name = "?"
    chunk_rows = 8192

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        """k-th largest similarity of each unit query row; every backend defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define __call__")


class TorchSearch(_Search):
    """``torch.mm`` + ``torch.topk(k).values.amin`` per block, on the bank's device."""

    name = "torch"

    def __init__(self, bank: torch.Tensor, k: int, buffer_mb: float):
        self.bank, self.k = bank, k
        cap = 65536 if bank.device.type != "cpu" else 1024
        self.rows = _rows_for(buffer_mb, 4 * bank.shape[0], cap)
        self.chunk_rows = max(self.rows, 8192)

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        if self.bank.device.type != "cuda":
            return self._search(q)
        # TF32 products are not exact (about 1e-3): switched off for the search, then restored.
        # Only the CUDA matmul setting is touched (torch >= 2.9 refuses the global getter once
        # the legacy and the new settings were both used).
        m = torch.backends.cuda.matmul
        attr, exact = (
            ("fp32_precision", "ieee") if hasattr(m, "fp32_precision") else ("allow_tf32", False)
        )
        prev = getattr(m, attr)
        if prev == exact:
            return self._search(q)
        setattr(m, attr, exact)
        try:
            return self._search(q)
        finally:
            setattr(m, attr, prev)

    def _search(self, q: torch.Tensor) -> torch.Tensor:
        q = q.to(self.bank.device, torch.float32)
        out = torch.empty(q.shape[0], device=q.device)
        for i in range(0, q.shape[0], self.rows):
            sims = torch.mm(q[i : i + self.rows], self.bank.T)
            out[i : i + sims.shape[0]] = sims.topk(self.k, dim=1, sorted=False).values.amin(1)
        return out


class BruteSearch(_Search):
    """One product per (block of queries, tile of bank rows) into a reused buffer, merged into
    a top-k heap per query. The heap holds values, not ids, so tiles merge in any order with the
    same result (up to the product's rounding); a tile of ``BRUTE_TILE`` bank rows bounds the
    buffer (``rows`` x ``tile`` float32: 32 MB at 1024 x 8192) whatever the bank's size. On the
    2-core EPYC tiles of 2048-50000 rows searched 1e4 x 5e4 in 1.03-1.18 s: no measurable
    difference, the product dominates."""

    name = "brute"

    def __init__(self, bank: torch.Tensor, k: int, buffer_mb: float, tile: int | None = None):
        self.bank, self.k = bank, k
        self.tile = min(bank.shape[0], tile or BRUTE_TILE)
        self.rows = _rows_for(buffer_mb, 4 * self.tile, 1024)
        self.chunk_rows = self.rows
        self._buf: torch.Tensor | None = None

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        if self._buf is None:  # a fresh block per product costs page faults
            self._buf = torch.empty(self.rows, self.tile)
        heap = _topk.new_heap(q.shape[0], self.k)
        for i in range(0, q.shape[0], self.rows):
            part = q[i : i + self.rows]
            ids = torch.arange(i, i + part.shape[0])
            for j in range(0, self.bank.shape[0], self.tile):
                b = self.bank[j : j + self.tile]
                buf = self._buf[: part.shape[0], : b.shape[0]]
                if b.shape[0] < self.tile:  # the last, narrower tile: a contiguous block
                    buf = self._buf.view(-1)[: part.shape[0] * b.shape[0]].view(-1, b.shape[0])
                _topk.merge(heap, ids, torch.mm(part, b.T, out=buf))
        return heap[:, 0].clone()


class FaissSearch(_Search):
    """faiss ``IndexFlatIP.search`` (exhaustive, exact); run with torch's thread count."""

    name = "faiss"

    def __init__(self, bank: torch.Tensor, k: int, buffer_mb: float):
        self.faiss = _faiss()
        self.k = k
        self.index = self.faiss.IndexFlatIP(bank.shape[1])
        self.index.add(np.ascontiguousarray(bank.numpy(), dtype=np.float32))
        # faiss returns k similarities (float32) and k ids (int64) per query
        self.chunk_rows = _rows_for(buffer_mb, 12 * k, 8192)

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        self.faiss.omp_set_num_threads(torch.get_num_threads())
        out = np.empty(q.shape[0], dtype=np.float32)
        qn = q.numpy()
        for i in range(0, q.shape[0], self.chunk_rows):
            part = np.ascontiguousarray(qn[i : i + self.chunk_rows], dtype=np.float32)
            sims, ids = self.index.search(part, self.k)
            # a row faiss could not fill (NaN query) has id -1: NaN, never a made-up distance
            out[i : i + part.shape[0]] = np.where(ids[:, -1] >= 0, sims[:, -1], np.nan)
        return torch.from_numpy(out)


class ClusterSearch(_Search):
    """The pruned search of ``_knn_index``; ``fallback`` runs the chunks it gives up on (those
    comparing more than ``max_share`` of the pairs; None: ``cluster_max_share()`` at the time
    of the call)."""

    name = "cluster"

    def __init__(self, tree: ClusterIndex, k: int, fallback: _Search, max_share: float | None):
        self.tree, self.k, self.fallback, self.max_share = tree, k, fallback, max_share
        self.chunk_rows = 8192
        self.name = f"cluster+{fallback.name}"

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        share = cluster_max_share() if self.max_share is None else self.max_share
        kth = self.tree.kth_similarity(q, self.k, share)
        return self.fallback(q) if kth is None else kth


_EXHAUSTIVE = {"faiss": FaissSearch, "torch": TorchSearch, "brute": BruteSearch}


def make_search(
    bank: torch.Tensor,
    k: int,
    index: str = "auto",
    buffer_mb: float = 256,
    max_share: float | None = None,
) -> _Search:
    """The search for ``index`` (one of ``INDEXES``) over the unit rows of ``bank``.

    ``buffer_mb`` caps the similarity block of one product; ``max_share`` (default
    ``cluster_max_share()``) is the share of (query, bank row) pairs above which the cluster
    search hands a chunk to the exhaustive one (1.0: never).
    """
    if index not in INDEXES:
        raise InputError(f"knn: index must be one of {INDEXES}, got {index!r}")
    if not 1 <= k <= bank.shape[0]:
        raise InputError(f"knn: k={k} but only {bank.shape[0]} training features")
    dev = bank.device.type
    if index in CPU_ONLY and dev != "cpu":
        raise InputError(
            f"knn: index={index!r} searches on the CPU but the bank is on {bank.device}; "
            "use index='torch' or 'auto'"
        )
    name = auto_backend(bank) if index == "auto" else index
    if name != "cluster":
        return _EXHAUSTIVE[name](bank, k, buffer_mb)
    fallback_name = "brute" if index == "cluster" else exhaustive_cpu_backend(bank)
    fallback = _EXHAUSTIVE[fallback_name](bank, k, buffer_mb)
    probe_share = cluster_max_share() if max_share is None else float(max_share)
    if index == "auto" and sample_share(bank, k, SAMPLE_ROWS) > SAMPLE_SKIP * probe_share:
        return fallback  # clearly too little structure: not worth clustering the whole bank
    tree = ClusterIndex(bank)
    if index == "auto" and not tree.prunes(k, probe_share, PROBE_ROWS):
        return fallback  # too little structure: the pruned search would lose on every chunk
    return ClusterSearch(tree, k, fallback, None if max_share is None else float(max_share))
