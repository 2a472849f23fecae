"""ViM, Virtual-logit Matching (Wang et al., CVPR 2022), and its Residual score.

Origin o = -pinv(W) b; principal subspace P of the ID features shifted by o (top ``dim``
eigenvectors of their uncentred second-moment matrix, as the authors' code); residual
r(h) = ||(I - P)(h - o)||.

* ``vim``: alpha = mean max-logit / mean residual on the ID training features;
  score = logsumexp(logits) - alpha * r (energy minus the scaled virtual logit; higher = ID).
* ``residual``: score = -r(h) (the paper's "Residual" baseline).

Both: ``fit(train_features, head=model.fc)``.
"""

from __future__ import annotations

import torch

from .._validate import InputError, as_tensor_2d
from . import param_checks as P
from ._head import check_head_width, linear
from .base import Scorer
from .registry import register


def default_dim(d: int) -> int:
    if d >= 2048:
        return 1000
    if d >= 768:
        return 512
    return max(1, d // 2)


def fit_subspace(z: torch.Tensor, w: torch.Tensor, b: torch.Tensor, dim, name: str):
    """(origin, null-space basis, residuals of z) in float64."""
    d = z.shape[1]
    check_head_width(name, z, w)
    k = default_dim(d) if dim is None else dim
    if not 0 < k < d:
        raise InputError(f"{name}: principal dimension must be in [1, {d - 1}], got {k}")
    origin = -torch.linalg.pinv(w.double()) @ b.double()
    x = z - origin
    _, vecs = torch.linalg.eigh(x.T @ x / x.shape[0])  # ascending eigenvalues
    null = vecs[:, : d - k]  # complement of the top-k principal directions
    return origin, null, (x @ null).norm(dim=1)


class _Subspace(Scorer):
    input_kind = "features"
    fit_needs = frozenset({"X", "head"})
    check_inputs = True

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = None if dim is None else P.integer(dim, f"{self.name}: dim", low=1)

    def _residual(self, z: torch.Tensor) -> torch.Tensor:
        return ((z - self.origin.to(z.dtype)) @ self.null.to(z.dtype)).norm(dim=1)

    def _after_state(self) -> None:
        self.n_features_in_ = int(self.null.shape[0])


@register("vim")
class ViM(_Subspace):
    state_shapes = {
        "weight": ("K", "D"),
        "bias": ("K",),
        "origin": ("D",),
        "null": ("D", "R"),
        "alpha": (),
    }

    def _fit(self, X, y, weight=None, bias=None, **_) -> None:
        z = as_tensor_2d(X, "vim features", torch.float64).to(weight.device)
        origin, null, resid = fit_subspace(z, weight, bias, self.dim, self.name)
        logits = z @ weight.double().T + bias.double()
        self.alpha = (logits.amax(1).mean() / resid.mean().clamp_min(1e-12)).float()
        self.weight, self.bias = weight, bias
        self.origin, self.null = origin.float(), null.float().contiguous()

    def _score_chunk(self, z: torch.Tensor) -> torch.Tensor:
        logits = linear(z, self.weight, self.bias)
        return torch.logsumexp(logits, dim=1) - self.alpha.to(z.dtype) * self._residual(z)


@register("residual")
class Residual(_Subspace):
    """-||(I - P)(h - o)||: the Residual score of the ViM paper (Wang et al., CVPR 2022)."""

    state_shapes = {"origin": ("D",), "null": ("D", "R")}

    def _fit(self, X, y, weight=None, bias=None, **_) -> None:
        z = as_tensor_2d(X, "residual features", torch.float64).to(weight.device)
        origin, null, _ = fit_subspace(z, weight, bias, self.dim, self.name)
        self.origin, self.null = origin.float(), null.float().contiguous()

    def _score_chunk(self, z: torch.Tensor) -> torch.Tensor:
        return -self._residual(z)
