"""Training objectives behind one contract (:mod:`.base`), one module per method, registered
by name: ``create_objective("vos", queue_size=200)``. The training loop asks an objective what
it needs and never switches on its name.

======================  =========================================  ============  =========
name                    method                                     auxiliary     stage
======================  =========================================  ============  =========
``ce``                  cross-entropy                              no            scratch
``energy``              energy-bounded fine-tuning (Liu 2020)      yes           fine-tune
``energy-scratch``      the energy hinges from the first epoch     yes           scratch
``oe``                  Outlier Exposure (Hendrycks 2019)          yes           fine-tune
``single-margin``       one-margin hinge (Liu 2020, rebuttal)      yes           fine-tune
``rotation``            rotation-prediction task (Ahmed 2020)      no            scratch
``logitnorm``           LogitNorm (Wei 2022)                       no            scratch
``vos``                 virtual outlier synthesis (Du 2022)        no            scratch
``mixoe``               Mixture Outlier Exposure (Zhang 2023)      yes           fine-tune
======================  =========================================  ============  =========
"""

from . import ce, energy, energy_scratch, logitnorm, mixoe, oe, rotation, single_margin, vos
from .base import NEEDS, HParam, Objective, UndeclaredNeed
from .registry import (
    available_objectives,
    create_objective,
    objective_class,
    register_objective,
)
from .step import NetView, Step

__all__ = [
    "NEEDS",
    "HParam",
    "NetView",
    "Objective",
    "Step",
    "UndeclaredNeed",
    "available_objectives",
    "ce",
    "create_objective",
    "energy",
    "energy_scratch",
    "logitnorm",
    "mixoe",
    "objective_class",
    "oe",
    "register_objective",
    "rotation",
    "single_margin",
    "vos",
]
