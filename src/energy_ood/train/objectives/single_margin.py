"""The single-margin ablation of the energy paper's rebuttal."""

from __future__ import annotations

import torch.nn.functional as F

from ..._validate import InputError
from ..losses import single_margin_loss
from .base import HParam, Objective
from .energy import split_logits
from .registry import register_objective


@register_objective("single-margin")
class SingleMargin(Objective):
    """loss = CE(f(x_in), y) + lam * mean over every (ID, outlier) pair of
    relu(E(x_in) - E(x_out) + margin), lam = 0.1 (``train.losses.single_margin_loss``).

    Liu et al., NeurIPS 2020, author response: one margin between the two energies instead of
    two bounds; it costs ID accuracy."""

    summary = "single-margin hinge (rebuttal ablation)"
    paper = "Liu et al., NeurIPS 2020 (rebuttal)"
    needs = frozenset({"aux"})
    hparams = {
        "lam": HParam(0.1, low=0.0, doc="weight of the hinge"),
        "margin": HParam(None, optional=True, doc="the margin (default: m_out - m_in from data)"),
    }
    stage = "finetune"
    score = "energy"

    def check_ready(self, model) -> None:
        if self.hp["margin"] is None:
            raise InputError("single-margin fine-tuning needs margin")

    def loss(self, step, phase: int):
        lin, lout = split_logits(step)
        loss = F.cross_entropy(lin, step.y)
        return loss + self.hp["lam"] * single_margin_loss(lin, lout, self.hp["margin"])
