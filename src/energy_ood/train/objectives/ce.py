"""Plain cross-entropy: the pretraining of every other method and the comparison's baseline."""

from __future__ import annotations

import torch.nn.functional as F

from .base import Objective
from .registry import register_objective


@register_objective("ce")
class CrossEntropy(Objective):
    """loss = CE(f(x_in), y). Trained from scratch; reported with the softmax score (MSP,
    Hendrycks & Gimpel, ICLR 2017)."""

    summary = "cross-entropy"
    paper = "-"
    stage = "scratch"
    score = "msp"
    paper_setup = "-"

    def loss(self, step, phase: int):
        return F.cross_entropy(step.net.logits(step.x), step.y)
