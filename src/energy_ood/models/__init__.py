"""Architectures for OOD detection: ``create_model(name, num_classes, in_channels, ...)``.

Every model is an :class:`OODNet`: ``features(x) -> (N, D)``, final linear layer ``fc``,
optional rotation head (``rotation_head=True``: ``forward_rotation``, ``forward_both``) and
``arch_config()`` so a checkpoint can be rebuilt and checked against its architecture.
"""

from . import allconv, cnn, densenet, resnet, wrn  # noqa: F401  (register the architectures)
from .base import OODNet, init_weights
from .registry import available_models, create_model, register_model

__all__ = ["OODNet", "available_models", "create_model", "init_weights", "register_model"]
