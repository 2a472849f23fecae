"""All-Convolutional net (Springenberg et al.) with BatchNorm, as in the OE / AugMix code.

96-96-96-maxpool-192-192-192-maxpool-conv3x3(no pad)-NIN-NIN, every conv followed by BN and
the sigmoid GELU approximation ``x * sigmoid(1.702 x)``; dropout 0.5 after each max-pool.
The 1x1 "NIN" convs keep the original's padding of 1. 192-d features after global average
pooling (the original's 8x8 average pool sees the same values for 32x32 inputs only up to the
padded border); about 1.4M parameters. Block outputs (``block_names``): the activation before
each max-pool and the last one.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import OODNet, global_pool
from .registry import register_model


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def _layers(cfg: list, in_channels: int, dropout: float) -> tuple[nn.Sequential, list[str]]:
    """The body and the names of its block outputs (the activation before each max-pool, and
    the last one)."""
    layers: list[nn.Module] = []
    ends: list[str] = []
    c = in_channels
    for v in cfg:
        if v == "M":
            ends.append(f"body.{len(layers) - 1}")
            layers += [nn.MaxPool2d(2), nn.Dropout(dropout)]
            continue
        if v == "nopad":
            conv = nn.Conv2d(c, c, 3, padding=0)
        elif v == "nin":
            conv = nn.Conv2d(c, c, 1, padding=1)
        else:
            conv, c = nn.Conv2d(c, v, 3, padding=1), v
        layers += [conv, nn.BatchNorm2d(c), QuickGELU()]
    return nn.Sequential(*layers), [*ends, f"body.{len(layers) - 1}"]


@register_model("allconv")
class AllConvNet(OODNet):
    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        rotation_head: bool = False,
        width1: int = 96,
        width2: int = 192,
        dropout: float = 0.5,
    ):
        super().__init__(
            num_classes, in_channels, rotation_head, width1=width1, width2=width2, dropout=dropout
        )
        w1, w2 = width1, width2
        cfg = [w1, w1, w1, "M", w2, w2, w2, "M", "nopad", "nin", "nin"]
        self.body, ends = _layers(cfg, in_channels, dropout)
        self.block_names = tuple(ends)
        self._build_heads(w2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return global_pool(self.body(x))
