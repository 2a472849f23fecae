"""Mahalanobis distance to the closest class mean (Lee et al., NeurIPS 2018), tied covariance.

score(z) = -min_c (z - mu_c)^T Sigma^-1 (z - mu_c). Fitting takes one Cholesky of Sigma
(Sigma = L L^T, W = L^-1); scoring a batch is one product Z W^T plus a (n x C) product with the
whitened means: ||W z||^2 - 2 (W z).(W mu_c) + ||W mu_c||^2, which picks the nearest class,
whose distance ||W z - W mu_c||^2 is then taken directly (exact where the expansion cancels).
The input pre-processing of Lee et al. is its own scorer, ``mahalanobis_pre`` (it scores model
inputs).
"""

from __future__ import annotations

import torch

from .._validate import InputError, as_tensor_2d
from . import param_checks as P
from .base import Scorer
from .calibrated import check_labels
from .registry import register

GAUSSIAN_STATE = {
    "whiten": ("D", "D"),
    "means_w": ("C", "D"),
    "means_sq": ("C",),
    "classes": ("C",),
}


def fit_gaussian(features, labels, ridge: float, name: str) -> dict[str, torch.Tensor]:
    """Class means and the tied covariance, whitened: the state of both Mahalanobis scorers."""
    z = as_tensor_2d(features, f"{name} features", torch.float64)
    y = check_labels(labels, z.shape[0], None, name, z.device)
    classes = torch.unique(y)
    means = torch.stack([z[y == c].mean(0) for c in classes])
    centered = z - means[torch.searchsorted(classes, y)]
    cov = centered.T @ centered / z.shape[0]
    eye = torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
    cov += ridge * cov.diagonal().mean().clamp_min(1e-12) * eye
    L, info = torch.linalg.cholesky_ex(cov)
    if int(info) != 0:
        raise InputError(f"{name}: feature covariance is not positive definite (raise ridge)")
    w = torch.linalg.solve_triangular(L, eye, upper=False)
    wm = (means @ w.T).float()
    return {"whiten": w.float(), "means_w": wm, "means_sq": (wm * wm).sum(1), "classes": classes}


def min_distance(z: torch.Tensor, whiten, means_w, means_sq) -> torch.Tensor:
    """min_c of the squared Mahalanobis distance of each row of ``z`` (in z's dtype).

    The expansion ||Wz||^2 - 2 Wz.Wmu_c + ||Wmu_c||^2 (one product for all classes, without
    ||Wz||^2, the same for every class) only picks the nearest class: as a distance it cancels
    catastrophically when ||Wz||^2 is far above it (an ill-conditioned covariance, features far
    from the origin). The distance to that class is then computed directly, ||Wz - Wmu_c||^2:
    one more pass over the (n x D) whitened rows."""
    zw = z @ whiten.to(z).T
    means_w = means_w.to(z)
    with torch.no_grad():  # ||Wz||^2 is the same for every class: the argmin needs the rest
        near = means_w[torch.addmm(means_sq.to(z), zw, means_w.T, alpha=-2.0).argmin(1)]
    if zw.requires_grad:  # mahalanobis_pre's input gradient
        return (zw - near).square().sum(1)
    return torch.linalg.vector_norm(zw.sub_(near), dim=1).square_()  # zw is ours: in place


@register("mahalanobis")
class Mahalanobis(Scorer):
    """``fit(train_features, train_labels)``; ``ridge`` is added to the covariance's diagonal
    (relative to its mean variance)."""

    input_kind = "features"
    fit_needs = frozenset({"X", "y"})
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
