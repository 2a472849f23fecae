"""The single-margin ablation of the energy paper's rebuttal."""

from __future__ import annotations

import torch.nn.functional as F

from ..._validate import InputError
from ...score.functional import free_energy
from ..losses import single_margin_loss
from .base import HParam, Objective
from .energy import split_logits
from .registry import register_objective


@register_objective("single-margin")
class SingleMargin(Objective):
    """loss = CE(f(x_in), y) + lam * mean over every (ID, outlier) pair of
    relu(E(x_in) - E(x_out) + margin), lam = 0.1 (``train.losses.single_margin_loss``).

    Liu et al., NeurIPS 2020, author response: one margin between the two energies instead of
    two bounds; it costs ID accuracy. On several processes every ID image meets every outlier
    of the GLOBAL step (the outliers' energies gathered with their gradient), as on one."""

    summary = "single-margin hinge (rebuttal ablation)"
    paper = "Liu et al., NeurIPS 2020 (rebuttal)"
    needs = frozenset({"aux", "global_batch"})
    hparams = {
        "lam": HParam(0.1, low=0.0, doc="weight of the hinge"),
        "margin": HParam(None, optional=True, doc="the margin (default: m_out - m_in from data)"),
    }
    stage = "finetune"
    score = "energy"
    paper_setup = "fine-tunes as energy fine-tuning (the rebuttal gives no margin)"

    def check_ready(self, model) -> None:
        if self.hp["margin"] is None:
            raise InputError("single-margin fine-tuning needs margin")

    def loss(self, step, phase: int):
        lin, lout = split_logits(step)
        loss = F.cross_entropy(lin, step.y)
        m = self.hp["margin"]
        if step.world == 1:
            return loss + self.hp["lam"] * single_margin_loss(lin, lout, m)
        e_out = step.gather(free_energy(lout), "aux", grad=True)
        pairs = F.relu(free_energy(lin)[:, None] - e_out[None, :] + m).sum()
        return loss + self.hp["lam"] * pairs * step.world / (step.n * len(e_out))
