"""Hand a scorer what it declares it needs: callers ask the scorer, never switch on its name.

``FitSource`` holds whatever a caller has (ID data of each kind for the train and validation
splits, labels, the final layer, the model, the input normalisation); ``fit_scorer(scorer,
source)`` reads ``scorer.fit_kind / fit_needs / fit_accepts / fit_split`` and calls
``scorer.fit`` with exactly that. A scorer whose needs are already met (a stateless logit
score, an ODIN built with its model) is still fitted, which only records widths and cannot fail.
A missing need is the scorer's own one-line InputError.

Data values may be zero-argument callables, evaluated only when a scorer asks (so features are
not extracted for a run that only scores logits).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._validate import InputError
from ..runtime.progress import log
from .base import Scorer


def _value(v):
    """Data given as a zero-argument function is produced on first use."""
    return v() if callable(v) and not hasattr(v, "shape") else v


@dataclass
class FitSource:
    """ID data by kind (``"logits"``, ``"features"``, ``"inputs"``, ``"similarity"``) for the
    ``train`` and ``val`` splits, with their labels; the head (``nn.Linear`` or ``(W, b)``),
    the model, the per-channel input ``std`` and VOS ``class_weights`` where known."""

    train: Mapping[str, Any] = field(default_factory=dict)
    train_labels: Any = None
    val: Mapping[str, Any] = field(default_factory=dict)
    val_labels: Any = None
    head: Any = None
    model: Any = None
    std: Sequence[float] | None = None
    class_weights: Any = None
    _cache: dict = field(default_factory=dict, repr=False)

    def data(self, kind: str, split: str = "train") -> tuple[Any, Any]:
        """(X, labels) of ``kind`` from ``split``; the train split stands in for a missing
        validation split (with a note). (None, None) when the kind is unknown."""
        if split == "val" and kind not in self.val:
            if kind in self.train:
                log(f"no ID validation {kind}: fitting on the training split instead")
            split = "train"
        store = self.val if split == "val" else self.train
        if kind not in store:
            return None, None
        key = (split, kind)
        if key not in self._cache:
            self._cache[key] = _value(store[kind])
        labels = self.val_labels if split == "val" else self.train_labels
        return self._cache[key], _value(labels)


def fit_scorer(scorer: Scorer, source: FitSource | None = None, **given) -> Scorer:
    """Fit ``scorer`` with what it declares, taken from ``source`` (or ``given`` keywords of
    ``FitSource``). Returns the scorer."""
    source = source if source is not None else FitSource(**given)
    wants = scorer.fit_needs | scorer.fit_accepts
    X = y = None
    if "X" in wants or "y" in wants:
        X, y = source.data(scorer.fit_kind or scorer.input_kind, scorer.fit_split)
    needs: dict[str, Any] = {}
    for name in ("head", "model", "std", "class_weights"):
        value = getattr(source, name)
        if name in wants and value is not None:
            needs[name] = value
    return scorer.fit(X if "X" in wants else None, y if "y" in wants else None, **needs)


# what gives each need on the command line (``model``: a run folder or a model spec)
NEED_FLAGS = {"X": "--fit", "y": "--labels", "head": "--head", "class_weights": "--class-weights",
              "model": "--run-dir"}  # fmt: skip


def why_needed(need: str, scorer: Scorer) -> str:
    """What ``scorer`` needs ``need`` for, in a few words."""
    kind = scorer.fit_kind or scorer.input_kind
    split = "validation" if scorer.fit_split == "val" else "training"
    return {
        "X": f"it learns from ID {split} {kind}",
        "y": "it needs the class labels of --fit",
        "head": "the final layer's weight and bias",
        "class_weights": "the class weights learned in VOS training",
        "model": "it runs the model on images",
    }.get(need, need)


def check_fit_needs(scorer: Scorer, given: dict, label: str | None = None, exclude=(),
                    where: str = "") -> None:  # fmt: skip
    """Refuse, naming its flag and what for, the first of ``scorer.fit_needs`` (but
    ``exclude``) that ``given`` (need -> the value given, or None) lacks."""
    for need in sorted(scorer.fit_needs - set(exclude)):
        if not given.get(need):
            raise InputError(
                f"--score {label or scorer.name} needs {NEED_FLAGS.get(need, need)} "
                f"({why_needed(need, scorer)}){where}"
            )
