"""DenseNet-BC (Huang et al.), depth 100, growth 12, as the energy / OE papers' ``DenseNet3``.

Module names follow that code (``conv1``, ``block1.layer.0.bn1``, ``trans1.conv1``, ``bn1``,
``fc``). 342-d features, about 0.77M parameters for 10 classes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import InputError
from .base import OODNet, global_pool
from .registry import register_model


class BottleneckBlock(nn.Module):
    """BN-ReLU-conv1x1 (4k) - BN-ReLU-conv3x3 (k), output concatenated to the input."""

    def __init__(self, in_planes: int, growth: int, dropout: float = 0.0):
        super().__init__()
        inter = 4 * growth
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, inter, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(inter)
        self.conv2 = nn.Conv2d(inter, growth, 3, 1, 1, bias=False)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        if self.dropout > 0:
            out = F.dropout(out, p=self.dropout, training=self.training)
        out = self.conv2(F.relu(self.bn2(out)))
        if self.dropout > 0:
            out = F.dropout(out, p=self.dropout, training=self.training)
        return torch.cat([x, out], 1)


class TransitionBlock(nn.Module):
    """BN-ReLU-conv1x1 (compression) then 2x2 average pooling."""

    def __init__(self, in_planes: int, out_planes: int, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 1, bias=False)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        if self.dropout > 0:
            out = F.dropout(out, p=self.dropout, training=self.training)
        return F.avg_pool2d(out, 2)


class DenseBlock(nn.Module):
    def __init__(self, n: int, in_planes: int, growth: int, dropout: float):
        super().__init__()
        self.layer = nn.Sequential(
            *[BottleneckBlock(in_planes + i * growth, growth, dropout) for i in range(n)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


@register_model("densenet_bc100")
class DenseNetBC(OODNet):
    """Pre-activation: a dense block outputs the concatenation that the next transition (or
    the final ``bn1``) takes through BN-ReLU."""

    block_names = ("block1", "block2", "block3")

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        rotation_head: bool = False,
        depth: int = 100,
        growth: int = 12,
        reduction: float = 0.5,
        dropout: float = 0.0,
    ):
        super().__init__(
            num_classes,
            in_channels,
            rotation_head,
            depth=depth,
            growth=growth,
            reduction=reduction,
            dropout=dropout,
        )
        if (depth - 4) % 6 != 0 or depth < 10:
            raise InputError(f"DenseNet-BC depth must be 6n + 4, got {depth}")
        n = (depth - 4) // 6
        c = 2 * growth
        self.conv1 = nn.Conv2d(in_channels, c, 3, 1, 1, bias=False)
        self.block1 = DenseBlock(n, c, growth, dropout)
        c += n * growth
        self.trans1 = TransitionBlock(c, math.floor(c * reduction), dropout)
        c = math.floor(c * reduction)
        self.block2 = DenseBlock(n, c, growth, dropout)
        c += n * growth
        self.trans2 = TransitionBlock(c, math.floor(c * reduction), dropout)
        c = math.floor(c * reduction)
        self.block3 = DenseBlock(n, c, growth, dropout)
        c += n * growth
        self.bn1 = nn.BatchNorm2d(c)
        self._build_heads(c)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.trans1(self.block1(self.conv1(x)))
        x = self.block3(self.trans2(self.block2(x)))
        return global_pool(F.relu(self.bn1(x)))
