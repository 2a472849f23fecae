"""Mahalanobis distance to the closest class mean (Lee et al. 2018), tied covariance.

score(z) = -min_c (z - mu_c)^T Sigma^-1 (z - mu_c). Fitting takes one Cholesky of Sigma
(Sigma = L L^T, W = L^-1); scoring a batch is one product Z W^T plus a (n x C) product with the
whitened means: ||W z||^2 - 2 (W z).(W mu_c) + ||W mu_c||^2.

With ``eps > 0`` the input pre-processing of Lee et al. is applied: x' = x - eps * sign(grad_x
of the distance to the closest mean); then ``score`` takes model inputs and needs ``model``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._validate import InputError, as_tensor_2d
from ._head import check_features
from .base import Scorer, register


@register("mahalanobis")
class Mahalanobis(Scorer):
    input_kind = "features"
    needs_fit = True

    def __init__(
        self,
        eps: float = 0.0,
        model: nn.Module | None = None,
        head: str | None = None,
        ridge: float = 1e-6,
        batch_size: int = 256,
    ):
        super().__init__()
        if eps < 0:
            raise InputError(f"mahalanobis: eps must be >= 0, got {eps}")
        if eps > 0 and model is None:
            raise InputError("mahalanobis with eps > 0 (input pre-processing) needs model=...")
        self.eps, self.ridge, self.batch_size = float(eps), float(ridge), batch_size
        self.model, self.head_name = model, head
        if eps > 0:
            self.input_kind = "inputs"

    def get_params(self) -> dict:
        return {"eps": self.eps, "ridge": self.ridge}

    def fit(self, features, labels) -> Mahalanobis:
        z = as_tensor_2d(features, "mahalanobis features", torch.float64)
        y = torch.as_tensor(np.asarray(labels)).long().reshape(-1)
        if y.shape[0] != z.shape[0]:
            raise InputError(f"mahalanobis: {z.shape[0]} feature rows but {y.shape[0]} labels")
        classes = torch.unique(y)
        means = torch.stack([z[y == c].mean(0) for c in classes])
        centered = z - means[torch.searchsorted(classes, y)]
        cov = centered.T @ centered / z.shape[0]
        cov += (
            self.ridge
            * cov.diagonal().mean().clamp_min(1e-12)
            * torch.eye(cov.shape[0], dtype=cov.dtype)
        )
        L, info = torch.linalg.cholesky_ex(cov)
        if int(info) != 0:
            raise InputError("mahalanobis: feature covariance is not positive definite")
        w = torch.linalg.solve_triangular(L, torch.eye(cov.shape[0], dtype=cov.dtype), upper=False)
        self.whiten = w.float()  # (D, D), W = L^-1
        wm = (means @ w.T).float()  # whitened means (C, D)
        self.means_w = wm
        self.means_sq = (wm * wm).sum(1)
        self.classes = classes
        self.fitted_ = True
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "whiten": self.whiten,
            "means_w": self.means_w,
            "means_sq": self.means_sq,
            "classes": self.classes,
        }

    def _distances(self, z: torch.Tensor) -> torch.Tensor:
        zw = z @ self.whiten.T
        d = (zw * zw).sum(1, keepdim=True) - 2.0 * (zw @ self.means_w.T) + self.means_sq
        return d.clamp_min(0.0)

    def _score_chunk(self, z: torch.Tensor) -> torch.Tensor:
        check_features(self.name, z, self.whiten.shape[0])
        return -self._distances(z.float()).amin(1)

    def score(self, x) -> np.ndarray:
        if self.eps == 0:
            return super().score(x)
        self._check_fitted()
        from .adapter import ModelAdapter

        adapter = ModelAdapter(self.model, self.head_name)
        x = torch.as_tensor(x).float()
        was_training = self.model.training
        self.model.eval()
        out = []
        try:
            for i in range(0, x.shape[0], self.batch_size):
                xb = x[i : i + self.batch_size].clone().requires_grad_(True)
                dist = self._distances(adapter.features(xb).float()).amin(1).sum()
                (g,) = torch.autograd.grad(dist, xb)
                with torch.no_grad():
                    z = adapter.features((xb - self.eps * g.sign()).detach())
                    out.append(self._score_chunk(z).double())
        finally:
            self.model.train(was_training)
        return torch.cat(out).numpy()
