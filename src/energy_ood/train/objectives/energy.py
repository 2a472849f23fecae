"""Energy-bounded fine-tuning (Liu, Wang, Owens & Li, NeurIPS 2020; SPEC section 3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..._validate import InputError
from ..losses import energy_bounded_loss
from .base import HParam, Objective
from .registry import register_objective

MARGIN_DOC = "energy margin (default: chosen from the base model's validation energies)"


def split_logits(step):
    """ID and auxiliary images concatenated into ONE forward pass (the paper's code):
    (ID logits, outlier logits)."""
    logits = step.net.logits(torch.cat([step.x, step.aux]))
    return logits[: step.x.shape[0]], logits[step.x.shape[0] :]


@register_objective("energy")
class EnergyBounded(Objective):
    """loss = CE(f(x_in), y) + lam * ( mean_ID relu(E(x_in) - m_in)^2
    + mean_OOD relu(m_out - E(x_out))^2 ), E(x) = -logsumexp f(x), lam = 0.1.

    Liu et al., "Energy-based Out-of-distribution Detection", NeurIPS 2020, section 3;
    fine-tuning a pretrained model for 10 epochs at lr 0.001 with 128 ID + 256 outliers per
    step. Margins: chosen from data (``train.margins``) unless given."""

    summary = "energy-bounded fine-tuning (two squared hinges)"
    paper = "Liu et al., NeurIPS 2020"
    needs = frozenset({"aux"})
    hparams = {
        "lam": HParam(0.1, low=0.0, doc="weight of the energy term"),
        "m_in": HParam(None, optional=True, doc=MARGIN_DOC),
        "m_out": HParam(None, optional=True, doc=MARGIN_DOC),
    }
    stage = "finetune"
    score = "energy"
    paper_setup = (
        "fine-tunes a pretrained WRN-40-2 for 10 epochs, lr 0.001, 128 ID + 256 outliers "
        "per step, m_in = -23, m_out = -5 (CIFAR-10)"
    )

    def check_ready(self, model) -> None:
        if self.hp["m_in"] is None or self.hp["m_out"] is None:
            raise InputError("energy fine-tuning needs m_in and m_out (or choose_margins)")

    def loss(self, step, phase: int):
        lin, lout = split_logits(step)
        loss = F.cross_entropy(lin, step.y)
        return loss + self.hp["lam"] * energy_bounded_loss(
            lin, lout, self.hp["m_in"], self.hp["m_out"]
        )
