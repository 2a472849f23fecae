"""Prompt tuning: train the CoOp context on frozen input features with cross-entropy
(``loss="ce"``, CoOp, verified settings: SGD lr 0.002 with cosine decay, batch 32) or with
cross-entropy + the reconstructed EBM term (``loss="ce+ebm"``, see ``energy_ood.vlm.ebm``).

Inputs are encoded once by the frozen encoder (``features``); each step runs the frozen text
tower on the K class prompts, so gradients reach only the context vectors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .._validate import InputError
from ..runtime.progress import progress
from .ebm import ebm_loss
from .encoder_base import normalize
from .prompt import PromptLearner

LOSSES = ("ce", "ce+ebm")


@dataclass
class TuneConfig:
    loss: str = "ce"
    epochs: int = 10
    lr: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 32
    logit_scale: float = 100.0
    ebm_weight: float = 0.1  # RECONSTRUCTION constants below (see ebm.py)
    margin: float = 10.0
    pair_weight: float = 1.0
    floor: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise InputError(f"unknown prompt-tuning loss {self.loss!r}; use one of {LOSSES}")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise InputError("epochs and batch_size must be >= 1 and lr > 0")

    def as_dict(self) -> dict:
        return asdict(self)


def _check_data(features, labels, masked, n_classes: int):
    x = torch.as_tensor(features).float()
    y = torch.as_tensor(labels).long()
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise InputError(
            f"need features (n x D) and labels (n,), got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if int(y.min()) < 0 or int(y.max()) >= n_classes:
        raise InputError(f"labels must lie in [0, {n_classes - 1}]")
    xm = None if masked is None else torch.as_tensor(masked).float()
    if xm is not None and xm.shape != x.shape:
        raise InputError("masked features must have the same shape as the features")
    return normalize(x), y, None if xm is None else normalize(xm)


def tune_prompts(
    learner: PromptLearner, features, labels, cfg: TuneConfig, masked_features=None
) -> dict:
    """Train ``learner.ctx`` in place; returns per-epoch mean losses ``{"loss", "ce", "ebm"}``."""
    x, y, xm = _check_data(features, labels, masked_features, len(learner.classnames))
    dev = learner.ctx.device  # the encoder's device: features move there once
    x, y = x.to(dev), y.to(dev)
    xm = None if xm is None else xm.to(dev)
    if cfg.loss == "ce+ebm" and xm is None and cfg.pair_weight > 0:
        raise InputError("loss 'ce+ebm' with pair_weight > 0 needs masked_features")
    g = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.SGD(
        [learner.ctx], lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    steps_per_epoch = -(-x.shape[0] // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
    hist: dict[str, list[float]] = {"loss": [], "ce": [], "ebm": []}
    learner.train()
    for _ in progress(range(cfg.epochs), desc=f"prompt tuning ({cfg.loss})", unit="epoch"):
        sums = torch.zeros(3)
        for idx in torch.randperm(x.shape[0], generator=g).to(dev).split(cfg.batch_size):
            t = learner()
            sim = x[idx] @ t.T
            ce = F.cross_entropy(cfg.logit_scale * sim, y[idx])
            ebm = ce.new_zeros(())
            if cfg.loss == "ce+ebm":
                sim_m = None if xm is None else xm[idx] @ t.T
                ebm = ebm_loss(
                    sim, y[idx], sim_m, logit_scale=cfg.logit_scale, floor=cfg.floor,
                    margin=cfg.margin, pair_weight=cfg.pair_weight,
                )  # fmt: skip
            loss = ce + cfg.ebm_weight * ebm
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            sums += torch.tensor([loss.item(), ce.item(), ebm.item()]) * len(idx)
        for k, v in zip(("loss", "ce", "ebm"), (sums / x.shape[0]).tolist()):
            hist[k].append(v)
    learner.eval()
    return hist
