"""Deployment: a scorer plus a threshold calibrated on ID data, with scikit-learn's
outlier-detector API.

Convention (scikit-learn's, e.g. IsolationForest): ``predict`` returns +1 for an inlier (ID) and
-1 for an outlier (OOD); ``decision_function(X) = score - threshold`` (>= 0: inlier);
``score_samples(X)`` the scorer's ID-ness scores. An input is OOD when its score is below the
threshold, which accepts at least ``tpr`` of the ID calibration scores (the first-point rule of
``energy_ood.metrics``).

Without a model, ``X`` holds what the scorer consumes (logits, features, ...). With a model
(``Detector("knn", model=net)``), ``X`` holds model inputs (a tensor, or an iterable / DataLoader
of batches, re-iterable) and the detector extracts logits or features itself
(``ModelAdapter``; ``head`` names the final layer where it is not found automatically).

A detector saves as ``NAME.json`` + ``NAME.pt`` (fitted tensors only; see ``_detector_io``)
and loads with ``torch.load(weights_only=True)``: no code is executed.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import __version__
from .._validate import InputError, as_numpy_1d
from . import _detector_io as io
from . import param_checks as P
from .adapter import ModelAdapter, check_features
from .base import Scorer
from .fitting import FitSource, fit_scorer
from .registry import create_scorer, scorer_class

CONVENTION = (
    "score = ID-ness (higher = more in-distribution); OOD when score < threshold; "
    "predict: +1 inlier (ID), -1 outlier (OOD); decision_function = score - threshold"
)
_FIT_KEYWORDS = ("head", "weight", "bias", "model", "std", "class_weights")


def detector_files(path):
    """The ``.json`` and ``.pt`` paths of the detector saved at ``path`` (``det``,
    ``det.json`` or ``det.pt``; ``v1.5`` is ``v1.5.json``, never ``v1.json``)."""
    return io.pair_paths(path)


def detector_base(path):
    """The path a detector's files share: ``det`` for ``det``, ``det.json`` or ``det.pt``."""
    return io.base_path(path)


def calibrate_threshold(id_scores, tpr: float = 0.95) -> float:
    """The largest threshold t with mean(id_scores >= t) >= tpr."""
    s = as_numpy_1d(id_scores, "id validation scores")
    if isinstance(tpr, bool) or not isinstance(tpr, (int, float)) or not 0 < tpr <= 1:
        raise InputError(f"tpr must be in (0, 1], got {tpr!r}")
    k = max(1, math.ceil(tpr * s.size - 1e-9))
    return float(np.partition(s, s.size - k)[s.size - k])


