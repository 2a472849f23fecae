"""Mahalanobis with the input pre-processing of Lee et al. (NeurIPS 2018): a scorer of model
inputs. x' = x - eps * sign(grad_x min_c d_M(z(x), mu_c)) / std, score = -min_c d_M(z(x'), mu_c),
z = the penultimate features (the input of the final linear layer, ``head_name``).

As in the original code the step is divided by the per-channel std of the input normalisation,
so ``eps`` is in pixel units when ``std`` is known (without it, in model-input units). The class
means and covariance are fitted on ID *features*: ``fit(train_features, train_labels,
model=net)`` (``fit_kind = "features"``). Default eps 0.0014, one of the magnitudes of Lee et
al.'s search grid (they choose it on validation data). Penultimate layer only (no layer
ensemble).
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import InputError
from ..runtime.device import model_device
from . import param_checks as P
from ._inputs import InputScorer, step_scale
from .adapter import ModelAdapter
from .mahalanobis import GAUSSIAN_STATE, fit_gaussian, min_distance
from .registry import register


@register("mahalanobis_pre")
class MahalanobisPre(InputScorer):
    fit_kind = "features"
    fit_needs = frozenset({"X", "y", "model"})
    fit_accepts = frozenset({"std"})
    state_shapes = GAUSSIAN_STATE
    state_ints = ("classes",)

    def __init__(
        self,
        model: nn.Module | None = None,
        eps: float = 0.0014,
        std: list[float] | None = None,
        head_name: str | None = None,
        ridge: float = 1e-6,
        batch_size: int = 256,
    ):
        super().__init__(model, batch_size)
        self.eps = P.real(eps, "mahalanobis_pre: eps", low=0.0)
        self.std = P.channel_std(std, "mahalanobis_pre: std")
        self.head_name = P.optional_name(head_name, "mahalanobis_pre: head_name")
        self.ridge = P.real(ridge, "mahalanobis_pre: ridge", low=0.0)

    def _fit_inputs(self, X, y) -> None:
        dev = model_device(self.model)
        for k, v in fit_gaussian(X, y, self.ridge, self.name).items():
            setattr(self, k, v.to(dev))

    def _distance(self, adapter: ModelAdapter, x: torch.Tensor) -> torch.Tensor:
        z = adapter.features(x)
        if z.shape[1] != self.whiten.shape[0]:
            raise InputError(
                f"{self.name}: the model's features have {z.shape[1]} columns, "
                f"fitted on {self.whiten.shape[0]}"
            )
        return min_distance(z, self.whiten, self.means_w, self.means_sq)

    def _score_batch(self, x: torch.Tensor) -> torch.Tensor:
        adapter = ModelAdapter(self.model, self.head_name)
        if self.eps > 0:
            with torch.enable_grad():
                xg = x.detach().clone().requires_grad_(True)
                (g,) = torch.autograd.grad(self._distance(adapter, xg).sum(), xg)
            x = (x - self.eps * g.sign() * step_scale(self.std, x, self.name)).detach()
        with torch.no_grad():
            return -self._distance(adapter, x)
