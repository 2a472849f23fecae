"""Pre-activation Wide ResNet (Zagoruyko & Komodakis), as in the energy / OE papers' code.

Module names follow that code (``conv1``, ``block1.layer.0.bn1``, ``convShortcut``, ``bn1``,
``fc``), so its CIFAR checkpoints load with ``load_state_dict``. Global average pooling
replaces the fixed 8x8 pooling, which makes 28x28 inputs work too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import InputError
from .base import OODNet, global_pool
from .registry import register_model


class BasicBlock(nn.Module):
    """BN-ReLU-conv3x3, BN-ReLU-(dropout)-conv3x3, identity or 1x1-conv shortcut."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False)
        self.dropout = dropout
        self.equal_in_out = in_planes == out_planes and stride == 1
        self.convShortcut = (
            None if self.equal_in_out else nn.Conv2d(in_planes, out_planes, 1, stride, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        # as the original: a projection shortcut takes the pre-activated input
        shortcut = x if self.equal_in_out else self.convShortcut(o)
        o = F.relu(self.bn2(self.conv1(o)))
        if self.dropout > 0:
            o = F.dropout(o, p=self.dropout, training=self.training)
        return shortcut + self.conv2(o)


class NetworkBlock(nn.Module):
    def __init__(self, n: int, in_planes: int, out_planes: int, stride: int, dropout: float):
        super().__init__()
        self.layer = nn.Sequential(
            *[
                BasicBlock(
                    in_planes if i == 0 else out_planes,
                    out_planes,
                    stride if i == 0 else 1,
                    dropout,
                )
                for i in range(n)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


@register_model("wrn")
class WideResNet(OODNet):
    """WRN-depth-widen; feature dimension 64 * widen. Pre-activation: a block's output is the
    residual sum, which the next unit (or the final ``bn1``) takes through BN-ReLU."""

    block_names = ("block1", "block2", "block3")

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        rotation_head: bool = False,
        depth: int = 40,
        widen: int = 2,
        dropout: float = 0.3,
    ):
        super().__init__(
            num_classes, in_channels, rotation_head, depth=depth, widen=widen, dropout=dropout
        )
        if (depth - 4) % 6 != 0 or depth < 10:
            raise InputError(f"WideResNet depth must be 6n + 4 (10, 16, 28, 40, ...), got {depth}")
        n = (depth - 4) // 6
        ch = [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv1 = nn.Conv2d(in_channels, ch[0], 3, 1, 1, bias=False)
        self.block1 = NetworkBlock(n, ch[0], ch[1], 1, dropout)
        self.block2 = NetworkBlock(n, ch[1], ch[2], 2, dropout)
        self.block3 = NetworkBlock(n, ch[2], ch[3], 2, dropout)
        self.bn1 = nn.BatchNorm2d(ch[3])
        self._build_heads(ch[3])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        return global_pool(F.relu(self.bn1(x)))


@register_model("wrn40_2")
def wrn40_2(
    num_classes: int = 10, in_channels: int = 3, rotation_head: bool = False, dropout: float = 0.3
) -> WideResNet:
    """WRN-40-2 of the energy / OE papers (about 2.2M parameters, 128-d features)."""
    return WideResNet(num_classes, in_channels, rotation_head, 40, 2, dropout)


@register_model("wrn28_10")
def wrn28_10(
    num_classes: int = 10, in_channels: int = 3, rotation_head: bool = False, dropout: float = 0.3
) -> WideResNet:
    """WRN-28-10 (about 36.5M parameters, 640-d features)."""
    return WideResNet(num_classes, in_channels, rotation_head, 28, 10, dropout)
