"""VOS: Virtual Outlier Synthesis (Du, Wang, Cai & Li, ICLR 2022)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import HParam, Objective, load_tensors
from .registry import register_objective
from .step import feature_shape
from .vos_sampling import FeatureQueues, draw_virtual, gaussian_outliers

WARMUP_FRACTION = 0.4  # the paper: the uncertainty loss from epoch 40 of 100


def neg_weighted_energy(logits: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """-E_w(f) = log sum_k relu(w_k) exp(f_k), computed as the authors' code (max shifted)."""
    m = logits.max(dim=1, keepdim=True).values
    return m.squeeze(1) + torch.log(torch.sum(F.relu(weights) * torch.exp(logits - m), dim=1))


class VOSParameters(nn.Module):
    """VOS's learnable parameters: class weights w (K; uniform in [0, 1) at the start, as the
    authors' ``weight_energy``) and the logistic regression phi: a linear layer 1 -> 2 on -E_w
    (a 2-way softmax on a 1-d input is the logistic regression of the paper)."""

    def __init__(self, k: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed * 7919 + 17)
        self.class_weights = nn.Parameter(torch.rand(k, generator=g))
        self.phi = nn.Linear(1, 2)
        with torch.no_grad():  # PyTorch's default bound for one input: U(-1, 1)
            self.phi.weight.copy_(torch.rand(2, 1, generator=g) * 2 - 1)
            self.phi.bias.copy_(torch.rand(2, generator=g) * 2 - 1)


@register_objective("vos")
class VOS(Objective):
    """loss = CE(f(x), y) + lam * L_unc, switched on after a warm-up, lam (the paper's beta) 0.1.

    Du et al., "VOS: Learning What You Don't Know by Virtual Outlier Synthesis", ICLR 2022,
    section 3. Per class a queue of the latest penultimate features (1,000 each); class means
    mu_k and one shared covariance Sigma of the queued features (+ 1e-4 I, as the authors' code);
    per class, of 10,000 samples of N(mu_k, Sigma) the ``select`` (1) of lowest likelihood are
    the virtual outliers v (drawn exactly as that choice, :mod:`.vos_sampling`). The weighted
    energy E_w(h) = -log sum_k relu(w_k) exp(f_k(h)) has learnable class weights w. L_unc is
    the cross-entropy of a learnable logistic regression phi on -E_w: ID features (the batch)
    positive, virtual outliers (through the final layer) negative, averaged over all of them
    (the authors' code; the paper writes the two expectations separately). w and phi are
    trained with the model (same optimizer); w is what ``weighted_ebo`` reads, exported as
    ``class_weights.npy``. Trained from scratch (100 epochs, warm-up 40)."""

    summary = "virtual outliers from class-conditional Gaussians, weighted-energy uncertainty"
    paper = "Du et al., ICLR 2022"
    needs = frozenset({"features", "head", "global_batch"})
    hparams = {
        "lam": HParam(0.1, low=0.0, doc="weight of the uncertainty loss (the paper's beta)"),
        "queue_size": HParam(1000, kind="int", low=1, doc="features kept per class"),
        "sample_from": HParam(10000, kind="int", low=1, doc="draws per class per step"),
        "select": HParam(1, kind="int", low=1, doc="virtual outliers kept per class per step"),
        "start_epoch": HParam(None, kind="int", low=0, optional=True,
                              doc="epochs before the uncertainty loss (default 40% of them)"),
    }  # fmt: skip
    stage = "scratch"
    score = "energy"
    paper_setup = (
        "trains WRN-40-2 from scratch for 100 epochs (uncertainty loss from epoch 40), "
        "queues of 1,000, 10,000 draws per class, 1 kept, beta = 0.1"
    )

    def cross_check(self) -> list[str]:
        if self.hp["select"] > self.hp["sample_from"]:
            return [f"select ({self.hp['select']}) must be <= sample_from"]
        return []

    def build(self, model: nn.Module, seed: int) -> nn.Module:
        self.k, self.dim = feature_shape(model)
        device = next(model.parameters()).device
        self.queues = FeatureQueues(self.k, self.hp["queue_size"], self.dim, device)
        self.module = VOSParameters(self.k, seed).to(device)
        self._start = 0
        return self.module

    def begin_epoch(self, epoch: int, epochs: int) -> None:
        s = self.hp["start_epoch"]
        self._start = round(WARMUP_FRACTION * epochs) if s is None else s

    def draw(self, g: torch.Generator, n_id: int, n_aux: int) -> torch.Tensor:
        hp = self.hp
        return draw_virtual(g, self.k, hp["select"], hp["sample_from"], self.dim)

    def loss(self, step, phase: int):
        logits, z = step.net.features(step.x)
        loss = F.cross_entropy(logits, step.y)
        full = self.queues.push(step.gather(z.detach()), step.gather(step.y))
        if step.epoch < self._start:
            return loss
        v = gaussian_outliers(self.queues.features, step.rand, self.hp["select"])
        v = v.tensor_split(step.world)[step.rank]  # each process its share
        w = self.module.class_weights
        energies = torch.cat([neg_weighted_energy(logits, w),
                              neg_weighted_energy(step.net.head(v), w)])  # fmt: skip
        out = self.module.phi(energies[:, None])
        labels = torch.zeros(len(out), dtype=torch.long, device=out.device)
        labels[: len(logits)] = 1  # ID positive, virtual outliers negative
        total = step.n + self.k * self.hp["select"]  # the mean over the global step's entries
        unc = F.cross_entropy(out, labels, reduction="sum") * step.world / total
        return loss + self.hp["lam"] * unc * full.to(unc.dtype)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.queues.state_dict()

    def load_state_dict(self, state: dict, where: str) -> None:
        self.queues.load(load_tensors(state, self.queues.state_dict(), where))

    def exports(self) -> dict[str, torch.Tensor]:
        return {"class_weights": self.module.class_weights.detach().cpu().clone()}
