"""Post-hoc OOD scores. ``create_scorer(name, **params)`` builds any of them; every scorer's
``score`` returns ID-ness (higher = more in-distribution)."""

from . import functional
from .adapter import ModelAdapter
from .base import Scorer, available_scorers, create_scorer, register
from .detector import Detector, calibrate_threshold
from .knn import KNN
from .logits import MSP, Energy, MaxLogit, SelfNormalizedEnergy
from .mahalanobis import Mahalanobis
from .odin import ODIN, odin_perturb
from .react import ReAct
from .vim import ViM

__all__ = [
    "KNN",
    "MSP",
    "ODIN",
    "Detector",
    "Energy",
    "Mahalanobis",
    "MaxLogit",
    "ModelAdapter",
    "ReAct",
    "Scorer",
    "SelfNormalizedEnergy",
    "ViM",
    "available_scorers",
    "calibrate_threshold",
    "create_scorer",
    "functional",
    "odin_perturb",
    "register",
]
