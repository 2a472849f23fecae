"""Class means and the tied covariance of float features in float64, on the CPU.

The Mahalanobis fit (``mahalanobis.class_moments``) takes two passes over the rows: class sums,
then each block of rows minus its class mean, whose Gram matrix BLAS accumulates (numpy's
``c.T @ c``: a symmetric rank-k update, half a general product). Numba kernels do the per-row
work (the cast, the gather of the class mean and the subtraction fused, no temporary), and the
rows are split over ``threads`` Python threads, each with its own buffer, sums and Gram matrix
and a one-thread BLAS, added up at the end in a fixed order (the same numbers for the same
thread count). Measured on 2 Zen 4 cores (5e4 x 128, 10 classes): OpenBLAS's own 2-thread
``dsyrk`` on 4096-row blocks ran no faster than 1 thread (29 ms); two threads of blocks, 1 BLAS
thread each, halve it. Interleaving torch operations with the BLAS calls, as before, made
torch's OpenMP pool and the BLAS threads fight over the cores (103 ms). Without numba, the
same arithmetic in numpy.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:
    from numba import njit
except ImportError:  # pragma: no cover
    njit = None


def _add_class_sums(z, inv, sums):
    """sums[inv[i]] += z[i] for every row, in float64, row after row."""
    d = z.shape[1]
    for i in range(z.shape[0]):
        c = inv[i]
        for j in range(d):
            sums[c, j] += z[i, j]


def _centre_rows(z, inv, means, out):
    """out[i] = z[i] - means[inv[i]], in float64."""
    d = z.shape[1]
    for i in range(z.shape[0]):
        c = inv[i]
        for j in range(d):
            out[i, j] = z[i, j] - means[c, j]


if njit is not None:
    _add_class_sums = njit(cache=True, nogil=True)(_add_class_sums)
    _centre_rows = njit(cache=True, nogil=True)(_centre_rows)


def add_class_sums(z: np.ndarray, inv: np.ndarray, sums: np.ndarray) -> None:
    """Add each row of ``z`` (n x D) to its class's row of ``sums`` (C x D, float64)."""
    if njit is None:  # pragma: no cover
        np.add.at(sums, inv, z.astype(np.float64))
        return
    _add_class_sums(z, inv, sums)


def centre_rows(z: np.ndarray, inv: np.ndarray, means: np.ndarray, out: np.ndarray) -> None:
    """``out[:n] = z - means[inv]`` in float64 (``out`` is a reused n x D buffer)."""
    if njit is None:  # pragma: no cover
        np.subtract(z, means[inv], out=out, dtype=np.float64)
        return
    _centre_rows(z, inv, means, out)


_POOL: list[ThreadPoolExecutor] = []
_CONTROLLER: list = []


def _map(fn, parts: list) -> list:
    """``[fn(p) for p in parts]``, on a shared thread pool when there are several."""
    if len(parts) == 1:
        return [fn(parts[0])]
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=8, thread_name_prefix="energy-ood-moments"))
    return list(_POOL[0].map(fn, parts))


def blas_threads(n: int):
    """numpy's BLAS limited to ``n`` threads; threadpoolctl comes with scikit-learn, a
    dependency."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())  # about 1 ms, once
    return _CONTROLLER[0].limit(limits=n, user_api="blas")


def class_moments(x: np.ndarray, inv: np.ndarray, n_classes: int, rows: int, threads: int):
    """(class means, tied covariance), float64, of the rows of ``x`` (float32 or float64)
    labelled ``inv`` (0 .. n_classes - 1), in blocks of ``rows`` rows over ``threads``
    threads. NaN / inf rows give non-finite moments (the caller refuses them)."""
    n, d = x.shape
    blocks = list(range(0, n, rows))
    t = max(1, min(threads, len(blocks)))

    def sums_of(part: int) -> np.ndarray:
        lo, hi = n * part // t, n * (part + 1) // t
        s = np.zeros((n_classes, d))
        add_class_sums(x[lo:hi], inv[lo:hi], s)
        return s

    means = sum(_map(sums_of, list(range(t)))) / np.bincount(inv, minlength=n_classes)[:, None]

    def gram_of(part: int) -> np.ndarray:
        buf, g = np.empty((min(rows, n), d)), np.zeros((d, d))
        for s in blocks[part::t]:
            c = buf[: min(rows, n - s)]
            centre_rows(x[s : s + rows], inv[s : s + rows], means, c)
            g += c.T @ c
        return g

    with blas_threads(1), np.errstate(invalid="ignore", over="ignore"):
        cov = sum(_map(gram_of, list(range(t))))
    return means, cov / n
