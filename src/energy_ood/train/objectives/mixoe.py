"""Mixture Outlier Exposure (Zhang, Inkawhich, Linderman, Chen & Li, WACV 2023)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import HParam, Objective
from .registry import register_objective

ALPHA = {"mixup": 1.0, "cutmix": 2.0}  # the authors' scripts/train.sh


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """mean_i sum_k -t_ik log softmax(f_i)_k."""
    return torch.sum(-targets * logits.log_softmax(dim=-1), dim=-1).mean()


def cutmix(x, x_out, lam, u_row, u_col):
    """Paste one box of the outliers into the ID images (the same box for the whole batch,
    as the authors' code): its sides are floor(side * sqrt(1 - lam)), centred at the row and
    column picked by the uniforms, clipped at the border. Returns (mixed, the ID fraction of
    the pixels, which replaces lam)."""
    h, w = x.shape[-2:]
    cut = torch.sqrt(1.0 - lam)
    ch, cw = torch.floor(h * cut), torch.floor(w * cut)
    cr, cc = torch.floor(u_row * h).clamp(max=h - 1), torch.floor(u_col * w).clamp(max=w - 1)
    r1 = (cr - torch.div(ch, 2, rounding_mode="floor")).clamp(0, h)
    r2 = (cr + torch.div(ch, 2, rounding_mode="floor")).clamp(0, h)
    c1 = (cc - torch.div(cw, 2, rounding_mode="floor")).clamp(0, w)
    c2 = (cc + torch.div(cw, 2, rounding_mode="floor")).clamp(0, w)
    rows = torch.arange(h, device=x.device, dtype=cut.dtype).view(h, 1)
    cols = torch.arange(w, device=x.device, dtype=cut.dtype).view(1, w)
    box = (rows >= r1) & (rows < r2) & (cols >= c1) & (cols < c2)
    lam = 1.0 - (r2 - r1) * (c2 - c1) / (h * w)
    return torch.where(box, x_out, x), lam


@register_objective("mixoe")
class MixOE(Objective):
    """loss = CE(f(x_in), y) + lam_w * CE(f(x~), y~), with x~ = l x_in + (1 - l) x_out (mixup)
    or x_in with a box of x_out pasted in (CutMix, l then the ID fraction of the pixels),
    l ~ Beta(alpha, alpha) once per step, y~ = l onehot(y) + (1 - l) / K (the uniform).

    Zhang et al., "Mixture Outlier Exposure: Towards Out-of-Distribution Detection in
    Fine-grained Environments", WACV 2023. As the authors' code: each ID image is
    paired with one outlier (the auxiliary batch is the ID batch size), the ID and the mixed
    batch go through two forward passes, the model is fine-tuned (10 epochs at lr 0.001), and
    the defaults are their scripts': lam_w (their beta) = 5, alpha = 1 for mixup and 2 for
    CutMix. Scored with MSP."""

    summary = "mixing ID and outlier images with soft targets"
    paper = "Zhang et al., WACV 2023"
    needs = frozenset({"aux"})
    hparams = {
        "lam": HParam(5.0, low=0.0, doc="weight of the mixed term (the paper's beta)"),
        "mix": HParam("mixup", kind="choice", choices=("mixup", "cutmix")),
        "alpha": HParam(None, gt=0.0, optional=True,
                        doc="Beta(alpha, alpha) of the mixing ratio (mixup 1, cutmix 2)"),
    }  # fmt: skip
    stage = "finetune"
    score = "msp"
    paper_setup = (
        "fine-tunes ResNet-50 for 10 epochs, lr 0.001, weight decay 1e-5, 32 ID + 32 "
        "outliers per step, beta = 5, alpha = 1 (mixup) / 2 (CutMix)"
    )

    @property
    def alpha(self) -> float:
        a = self.hp["alpha"]
        return ALPHA[self.hp["mix"]] if a is None else a

    def aux_batch_size(self, configured: int, n_id: int) -> int:
        return n_id

    def draw(self, g: torch.Generator, n_id: int, n_aux: int) -> torch.Tensor:
        """[l, row uniform, column uniform]: l = the Beta(alpha, alpha) quantile of a uniform."""
        from scipy.special import betaincinv

        u = torch.rand(3, generator=g, dtype=torch.float64)
        lam = float(betaincinv(self.alpha, self.alpha, float(u[0])))
        return torch.tensor([lam, float(u[1]), float(u[2])], dtype=torch.float32)

    def loss(self, step, phase: int):
        x, x_out, y = step.x, step.aux, step.y
        lam = step.rand[0]
        id_loss = F.cross_entropy(step.net.logits(x), y)
        if self.hp["mix"] == "cutmix":
            mixed, lam = cutmix(x, x_out, lam, step.rand[1], step.rand[2])
        else:
            mixed = lam * x + (1.0 - lam) * x_out
        logits = step.net.logits(mixed)
        k = logits.shape[1]
        targets = lam * F.one_hot(y, k).to(logits.dtype) + (1.0 - lam) / k
        return id_loss + self.hp["lam"] * soft_cross_entropy(logits, targets)
