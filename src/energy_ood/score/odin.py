"""ODIN (Liang, Li & Srikant, ICLR 2018): temperature scaling plus a small input perturbation.

x' = x - eps * sign(-grad_x log S_max(x; T)) / std, score = max softmax(f(x') / T).

``eps`` is in pixel units ([0, 1] images) when ``std`` (the per-channel std of the input
normalisation) is given: both original codes (ODIN's and Lee et al.'s) divide the signed
gradient by the normalisation std, so the step taken in the normalised space the model consumes
is eps / std per channel. Without ``std`` the step is eps in the model's input space. Callers
that know the normalisation pass it (``fit(std=...)``, or ``FitSource.std``). Defaults T = 1000,
eps = 5e-5 follow the semantic-anomaly paper.
"""

from __future__ import annotations

import torch
from torch import nn

from . import functional as F
from . import param_checks as P
from ._inputs import InputScorer, step_scale
from .registry import register


def odin_perturb(model: nn.Module, x: torch.Tensor, T: float, eps: float, std=None) -> torch.Tensor:
    """The ODIN input perturbation: a step of eps (per channel eps / std) that raises the max
    softmax at temperature T."""
    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        logits = model(x)
        # -log S_max(x; T): cross-entropy against the predicted class at temperature T.
        loss = nn.functional.cross_entropy(logits / T, logits.argmax(1))
        (grad,) = torch.autograd.grad(loss, x)
    return (x - eps * grad.sign() * step_scale(std, x, "odin")).detach()


@register("odin")
class ODIN(InputScorer):
    """Needs the model: ``create_scorer("odin", model=net, T=1000, eps=5e-5, std=[0.5])`` or
    ``fit(model=net, std=...)``; scores model inputs."""

    fit_accepts = frozenset({"std"})

    def __init__(
        self,
        model: nn.Module | None = None,
        T: float = 1000.0,
        eps: float = 5e-5,
        std: list[float] | None = None,
        batch_size: int = 256,
    ):
        super().__init__(model, batch_size)
        self.T = P.temperature(T, "odin: T")
        self.eps = P.real(eps, "odin: eps", low=0.0)
        self.std = P.channel_std(std, "odin: std")

    def _score_batch(self, x: torch.Tensor) -> torch.Tensor:
        xp = odin_perturb(self.model, x, self.T, self.eps, self.std) if self.eps > 0 else x
        with torch.no_grad():
            return F.msp_score(self.model(xp), self.T)
