"""Post-hoc OOD scores. ``create_scorer(name, **params)`` builds any of them; every scorer's
``score`` returns ID-ness (higher = more in-distribution)."""

from . import functional
from .base import Scorer, available_scorers, create_scorer, register
from .logits import MSP, Energy, MaxLogit, SelfNormalizedEnergy

__all__ = [
    "MSP",
    "Energy",
    "MaxLogit",
    "Scorer",
    "SelfNormalizedEnergy",
    "available_scorers",
    "create_scorer",
    "functional",
    "register",
]
