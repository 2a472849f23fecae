"""Small fast CNN for 28x28 grey images on a CPU (Fashion-MNIST, MNIST).

Stages of conv3x3-BN-ReLU, 2x2 max-pool between stages, global average pooling, then a
hidden linear-BN-ReLU layer whose output (``hidden``-d) is the penultimate feature vector.
The block outputs (``block_names``) are the last ReLU of each stage.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import OODNet, global_pool
from .registry import register_model


def _cbr(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


@register_model("cnn")
class SmallCNN(OODNet):
    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        rotation_head: bool = False,
        widths: tuple[int, ...] = (16, 32, 64),
        convs: int = 1,
        hidden: int = 128,
        pool_grid: int = 1,
    ):
        widths = tuple(int(w) for w in widths)
        super().__init__(
            num_classes,
            in_channels,
            rotation_head,
            widths=list(widths),
            convs=convs,
            hidden=hidden,
            pool_grid=pool_grid,
        )
        layers: list[nn.Module] = []
        ends: list[str] = []  # the last ReLU of each stage: the block outputs
        c = in_channels
        for i, w in enumerate(widths):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            for _ in range(convs):
                layers += _cbr(c, w)
                c = w
            ends.append(f"body.{len(layers) - 1}")
        self.body = nn.Sequential(*layers)
        self.block_names = tuple(ends)
        self.pool_grid = pool_grid
        self.hidden = nn.Sequential(
            nn.Linear(c * pool_grid**2, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU()
        )
        self._build_heads(hidden)  # also switches to channels_last

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(x)
        if self.pool_grid == 1:
            x = global_pool(x)
        else:
            x = torch.flatten(F.adaptive_avg_pool2d(x, self.pool_grid), 1)
        return self.hidden(x)
