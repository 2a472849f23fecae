"""The ID-accuracy gate: before OOD numbers are computed for a model on labelled ID data, its
accuracy on that data is checked against chance.

A model that does not recognise its own ID data (wrong normalisation, classes in another
order, another input size, grey vs RGB) still yields FPR95 and AUROC, all meaningless. Below
``ratio`` times chance (default 1.5x) one loud warning line names the likely causes; it is
printed to stderr and put at the top of every report and results.json, and ``strict`` turns
it into an error (exit code 2).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch

from .._validate import InputError

DEFAULT_RATIO = 1.5
HELP_RATIO = (
    "the ID-accuracy gate: warn (exit 2 with --strict) when the model's accuracy on its "
    f"labelled ID data is below this multiple of chance (default {DEFAULT_RATIO}; 0: off)"
)
HELP_STRICT = "exit 2 when the ID-accuracy gate fails, before any OOD number is computed"


@dataclass(frozen=True)
class GateResult:
    """The model's accuracy on ``n`` labelled ID images of ``n_classes`` classes, against
    ``ratio`` times chance; ``context`` (e.g. the normalisation in use) goes in the warning."""

    accuracy: float
    n: int
    n_classes: int
    ratio: float = DEFAULT_RATIO
    what: str = "ID test"
    context: str = ""

    @property
    def chance(self) -> float:
        return 1.0 / self.n_classes

    @property
    def passed(self) -> bool:
        return self.ratio <= 0 or self.accuracy >= self.ratio * self.chance - 1e-12

    @property
    def warning(self) -> str | None:
        """The one warning line, or None when the gate passes."""
        if self.passed:
            return None
        now = f"; now: {self.context}" if self.context else ""
        return (
            f"WARNING: ID accuracy {100 * self.accuracy:.1f}% on {self.n} labelled "
            f"{self.what} images is near chance ({100 * self.chance:.1f}% for "
            f"{self.n_classes} classes; gate {self.ratio:g}x chance = "
            f"{100 * self.ratio * self.chance:.1f}%): the model does not recognise its own "
            "ID data, so OOD numbers for it are meaningless. Likely causes: the input "
            f"normalisation (--normalize{now}), the class order (--class-names), the input "
            "size (--input-size) or the channels (grey vs RGB)."
        )

    def record(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "n": self.n,
            "n_classes": self.n_classes,
            "chance": self.chance,
            "ratio": self.ratio,
            "passed": self.passed,
            "warning": self.warning,
        }


def check_ratio(ratio, where: str = "--accuracy-gate") -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio >= 0:
        raise InputError(f"{where}: expected a multiple of chance >= 0, got {ratio!r}")
    return float(ratio)


def id_accuracy(logits, labels, ratio: float = DEFAULT_RATIO, **kw) -> GateResult | None:
    """The gate on a model's ``logits`` (N x K) for ``labels``; None when the model's outputs
    are not the data's classes (K differs from the classes the labels index) or no labels."""
    lo = torch.as_tensor(np.asarray(logits) if not isinstance(logits, torch.Tensor) else logits)
    if lo.ndim != 2:
        return None
    return from_predictions(lo.argmax(1), labels, int(lo.shape[1]), ratio, **kw)


def from_predictions(pred, labels, n_classes: int, ratio=DEFAULT_RATIO, **kw):
    """The gate on predicted classes ``pred`` for ``labels`` (None without labels)."""
    p = torch.as_tensor(np.asarray(pred) if not isinstance(pred, torch.Tensor) else pred)
    y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    if len(y) == 0 or len(y) != len(p) or n_classes < 2:
        return None
    acc = int((p.cpu().long() == y.cpu().long()).sum()) / len(y)
    return GateResult(acc, len(y), int(n_classes), check_ratio(ratio), **kw)


def enforce(gate: GateResult | None, strict: bool = False) -> str | None:
    """Print the warning line (stderr) when the gate fails; with ``strict`` raise it as an
    InputError instead. Returns the warning (None when it passed or there was no gate)."""
    if gate is None or gate.passed:
        return None
    if strict:
        raise InputError(gate.warning.replace("WARNING: ", "", 1) + " (--strict)")
    print(gate.warning, file=sys.stderr, flush=True)
    return gate.warning
