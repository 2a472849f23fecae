"""ODIN (Liang et al. 2018): temperature scaling plus a small input perturbation.

x' = x - eps * sign(-grad_x log S_max(x; T)), score = max softmax(f(x') / T).
``eps`` is in the space of the tensors the model consumes (usually normalized inputs);
defaults T = 1000, eps = 5e-5 follow the semantic-anomaly paper.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._validate import InputError
from . import functional as F
from .base import Scorer, register


def odin_perturb(model: nn.Module, x: torch.Tensor, T: float, eps: float) -> torch.Tensor:
    """The ODIN input perturbation: a step of size eps that raises the max softmax at T."""
    x = x.detach().clone().requires_grad_(True)
    logits = model(x)
    # -log S_max(x; T): cross-entropy against the predicted class at temperature T.
    loss = nn.functional.cross_entropy(logits / T, logits.argmax(1))
    (grad,) = torch.autograd.grad(loss, x)
    return (x - eps * grad.sign()).detach()


@register("odin")
class ODIN(Scorer):
    """Needs the model: ``create_scorer("odin", model=net, T=1000, eps=5e-5)``."""

    input_kind = "inputs"

    def __init__(
        self,
        model: nn.Module | None = None,
        T: float = 1000.0,
        eps: float = 5e-5,
        batch_size: int = 256,
    ):
        super().__init__()
        if model is None:
            raise InputError("odin needs the model: create_scorer('odin', model=net, ...)")
        if not T > 0 or eps < 0:
            raise InputError(f"odin: need T > 0 and eps >= 0, got T={T}, eps={eps}")
        self.model, self.T, self.eps, self.batch_size = model, float(T), float(eps), batch_size

    def get_params(self) -> dict:
        return {"T": self.T, "eps": self.eps}

    def score(self, x) -> np.ndarray:
        x = torch.as_tensor(x)
        if x.ndim < 2 or x.shape[0] == 0:
            raise InputError(f"odin: expected a non-empty batch of inputs, got {tuple(x.shape)}")
        was_training = self.model.training
        self.model.eval()
        out = []
        try:
            for i in range(0, x.shape[0], self.batch_size):
                xb = x[i : i + self.batch_size].float()
                xp = odin_perturb(self.model, xb, self.T, self.eps) if self.eps > 0 else xb
                with torch.no_grad():
                    out.append(F.msp_score(self.model(xp), self.T).double())
        finally:
            self.model.train(was_training)
        return torch.cat(out).numpy()
