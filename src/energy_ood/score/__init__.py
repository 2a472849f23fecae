"""Post-hoc OOD scores behind one contract (``base``): ``create_scorer(name, **params)`` builds
any of them, ``fit_scorer(scorer, FitSource(...))`` fits one with what it declares it needs,
and every scorer's ``score`` (or call) returns ID-ness (higher = more in-distribution).
``available_scorers()`` lists the names; ``SHAPING+SCORE`` (e.g. ``react+msp``) composes a
feature shaping with any logit score. ``Detector`` adds a calibrated threshold (and optionally
a model) for deployment."""

from . import functional
from .adapter import ModelAdapter
from .base import INPUT_KINDS, NEEDS, Scorer
from .calibrated import KLMatching, TemperatureScaling
from .detector import Detector, calibrate_threshold
from .fdbd import FDBD
from .fitting import FitSource, fit_scorer
from .gradnorm import GradNorm
from .knn import KNN
from .logits import (
    GEN,
    MSP,
    Energy,
    Entropy,
    LogitScorer,
    MaxLogit,
    SelfNormalizedEnergy,
    WeightedEBO,
)
from .mahalanobis import Mahalanobis
from .mahalanobis_pre import MahalanobisPre
from .nnguide import NNGuide
from .odin import ODIN, odin_perturb
from .rankfeat import RankFeat
from .registry import available_scorers, create_scorer, register, scorer_class, scorer_params
from .shapes import ASHB, ASHP, ASHS, DICE, SCALE, ReAct
from .she import SHE
from .vim import Residual, ViM

__all__ = [
    "ASHB",
    "ASHP",
    "ASHS",
    "DICE",
    "FDBD",
    "GEN",
    "INPUT_KINDS",
    "KNN",
    "MSP",
    "NEEDS",
    "ODIN",
    "SCALE",
    "SHE",
    "Detector",
    "Energy",
    "Entropy",
    "FitSource",
    "GradNorm",
    "KLMatching",
    "LogitScorer",
    "Mahalanobis",
    "MahalanobisPre",
    "MaxLogit",
    "ModelAdapter",
    "NNGuide",
    "RankFeat",
    "ReAct",
    "Residual",
    "Scorer",
    "SelfNormalizedEnergy",
    "TemperatureScaling",
    "ViM",
    "WeightedEBO",
    "available_scorers",
    "calibrate_threshold",
    "create_scorer",
    "fit_scorer",
    "functional",
    "odin_perturb",
    "register",
    "scorer_class",
    "scorer_params",
]
