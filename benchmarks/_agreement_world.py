"""The seeded inputs and the tiny model on which bench_agreement.py runs energy-ood's scorers and
pytorch-ood's detectors side by side.

* Images: 3 x 8 x 8, ``K`` = 10 classes; an image of class k is the class's fixed random pattern
  plus Gaussian noise. OOD test images are the patterns of 10 other classes, so their scores
  spread over a different range.
* ``TinyNet``: conv 3x3 (3 -> ``C`` = 32 channels), Softplus, global average pooling, a linear
  head to K logits; trained a few Adam steps on the fit images (seeded). Softplus keeps every
  activation strictly positive, so the per-sample top-k of the shapings (ASH, SCALE) has no
  ties among zeros, where two libraries may keep different entries of equal value.
* Everything derived: feature maps (n, C, 8, 8) before pooling, pooled features h (n, C) (what
  the feature scorers take), logits. Fit split (4000, train statistics), validation split
  (2000: temperature, KL-Matching templates), test split (1500 ID + 1000 OOD).
* Vision-language: image and text embeddings (E = 64) whose cosines are CLIP-like.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

K, C, SIDE, E = 10, 32, 8, 64
N_FIT, N_VAL, N_ID, N_OOD = 4000, 2000, 1500, 1000


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, C, 3, padding=1)
        self.act = nn.Softplus()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(C, K)

    def maps(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map, (n, C, 8, 8), strictly positive."""
        return self.act(self.conv(x))

    def head(self, maps: torch.Tensor) -> torch.Tensor:
        """Everything after the map: pooling and the linear head."""
        return self.fc(self.pool(maps).flatten(1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.maps(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.maps(x))


def _patterns(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(K, 3, SIDE, SIDE, generator=g)


def images(n: int, seed: int, ood: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images and their labels (-1 for OOD images)."""
    g = torch.Generator().manual_seed(seed)
    pats = _patterns(200 if ood else 100)
    y = torch.randint(0, K, (n,), generator=g)
    x = pats[y] + 0.8 * torch.randn(n, 3, SIDE, SIDE, generator=g)
    return x, (torch.full((n,), -1) if ood else y)


def train(net: TinyNet, x: torch.Tensor, y: torch.Tensor, steps: int, seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()


@dataclass
class World:
    net: TinyNet
    x_fit: torch.Tensor
    y_fit: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor  # N_ID ID images, then N_OOD OOD images
    h_fit: torch.Tensor
    h_val: torch.Tensor
    h_test: torch.Tensor
    logits_fit: torch.Tensor
    logits_val: torch.Tensor
    logits_test: torch.Tensor
    img_emb: torch.Tensor  # (n_test, E) image embeddings, not normalised
    text_emb: torch.Tensor  # (K, E) class prompt embeddings, not normalised
    accuracy: float  # of the trained net on the ID test images


def build(seed: int = 0, steps: int = 150, scale: float = 1.0) -> World:
    """The whole seeded world; ``scale`` < 1 shrinks every split (for a quick check)."""
    torch.manual_seed(seed)
    n = {
        k: max(50, int(v * scale))
        for k, v in dict(fit=N_FIT, val=N_VAL, id=N_ID, ood=N_OOD).items()
    }
    x_fit, y_fit = images(n["fit"], seed + 1)
    x_val, y_val = images(n["val"], seed + 2)
    x_id, y_id = images(n["id"], seed + 3)
    x_ood, _ = images(n["ood"], seed + 4, ood=True)
    x_test = torch.cat([x_id, x_ood])
    net = train(TinyNet(), x_fit, y_fit, steps, seed)
    with torch.no_grad():
        h = [net.features(x) for x in (x_fit, x_val, x_test)]
        z = [net.fc(t) for t in h]
        acc = float((z[2][: n["id"]].argmax(1) == y_id).float().mean())
    g = torch.Generator().manual_seed(seed + 5)
    text = torch.randn(K, E, generator=g)
    labels = torch.cat([y_id, torch.randint(0, K, (n["ood"],), generator=g)])
    strength = torch.cat([torch.full((n["id"],), 1.0), torch.full((n["ood"],), 0.3)])
    img = strength[:, None] * text[labels] + 1.5 * torch.randn(len(labels), E, generator=g)
    return World(
        net, x_fit, y_fit, x_val, y_val, x_test, *h, *z, img_emb=img, text_emb=text, accuracy=acc
    )


def rel_err(ours, ref) -> float:
    """Normwise relative difference ||ours - ref||_inf / ||ref||_inf (float64)."""
    a = np.asarray(ours, dtype=np.float64).ravel()
    b = np.asarray(ref, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    scale = np.max(np.abs(b))
    return float(np.max(np.abs(a - b)) / (scale if scale > 0 else 1.0))


def spearman(a, b) -> float:
    """Spearman rank correlation (average ranks for ties). Rounding can leave it at
    1 - 1e-16 for identical orderings: ``same_order`` is the exact test."""
    from scipy.stats import spearmanr

    return float(spearmanr(np.asarray(a, np.float64), np.asarray(b, np.float64)).statistic)


def same_order(a, b) -> bool:
    """True when both rank the rows identically (ties included)."""
    from scipy.stats import rankdata

    return bool(np.array_equal(rankdata(np.asarray(a)), rankdata(np.asarray(b))))
