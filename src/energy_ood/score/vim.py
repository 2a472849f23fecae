"""ViM, Virtual-logit Matching (Wang et al. 2022).

Origin u = -pinv(W) b; principal subspace of the centred ID features (top ``dim`` eigenvectors
of their covariance); residual r(z) = ||(z - u) projected off that subspace||; alpha = mean
max-logit / mean residual on the ID training features. score = logsumexp(logits) - alpha * r
(the energy score minus the scaled virtual logit; higher = ID).
"""

from __future__ import annotations

import torch

from .._validate import InputError, as_tensor_2d
from ._head import check_features, resolve_head
from .base import Scorer, register


def default_dim(d: int) -> int:
    if d >= 2048:
        return 1000
    if d >= 768:
        return 512
    return max(1, d // 2)


@register("vim")
class ViM(Scorer):
    input_kind = "features"
    needs_fit = True

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def get_params(self) -> dict:
        return {"dim": self.dim}

    def fit(self, features, weight=None, bias=None, head=None) -> ViM:
        z = as_tensor_2d(features, "vim features", torch.float64)
        w, b = resolve_head("vim", weight, bias, head)
        check_features(self.name, z, w.shape[1])
        d = z.shape[1]
        k = self.dim if self.dim is not None else default_dim(d)
        if not 0 < k < d:
            raise InputError(f"vim: principal dimension must be in [1, {d - 1}], got {k}")
        w64, b64 = w.double(), b.double()
        origin = -torch.linalg.pinv(w64) @ b64
        x = z - origin
        cov = x.T @ x / x.shape[0]
        _, vecs = torch.linalg.eigh(cov)  # ascending eigenvalues
        null = vecs[:, : d - k]  # complement of the top-k principal directions
        resid = (x @ null).norm(dim=1)
        logits = z @ w64.T + b64
        alpha = logits.amax(1).mean() / resid.mean().clamp_min(1e-12)
        self.weight, self.bias = w, b
        self.origin, self.null = origin.float(), null.float().contiguous()
        self.alpha = alpha.float()
        self.fitted_ = True
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "weight": self.weight,
            "bias": self.bias,
            "origin": self.origin,
            "null": self.null,
            "alpha": self.alpha,
        }

    def _score_chunk(self, z: torch.Tensor) -> torch.Tensor:
        check_features(self.name, z, self.weight.shape[1])
        z = z.float()
        resid = ((z - self.origin) @ self.null).norm(dim=1)
        logits = z @ self.weight.T + self.bias
        return torch.logsumexp(logits, dim=1) - self.alpha * resid
