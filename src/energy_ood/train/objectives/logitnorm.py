"""LogitNorm (Wei, Xie, Cheng, Feng, An & Li, ICML 2022)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import HParam, Objective
from .registry import register_objective

EPS = 1e-7  # added to the norm, as the authors' code (LogitNormLoss)


def logitnorm_loss(logits: torch.Tensor, y: torch.Tensor, tau: float) -> torch.Tensor:
    """CE( f / (tau * (||f||_2 + 1e-7)), y ), mean over the batch."""
    norms = torch.linalg.vector_norm(logits, dim=-1, keepdim=True) + EPS
    return F.cross_entropy(torch.div(logits, norms) / tau, y)


@register_objective("logitnorm")
class LogitNorm(Objective):
    """loss = CE( f(x) / (tau * ||f(x)||_2), y ), tau = 0.04.

    Wei et al., "Mitigating Neural Network Overconfidence with Logit Normalization",
    ICML 2022: the cross-entropy sees logits of a fixed norm 1/tau, so training cannot
    raise confidence by growing the logits' norm. Trained from scratch (the paper: 200 epochs,
    WRN-40-2, tau = 0.04 on CIFAR-10); scores are computed on the raw logits f (MSP in the
    paper). Like the authors' code, 1e-7 is added to the norm."""

    summary = "cross-entropy on norm-fixed logits"
    paper = "Wei et al., ICML 2022"
    hparams = {"tau": HParam(0.04, gt=0.0, doc="temperature: the logits' norm is 1 / tau")}
    stage = "scratch"
    score = "msp"
    paper_setup = "trains WRN-40-2 from scratch for 200 epochs, lr 0.1, batch 128, tau = 0.04"

    def loss(self, step, phase: int):
        return logitnorm_loss(step.net.logits(step.x), step.y, self.hp["tau"])
