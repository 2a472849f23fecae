"""The rotation-prediction auxiliary task (Ahmed & Courville, AAAI 2020; SPEC section 3)."""

from __future__ import annotations

import torch.nn.functional as F

from ..._validate import InputError
from .. import augment
from .base import HParam, Objective
from .registry import register_objective


@register_objective("rotation")
class Rotation(Objective):
    """loss = CE_class(f(x), y) + lam * CE_rotation(g(rot_k x), k) over the four rotations
    k = 0, 90, 180, 270 degrees of every image, lam = 0.5. The class head learns from the
    unrotated images only, the rotation head from the rotated ones.

    Ahmed & Courville, "Detecting Semantic Anomalies", AAAI 2020. ``rotation_updates =
    "alternating"`` (the paper's code) makes two updates per step, first the class loss, then
    the rotation loss; ``"summed"`` one update of their sum."""

    summary = "rotation-prediction auxiliary task"
    paper = "Ahmed & Courville, AAAI 2020"
    needs = frozenset({"rotation_head"})
    hparams = {
        "lam": HParam(0.5, low=0.0, doc="weight of the rotation loss"),
        "rotation_updates": HParam("alternating", kind="choice",
                                   choices=("alternating", "summed")),
    }  # fmt: skip
    stage = "scratch"
    score = "msp"
    paper_setup = "trains from scratch, lam 0.5 (CIFAR-10), alternating class and rotation updates"

    @property
    def phases(self) -> int:
        return 2 if self.hp["rotation_updates"] == "alternating" else 1

    def check_ready(self, model) -> None:
        if getattr(model, "rot_head", None) is None:
            raise InputError("rotation training needs a model built with rotation_head=True")

    def loss(self, step, phase: int):
        net, lam = step.net, self.hp["lam"]
        if self.phases == 2 and phase == 0:
            return F.cross_entropy(net.logits(step.x), step.y)
        rx, ry = augment.rotate_all(step.x)
        if self.phases == 2:
            return lam * F.cross_entropy(net.rotation(rx), ry)
        loss = F.cross_entropy(net.logits(step.x), step.y)
        return loss + lam * F.cross_entropy(net.rotation(rx), ry)
