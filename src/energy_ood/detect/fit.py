"""Fit a detector: a scorer and a threshold accepting ``tpr`` of the ID validation data.

* :func:`fit_on_arrays`: from files of the scorer's kind (logits, features, ...), with what the
  scorer declares it needs (training data and labels, the final layer, class weights);
* :func:`fit_on_source`: with a model and its ID data (``evaluate.source``): the scorer learns
  from a seeded subset of the training images, the threshold is set on the validation split
  (or on given images), after the ID-accuracy gate; the detector records its model and inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import InputError
from ..data.for_model import model_inputs
from ..data.sources import load_array, read_head
from ..metrics.accuracy_gate import DEFAULT_RATIO, check_ratio, enforce, id_accuracy
from ..score import Detector
from ..score.calibrated import check_labels
from ..score.fitting import check_fit_needs
from ..score.model_record import transform_from_record


@dataclass(frozen=True)
class ArrayFiles:
    """The files of a detector fitted on arrays: ID validation data of the scorer's kind
    (``val``), and what the scorer may need: training data (``fit``) and its labels, the final
    layer (``head``), VOS class weights, the input normalisation's per-channel ``std``."""

    val: str
    fit: str | None = None
    labels: str | None = None
    head: str | None = None
    class_weights: str | None = None
    std: list[float] | None = None


def fit_on_arrays(scorer, files: ArrayFiles, tpr: float = 0.95, label=None) -> Detector:
    """A detector of ``scorer`` fitted from ``files``; ``label`` names the scorer in errors."""
    given = {"X": files.fit, "y": files.labels, "head": files.head,
             "class_weights": files.class_weights, "model": None}  # fmt: skip
    check_fit_needs(scorer, given, label)
    needs = {}
    if files.head:
        needs["weight"], needs["bias"] = read_head(files.head)
    if files.class_weights:
        needs["class_weights"] = load_array(files.class_weights)
    if files.std is not None and "std" in scorer.fit_accepts:
        needs["std"] = files.std
    X = load_array(files.fit, scorer.fit_kind or scorer.input_kind) if files.fit else None
    y = None
    if files.labels:
        y = load_array(files.labels)
        if X is None or y.ndim != 1 or len(y) != len(X):
            raise InputError(f"{files.labels}: need one label per row of --fit, got {y.shape}")
        check_labels(y, len(X), None, f"--labels {files.labels}", "cpu")
    det = Detector(scorer, tpr=tpr)
    val = load_array(files.val, scorer.input_kind)
    if X is None and not scorer.fit_needs:
        det.fit(val, **needs)
    else:
        det.fit(X if X is not None else val, y, X_val=val, **needs)
    return det


def _gate(source, runtime, ratio: float, strict: bool) -> dict:
    """The ID-accuracy gate on the validation split (before anything is fitted): the warning
    is printed (or, with ``strict``, the fit stops) and kept in the detector's record."""
    from ..evaluate.extract import extract

    ratio = check_ratio(ratio)
    if ratio <= 0:
        return {}
    d = source.data
    lo, _ = extract(source.model, d.x_val, 512, runtime, source.head, "ID accuracy")
    g = id_accuracy(lo, d.y_val, ratio, what="ID validation", context=d.extra.get("normalize", ""))
    if g is None or g.n_classes != len(d.classes):
        return {}
    return {"id_accuracy": g.accuracy, "warning": enforce(g, strict)}


def fit_on_source(scorer, source, runtime, *, val=None, fit_samples: int = 10000,
                  class_weights=None, tpr: float = 0.95, gate_ratio: float = DEFAULT_RATIO,
                  strict: bool = False, label=None) -> Detector:  # fmt: skip
    """A detector of ``scorer`` holding ``source``'s model: fitted on ``fit_samples`` training
    images (seeded), its threshold set on the validation split, or on the images at ``val``;
    ``class_weights`` (a file) or else the class weights the source's run learned (VOS)."""
    d = source.data
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(d.x_train), generator=g)[: max(1, fit_samples)]
    X, y = d.x_train[idx], d.y_train[idx]
    record = source.inputs_record()
    record.update(_gate(source, runtime, gate_ratio, strict))
    if val is not None:
        transform = transform_from_record(record["transform"])
        val = model_inputs(val, transform, record["mean"], record["std"], runtime.device)
    needs = {}
    if class_weights:
        needs["class_weights"] = load_array(class_weights)
    elif source.class_weights is not None and "class_weights" in scorer.fit_needs:
        needs["class_weights"] = source.class_weights  # the run's own (VOS training)
    if "std" in scorer.fit_accepts:
        needs["std"] = list(d.std)
    check_fit_needs(scorer, dict.fromkeys(needs, True), label,
                    exclude={"X", "y", "head", "model", "std"})  # fmt: skip
    det = Detector(scorer, tpr=tpr, model=source.model, head=source.head)
    det.fit(X, y, X_val=d.x_val if val is None else val, **needs)
    det.inputs = record
    return det
