"""Mahalanobis distance to the closest class mean (Lee et al., NeurIPS 2018), tied covariance.

score(z) = -min_c (z - mu_c)^T Sigma^-1 (z - mu_c). Fitting takes one Cholesky of Sigma
(Sigma = L L^T, W = L^-1); scoring a batch is one product Z W^T plus a (n x C) product with the
whitened means: ||W z||^2 - 2 (W z).(W mu_c) + ||W mu_c||^2, which picks the nearest class,
whose distance ||W z - W mu_c||^2 is then taken directly (exact where the expansion cancels).
The input pre-processing of Lee et al. is its own scorer, ``mahalanobis_pre`` (it scores model
inputs).
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from .._validate import InputError, as_tensor_2d, real_array
from . import param_checks as P
from ._moments import class_moments as cpu_class_moments
from .base import Scorer
from .calibrated import check_labels
from .registry import register

GAUSSIAN_STATE = {
    "whiten": ("D", "D"),
    "means_w": ("C", "D"),
    "means_sq": ("C",),
    "classes": ("C",),
}


FIT_ROWS = 4096  # rows per float64 block of the fit (a 4 MB buffer, in cache)


def _features_2d(features, name: str) -> torch.Tensor:
    """The fit features as a 2-D float tensor, unconverted; finiteness is read off the class
    sums (:func:`fit_gaussian`), not from a pass of its own."""
    t = real_array(features, name)
    if not isinstance(t, torch.Tensor):
        t = torch.from_numpy(np.array(t) if not t.flags.writeable else t)
    if t.ndim != 2 or 0 in t.shape or not torch.is_floating_point(t):
        t = as_tensor_2d(t, name)  # its one-line error, or the float conversion
    return t.detach()


def _blocks(z: torch.Tensor, inv: torch.Tensor, dtype):
    """(rows, float64 block, class index of each row) over ``z``, FIT_ROWS rows at a time,
    in one reused buffer (no n x D float64 copy)."""
    buf = torch.empty(min(FIT_ROWS, z.shape[0]), z.shape[1], dtype=dtype, device=z.device)
    for s in range(0, z.shape[0], FIT_ROWS):
        part = buf[: min(FIT_ROWS, z.shape[0] - s)]
        part.copy_(z[s : s + FIT_ROWS])
        yield part, inv[s : s + FIT_ROWS]


def class_moments(z: torch.Tensor, inv: torch.Tensor, n_classes: int):
    """(class means, tied covariance) of ``z`` in float64, in two passes over blocks of rows:
    class sums, then the centred blocks' Gram matrices, accumulated (no n x D float64 copy)."""
    if z.device.type == "cpu":
        return _class_moments_cpu(z, inv, n_classes)
    return _class_moments_torch(z, inv, n_classes)


def _class_moments_torch(z: torch.Tensor, inv: torch.Tensor, n_classes: int):
    """Any device: torch's index_add_ and addmm_ on float64 blocks."""
    d64 = torch.float64
    sums = torch.zeros(n_classes, z.shape[1], dtype=d64, device=z.device)
    for part, idx in _blocks(z, inv, d64):
        sums.index_add_(0, idx, part)
    means = sums / torch.bincount(inv, minlength=n_classes).to(d64)[:, None]
    cov = torch.zeros(z.shape[1], z.shape[1], dtype=d64, device=z.device)
    for part, idx in _blocks(z, inv, d64):
        part.sub_(means[idx])
        cov.addmm_(part.T, part)
    return means, cov / z.shape[0]


def _class_moments_cpu(z: torch.Tensor, inv: torch.Tensor, n_classes: int):
    """The CPU path (``_moments``): numba kernels for the per-row work and numpy's BLAS for
    the Gram matrices, split over torch's thread count, with no torch operation in the loop."""
    if z.dtype not in (torch.float32, torch.float64):
        z = z.float()  # float16 / bfloat16: exact in float32, which numpy reads
    means, cov = cpu_class_moments(z.numpy(), inv.numpy(), n_classes, FIT_ROWS,
                                   torch.get_num_threads())  # fmt: skip
    return torch.from_numpy(means), torch.from_numpy(cov)


