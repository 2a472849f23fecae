"""``OODNet``: the common base of every architecture in ``energy_ood.models``.

A subclass builds its trunk, defines ``features(x) -> (N, D)`` (penultimate features, after
global average pooling) and ends its ``__init__`` with ``self._build_heads(D)``, which adds the
final linear layer ``fc`` (and ``rot_head`` when built with ``rotation_head=True``) and applies
the papers' initialisation. ``block_names`` names the submodules whose outputs are the block
outputs (the maps RankFeat edits by default).
"""

from __future__ import annotations

import abc
import copy

import torch
from torch import nn

from .._validate import InputError


def init_weights(module: nn.Module) -> None:
    """He-normal convs (fan_out, as the WRN / DenseNet / AllConv code), BN 1/0, linear bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)


class OODNet(nn.Module, metaclass=abc.ABCMeta):
    """Classifier split into ``features`` and ``fc``, with an optional rotation head."""

    arch_name = "oodnet"  # set by ``register_model`` when a class is registered
    # Submodules whose outputs are the network's block outputs, in forward order (the maps
    # RankFeat edits; it defaults to the last two). A subclass lists its own; one whose block
    # layout depends on its arguments sets the attribute in ``__init__``.
    block_names: tuple[str, ...] = ()

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        rotation_head: bool = False,
        **arch_kwargs,
    ):
        super().__init__()
        for key, v in (("num_classes", num_classes), ("in_channels", in_channels)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"{key} must be a positive integer, got {v!r}")
        self.num_classes, self.in_channels = num_classes, in_channels
        self.feature_dim = 0
        self.rot_head: nn.Linear | None = None
        self._arch = {
            "name": self.arch_name,
            "num_classes": num_classes,
            "in_channels": in_channels,
            "rotation_head": bool(rotation_head),
            "kwargs": dict(arch_kwargs),
        }

    def _build_heads(self, feature_dim: int) -> None:
        self.feature_dim = int(feature_dim)
        self.fc = nn.Linear(feature_dim, self.num_classes)
        if self._arch["rotation_head"]:
            self.rot_head = nn.Linear(feature_dim, 4)
        init_weights(self)
        # channels_last: 1.2x (WRN-40-2) to 1.6x (small CNN) faster training on this CPU
        # (oneDNN), same arithmetic; see BENCHMARKS.md
        self.to(memory_format=torch.channels_last)

    def arch_config(self) -> dict:
        """``{name, num_classes, in_channels, rotation_head, kwargs}``;
        ``create_model(**cfg)`` rebuilds the same architecture."""
        return copy.deepcopy(self._arch)

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise InputError(
                f"{self._arch['name']}: expected input (N, {self.in_channels}, H, W),"
                f" got shape {tuple(x.shape)}"
            )

    @abc.abstractmethod
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, D) of a batch of inputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.fc(self.features(x))

    def _rot(self) -> nn.Linear:
        if self.rot_head is None:
            raise InputError(
                f"{self._arch['name']} was built without a rotation head; "
                "create it with rotation_head=True"
            )
        return self.rot_head

    def forward_rotation(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 4) of the rotation head (0, 90, 180, 270 degrees)."""
        head = self._rot()
        self._check(x)
        return head(self.features(x))

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(class_logits, rotation_logits)`` from one pass through ``features``."""
        head = self._rot()
        self._check(x)
        z = self.features(x)
        return self.fc(z), head(z)


def global_pool(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C) global average pooling."""
    return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
