"""Architectures for OOD detection: ``create_model(name, num_classes, in_channels, ...)``.

Every model is an :class:`OODNet`: ``features(x) -> (N, D)``, final linear layer ``fc``,
optional rotation head (``rotation_head=True``: ``forward_rotation``, ``forward_both``) and
``arch_config()`` so a checkpoint can be rebuilt and checked against its architecture.

Any other classifier -- ``torchvision:NAME``, ``timm:NAME``, a TorchScript or exported
program -- with a local weights file: ``load_model(spec, checkpoint=...)`` returns a
:class:`LoadedModel` (module, head name, :class:`Preprocess`, ``arch`` record).
"""

# importing the modules registers the architectures
from . import allconv, cnn, densenet, resnet, resnet9, wrn  # noqa: F401
from .base import OODNet, init_weights
from .external import replace_head
from .loader import LoadedModel, load_model, load_program, rebuild_model
from .preprocess import Preprocess
from .registry import available_models, create_model, register_model

__all__ = [
    "LoadedModel",
    "OODNet",
    "Preprocess",
    "available_models",
    "create_model",
    "init_weights",
    "load_model",
    "load_program",
    "rebuild_model",
    "register_model",
    "replace_head",
]
