"""Outlier Exposure (Hendrycks, Mazeika & Dietterich, ICLR 2019; SPEC section 3)."""

from __future__ import annotations

import torch.nn.functional as F

from ..losses import outlier_exposure_loss
from .base import HParam, Objective
from .energy import split_logits
from .registry import register_objective


@register_objective("oe")
class OutlierExposure(Objective):
    """loss = CE(f(x_in), y) + lam * mean_OOD( logsumexp f(x_out) - mean_i f_i(x_out) ),
    the cross-entropy from the softmax to the uniform on outliers, lam = 0.5.

    Hendrycks et al., "Deep Anomaly Detection with Outlier Exposure", ICLR 2019; fine-tuned
    as the energy paper does (its baseline), scored with MSP."""

    summary = "Outlier Exposure (uniform softmax on outliers)"
    paper = "Hendrycks et al., ICLR 2019"
    needs = frozenset({"aux"})
    hparams = {"lam": HParam(0.5, low=0.0, doc="weight of the outlier term")}
    stage = "finetune"
    score = "msp"
    paper_setup = (
        "fine-tunes for 10 epochs, lr 0.001, 128 ID + 256 outliers (as the energy paper "
        "runs it); the OE paper also trains from scratch"
    )

    def loss(self, step, phase: int):
        lin, lout = split_logits(step)
        loss = F.cross_entropy(lin, step.y)
        return loss + self.hp["lam"] * outlier_exposure_loss(lout)
