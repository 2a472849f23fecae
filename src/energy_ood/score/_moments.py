"""Class sums and centred rows of float features in float64, on the CPU (numba kernels).

The Mahalanobis fit (``mahalanobis.class_moments``) takes two passes over the rows: class sums,
then each block of rows minus its class mean, whose Gram matrix BLAS accumulates (numpy's
``c.T @ c``: a symmetric rank-k update). These kernels do the per-row work of both passes in
one sweep each, reading the float32 (or float64) rows as they are: the cast, the gather of the
class mean and the subtraction are fused, with no temporary and no torch operation between two
BLAS calls (torch's OpenMP pool and numpy's BLAS threads, interleaved, fought over 2 cores and
took 5x the time). Without numba, the same arithmetic in numpy.
"""

from __future__ import annotations

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