class Detector:
    """``Detector("energy").fit(id_val_logits)``; ``predict(x)`` -> +1 (ID) / -1 (OOD)."""

    def __init__(
        self,
        scorer: Scorer | str,
        tpr: float = 0.95,
        *,
        model: torch.nn.Module | None = None,
        head: str | None = None,
        batch_size: int = 256,
        **scorer_params,
    ):
        if isinstance(scorer, str):
            scorer = create_scorer(scorer, **scorer_params)
        elif scorer_params:
            raise InputError("scorer parameters go with a scorer name, not a built scorer")
        if not isinstance(scorer, Scorer):
            raise InputError(f"scorer must be a Scorer or a name, got {type(scorer).__name__}")
        if isinstance(tpr, bool) or not isinstance(tpr, (int, float)) or not 0 < tpr <= 1:
            raise InputError(f"tpr must be in (0, 1], got {tpr!r}")
        if model is not None and not isinstance(model, torch.nn.Module):
            raise InputError(f"model must be a torch nn.Module, got {type(model).__name__}")
        if model is not None and scorer.input_kind == "similarity":
            raise InputError(
                f"{scorer.name} scores similarities; a classifier model cannot give them"
            )
        self.scorer, self.tpr = scorer, float(tpr)
        self.model, self.head = model, head
        self.batch_size = P.integer(batch_size, "batch_size", low=1)
        self.threshold: float | None = None
        self.n_features_in_: int | None = None
        self._cache: dict[int, tuple] = {}
        self.inputs: dict | None = None  # its model and inputs (score.model_record), in the JSON

    # --- data through the model ---------------------------------------------------------------
    def _outputs(self, X) -> tuple:
        key = id(X)
        if key not in self._cache:
            adapter = ModelAdapter(self.model, self.head)
            self._cache[key] = (X, *adapter.extract_labelled(X, self.batch_size, "detector"))
        return self._cache[key][1:]

    def _data(self, X, kind: str):
        """X as the scorer's ``kind``: itself without a model, else extracted from inputs."""
        if self.model is None or kind == "inputs" or X is None:
            return X
        logits, feats, _ = self._outputs(X)
        return logits if kind == "logits" else check_features(feats)

    def _source(self, X, y, X_val, needs: dict) -> FitSource:
        kinds = ("logits", "features", "inputs")
        val_labels = None
        if self.model is None:
            kind = self.scorer.fit_kind or self.scorer.input_kind
            train, val = {kind: X}, ({} if X_val is None else {kind: X_val})
            if self.scorer.fit_split == "val" and y is not None:
                # a scorer fitted on validation data (temp_scaling) learns from the labelled
                # X, y given to fit(); X_val, unlabelled, only sets the threshold
                val, val_labels = {kind: X}, y
        else:
            train = {k: (lambda k=k: self._data(X, k)) for k in kinds}
            val = {} if X_val is None else {k: (lambda k=k: self._data(X_val, k)) for k in kinds}
            if y is None and X is not None:
                y = lambda: self._outputs(X)[2]  # noqa: E731 - labels of (x, y) batches
        head = needs.get("head")
        if head is None and "weight" in needs:
            head = (needs["weight"], needs.get("bias"))
        if head is None and self.model is not None and "head" in self.scorer.fit_needs:
            head = ModelAdapter(self.model, self.head).head
        return FitSource(
            train=train, train_labels=y, val=val, val_labels=val_labels, head=head,
            model=needs.get("model", self.model), std=needs.get("std"),
            class_weights=needs.get("class_weights"),
        )  # fmt: skip

    # --- scikit-learn API -----------------------------------------------------------------------
    def fit(self, X, y=None, *, X_val=None, **needs) -> Detector:
        """Fit the scorer where it still needs it (on ``X``, ``y`` and ``needs``: ``head`` or
        ``weight``/``bias``, ``model``, ``std``, ``class_weights``), then calibrate the
        threshold on ``X_val`` (held-out ID data; default ``X`` itself, as scikit-learn's
        outlier detectors do: pass ``X_val`` for an unbiased threshold with scorers that learn
        from ``X``, e.g. KNN, whose training points are their own neighbours)."""
        extra = sorted(set(needs) - set(_FIT_KEYWORDS))
        if extra:
            raise InputError(f"Detector.fit() does not take {extra[0]!r}")
        if X is None:
            raise InputError("Detector.fit needs in-distribution data X")
        sc = self.scorer
        fit_kind = sc.fit_kind or sc.input_kind
        refit = not (sc.fitted_ and sc.state_keys)
        if refit and X_val is None and self.model is None and fit_kind != sc.input_kind:
            raise InputError(
                f"{sc.name} learns from {fit_kind} but scores {sc.input_kind}: "
                f"give X_val ({sc.input_kind} to calibrate the threshold on)"
            )
        try:
            if refit:
                fit_scorer(sc, self._source(X, y, X_val, needs))
            cal = X if X_val is None else X_val
            data = self._data(cal, sc.input_kind)
            shape = tuple(data.shape) if hasattr(data, "shape") else np.shape(data)
            if sc.input_kind != "inputs" and sc.n_features_in_ is None and len(shape) == 2:
                sc.n_features_in_ = int(shape[1])
            scores = sc.score(data)
        finally:
            self._cache.clear()
        self.threshold = calibrate_threshold(scores, self.tpr)
        self.n_features_in_ = sc.n_features_in_
        return self

    def _check(self) -> None:
        if self.threshold is None:
            raise InputError("detector has no threshold: call fit(id_data) first")

    def score_samples(self, X) -> np.ndarray:
        """ID-ness scores (higher = more in-distribution)."""
        self._check()
        try:
            return self.scorer.score(self._data(X, self.scorer.input_kind))
        finally:
            self._cache.clear()

    def decision_function(self, X) -> np.ndarray:
        """score - threshold: >= 0 for inliers (ID), < 0 for outliers (OOD)."""
        return self.score_samples(X) - self.threshold

    def predict(self, X) -> np.ndarray:
        """+1 for inliers (ID), -1 for outliers (OOD), scikit-learn's convention."""
        return np.where(self.decision_function(X) >= 0, 1, -1)

    def __repr__(self) -> str:
        return f"Detector({self.scorer!r}, tpr={self.tpr}, threshold={self.threshold})"

    # --- files -------------------------------------------------------------------------------
    def save(self, path) -> object:
        """Write ``path.json`` and ``path.pt`` as a set; returns the JSON path."""
        self._check()
        sc = self.scorer
        meta = {
            "format": io.FORMAT,
            "energy_ood": __version__,
            "scorer": type(sc).name,
            "params": sc.get_params(),
            "input_kind": sc.input_kind,
            "tpr": self.tpr,
            "threshold": self.threshold,
            "n_features_in": sc.n_features_in_,
            "head_name": self.head,
            "convention": CONVENTION,
        }
        if self.inputs is not None:
            meta["inputs"] = self.inputs
        return io.write_pair(path, meta, sc.state_dict())

    @classmethod
    def load(
        cls, path, *, model=None, head=None, device=None, restore: bool = True, **runtime
    ) -> Detector:
        """Load a saved detector. ``model`` (not saved) makes it take model inputs and is
        handed to scorers that run it (ODIN, RankFeat, ...); without one, a detector fitted
        with a model (its ``inputs`` record names a run folder or a model spec) gets that model
        back, on ``device`` (default the CPU), unless ``restore=False``. ``runtime`` passes
        other unsaved constructor arguments."""
        meta, state = io.read_pair(path)
        if model is None and restore and meta.get("inputs"):
            from .model_record import restore_model

            model = restore_model(meta["inputs"], device or "cpu")[0]
        where, state_path = io.pair_paths(path)
        cls_ = scorer_class(meta["scorer"])
        params = meta["params"]
        runtime_keys = set(cls_.runtime_params)
        bad = sorted(runtime_keys & set(params))
        if bad:
            raise InputError(f"{where}: params may not set {bad[0]!r} (given at load time)")
        if meta.get("input_kind") not in (None, cls_.input_kind):
            raise InputError(f"{where}: input_kind {meta['input_kind']!r} is not {cls_.name}'s")
        if model is not None and "model" in runtime_keys:
            runtime = {**runtime, "model": model}
        try:
            scorer = create_scorer(meta["scorer"], **params, **runtime)
        except InputError as e:
            raise InputError(f"{where}: {e}") from e
        try:
            scorer.load_state_dict(state)
        except InputError as e:
            raise InputError(f"{state_path}: {e}") from e
        n = meta.get("n_features_in")
        if n is not None:
            if scorer.n_features_in_ is not None and scorer.n_features_in_ != n:
                raise InputError(
                    f"{where}: n_features_in {n} does not match the fitted state "
                    f"({scorer.n_features_in_})"
                )
            scorer.n_features_in_ = n
        det = cls(scorer, tpr=meta["tpr"], model=model, head=head or meta.get("head_name"))
        det.threshold = float(meta["threshold"])
        det.inputs = meta.get("inputs")
        det.n_features_in_ = scorer.n_features_in_
        return det
