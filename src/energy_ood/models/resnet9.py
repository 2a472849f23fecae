"""ResNet-9 for 32x32 inputs (the DAWNBench network of Page, "How to train your ResNet", 2018),
with a width multiplier so it can be sized to a machine.

``prep`` conv, then three stages (conv-BN-ReLU, 2x2 max-pool; stages 1 and 3 add a residual
block of two conv-BN-ReLU) at widths ``w, 2w, 4w, 8w``; global average pooling (the original
pools by max) gives ``8w``-d post-ReLU features. ``width=64`` is the original (6.6M parameters);
``width=16`` (0.41M) is the CPU size used by the ``cifar10_cpu`` benchmark.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import InputError
from .base import OODNet, global_pool
from .registry import register_model


def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.res1, self.res2 = conv_bn(c, c), conv_bn(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res2(self.res1(x))


def stage(c_in: int, c_out: int, residual: bool) -> nn.Sequential:
    layers = [conv_bn(c_in, c_out), nn.MaxPool2d(2)]
    return nn.Sequential(*layers, Residual(c_out)) if residual else nn.Sequential(*layers)


@register_model("resnet9")
class ResNet9(OODNet):
    """ResNet-9 at width ``w`` (``8w``-d features). ``block_names``: the blocks whose outputs
    (post-activation; after the residual sum in ``layer1`` / ``layer3``) feature-shaping
    scorers such as RankFeat read, in forward order."""

    block_names = ("prep", "layer1", "layer2", "layer3")

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        rotation_head: bool = False,
        width: int = 16,
    ):
        super().__init__(num_classes, in_channels, rotation_head, width=width)
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise InputError(f"resnet9: width must be a positive integer, got {width!r}")
        self.prep = conv_bn(in_channels, width)
        self.layer1 = stage(width, 2 * width, residual=True)
        self.layer2 = stage(2 * width, 4 * width, residual=False)
        self.layer3 = stage(4 * width, 8 * width, residual=True)
        self._build_heads(8 * width)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return global_pool(self.layer3(self.layer2(self.layer1(self.prep(x)))))
