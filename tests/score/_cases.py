"""Constructed, separable ID / OOD cases for every input kind, shared by the contract tests.

* logits: ID rows have one large logit (6 + noise; 10% of the labels wrong, so a fitted
  temperature stays finite), OOD rows are flat noise;
* features: K = 4 classes, D = 32; class k lights block k (8 dims) of post-ReLU features; the
  head reads its block (W = block indicators). OOD features are small unstructured noise;
* similarity: ID rows have one cosine 0.15 above the rest, OOD rows none;
* inputs: 4-channel 4 x 4 images through ``map_net`` (1x1 conv = identity, ReLU, global average
  pooling, fc = 4 I). An ID image of class k has channel k bright and channel k+1 a checker
  pattern; an OOD image is bright and constant in every channel (a rank-1 map).

Everything is seeded; ``map_net()`` builds the same model in any process.
"""

from __future__ import annotations

import torch
from torch import nn

from energy_ood.score import FitSource

K, D, N = 4, 32, 200


class MapNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1, bias=False)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4, K)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(4).view(4, 4, 1, 1))
            self.fc.weight.copy_(4.0 * torch.eye(K))
            self.fc.bias.zero_()

    def forward(self, x):
        z = self.relu(self.conv(x)).mean(dim=(2, 3))
        return self.fc(z)


def map_net() -> MapNet:
    return MapNet().eval()


def _blocks() -> torch.Tensor:
    b = torch.zeros(K, D)
    for k in range(K):
        b[k, 8 * k : 8 * k + 8] = 1.0
    return b


def logits_case(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(N) % K
    idl = 6.0 * torch.eye(K)[y] + 1.2 * torch.randn(N, K, generator=g)
    ood = 1.2 * torch.randn(N, K, generator=g)
    noisy = torch.where(torch.arange(N) % 10 == 0, (y + 1) % K, y)  # 10% wrong labels
    return idl, noisy, ood


def features_case(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(N) % K
    h = torch.relu(3.0 * _blocks()[y] + 0.3 * torch.randn(N, D, generator=g))
    ood = torch.relu(0.6 * torch.randn(N, D, generator=g))
    return h, y, ood


def similarity_case(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(N) % K
    idl = 0.2 + 0.15 * torch.eye(K)[y] + 0.02 * torch.randn(N, K, generator=g)
    ood = 0.2 + 0.02 * torch.randn(N, K, generator=g)
    return idl, y, ood


def inputs_case(seed: int = 0, n: int = 64):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % K
    checker = ((torch.arange(4)[:, None] + torch.arange(4)[None, :]) % 2).float()
    x = 0.3 * torch.randn(n, 4, 4, 4, generator=g)
    for i in range(n):
        k = int(y[i])
        x[i, k] += 2.0
        x[i, (k + 1) % K] += checker
    ood = 1.5 + 0.1 * torch.randn(n, 4, 4, 4, generator=g)
    return x, y, ood


def case(kind: str, seed: int = 0):
    """(source to fit with, ID data, OOD data) of an input kind."""
    net = map_net()
    if kind == "inputs":
        x, y, ood = inputs_case(seed)
        with torch.no_grad():
            feats = torch.relu(net.conv(x)).mean(dim=(2, 3))
        train = {"inputs": x, "features": feats, "logits": net(x).detach()}
        xv, yv, oodv = inputs_case(seed + 1)
        src = FitSource(train=train, train_labels=y, head=net.fc, model=net, std=[0.5] * 4)
        return src, xv, oodv
    make = {"logits": logits_case, "features": features_case, "similarity": similarity_case}
    x, y, _ = make[kind](seed)
    xv, _, ood = make[kind](seed + 1)
    if kind == "features":
        head = (_blocks(), torch.zeros(K))
        train = {"features": x, "logits": x @ _blocks().T}
    else:
        head, train = None, {kind: x}
    src = FitSource(
        train=train, train_labels=y, val=train, val_labels=y, head=head, model=net,
        class_weights=torch.ones(K),
    )  # fmt: skip
    return src, xv, ood


# Parameters that make each scorer fit the small cases (defaults otherwise).
PARAMS = {
    "knn": {"k": 5},
    "nnguide": {"k": 5},
    "odin": {"eps": 0.002},
    "rankfeat": {"layer": "conv"},
    "rankfeat+msp": {"layer": "conv"},
    "mahalanobis_pre": {"eps": 0.002},
}
# Composed names checked beside the registry (shaping + a logit score).
COMPOSED = ["react+msp", "ash_s+gen", "ash_b+maxlogit", "dice+kl_matching", "scale+entropy",
            "ash_p+temp_scaling", "rankfeat+msp"]  # fmt: skip
