"""OOD metrics: a pure functional layer (``functional``) under a thin stateful one."""

from .functional import (
    Curve,
    aupr_in,
    aupr_out,
    auroc,
    average_precision,
    convention,
    curve,
    fpr_at_tpr,
    ood_metrics,
)
from .stateful import OODMetrics

__all__ = [
    "Curve",
    "OODMetrics",
    "aupr_in",
    "aupr_out",
    "auroc",
    "average_precision",
    "convention",
    "curve",
    "fpr_at_tpr",
    "ood_metrics",
]