def fit_gaussian(features, labels, ridge: float, name: str) -> dict[str, torch.Tensor]:
    """Class means and the tied covariance, whitened: the state of both Mahalanobis scorers."""
    z = _features_2d(features, f"{name} features")
    y = check_labels(labels, z.shape[0], None, name, z.device)
    if y.device.type == "cpu":  # numpy: no torch OpenMP pool left spinning before the fit
        classes, inv = (torch.from_numpy(a) for a in np.unique(y.numpy(), return_inverse=True))
    else:
        classes, inv = torch.unique(y, return_inverse=True)
    means, cov = class_moments(z, inv, len(classes))
    if not bool(torch.isfinite(means).all() and torch.isfinite(cov).all()):
        as_tensor_2d(z, f"{name} features")  # NaN / inf in the features: its one-line error
        raise InputError(f"{name}: features too large: their float64 moments overflow")
    eye = torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
    cov += ridge * cov.diagonal().mean().clamp_min(1e-12) * eye
    L, info = torch.linalg.cholesky_ex(cov)
    if int(info) != 0:
        raise InputError(f"{name}: feature covariance is not positive definite (raise ridge)")
    w = torch.linalg.solve_triangular(L, eye, upper=False)
    wm = (means @ w.T).float()
    return {"whiten": w.float(), "means_w": wm, "means_sq": (wm * wm).sum(1), "classes": classes}


_BUFFERS = threading.local()  # per thread: score buffers reused from chunk to chunk, call to call


def _buffers(rows: int, d: int, c: int, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(rows x d, rows x c, rows, rows) buffers of ``like``'s dtype and device, kept per thread:
    the same memory every chunk, so a score does not depend on what the allocator did before."""
    key = (rows, d, c, like.dtype, like.device)
    if getattr(_BUFFERS, "key", None) != key:
        new = [(rows, d), (rows, c), (rows,), (rows,)]
        bufs = [torch.empty(s, dtype=like.dtype, device=like.device) for s in new]
        bufs[3] = bufs[3].long()
        _BUFFERS.key, _BUFFERS.bufs = key, bufs
    return _BUFFERS.bufs


def _tracing() -> bool:
    """Inside ``torch.jit.trace`` / ``torch.export`` (``detect export``): plain expressions."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def min_distance(z: torch.Tensor, whiten, means_w, means_sq) -> torch.Tensor:
    """min_c of the squared Mahalanobis distance of each row of ``z`` (in z's dtype).

    The expansion ||Wz||^2 - 2 Wz.Wmu_c + ||Wmu_c||^2 (one product for all classes, without
    ||Wz||^2, the same for every class) only picks the nearest class: as a distance it cancels
    catastrophically when ||Wz||^2 is far above it (an ill-conditioned covariance, features far
    from the origin). The distance to that class is then computed directly, ||Wz - Wmu_c||^2:
    one more pass over the (n x D) whitened rows. Without gradients every step writes into
    per-thread buffers (``_buffers``)."""
    whiten, means_w, means_sq = whiten.to(z), means_w.to(z), means_sq.to(z)
    if z.requires_grad or _tracing():  # mahalanobis_pre's input gradient; an export
        zw = z @ whiten.T
        with torch.no_grad():
            near = means_w[torch.addmm(means_sq, zw, means_w.T, alpha=-2.0).argmin(1)]
        return (zw - near).square().sum(1)
    n = z.shape[0]
    zw, dc, dist, idx = (b[:n] for b in _buffers(max(n, 1), *means_w.shape[::-1], z))
    torch.mm(z, whiten.T, out=zw)
    torch.addmm(means_sq, zw, means_w.T, alpha=-2.0, out=dc)  # without ||Wz||^2
    torch.argmin(dc, 1, out=idx)
    zw.sub_(means_w.index_select(0, idx))
    torch.linalg.vector_norm(zw, dim=1, out=dist)
    return dist.square()  # a new tensor: the buffers are reused


@register("mahalanobis")
class Mahalanobis(Scorer):
    """``fit(train_features, train_labels)``; ``ridge`` is added to the covariance's diagonal
    (relative to its mean variance)."""

    input_kind = "features"
    fit_needs = frozenset({"X", "y"})
    chunk_rows = 8192  # 4 MB of whitened float32 rows per chunk: reused buffers, in cache
    state_shapes = GAUSSIAN_STATE
    state_ints = ("classes",)
    check_inputs = True

    def __init__(self, ridge: float = 1e-6):
        super().__init__()
        self.ridge = P.real(ridge, "mahalanobis: ridge", low=0.0)

    def _fit(self, X, y, **_) -> None:
        for k, v in fit_gaussian(X, y, self.ridge, self.name).items():
            setattr(self, k, v)

    def _after_state(self) -> None:
        self.n_features_in_ = int(self.whiten.shape[0])

    def _score_chunk(self, z: torch.Tensor) -> torch.Tensor:
        return -min_distance(z, self.whiten, self.means_w, self.means_sq)
