"""Deployment: a scorer plus a threshold calibrated on ID validation data.

The threshold accepts at least ``tpr`` of the ID validation scores (the first-point rule of
``energy_ood.metrics``): ``predict`` flags an input as OOD when its score is below it. A
detector saves as ``NAME.json`` (scorer name, parameters, threshold) plus ``NAME.pt`` (fitted
tensors only), and loads with ``torch.load(weights_only=True)``: no code is executed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from .._runinfo import atomic_torch_save, atomic_write_json
from .._validate import InputError, as_numpy_1d
from .base import Scorer, create_scorer

FORMAT = "energy-ood-detector/1"


def calibrate_threshold(id_scores, tpr: float = 0.95) -> float:
    """The largest threshold t with mean(id_scores >= t) >= tpr."""
    s = as_numpy_1d(id_scores, "id validation scores")
    if not 0 < tpr <= 1:
        raise InputError(f"tpr must be in (0, 1], got {tpr}")
    k = max(1, math.ceil(tpr * s.size - 1e-9))
    return float(np.partition(s, s.size - k)[s.size - k])


class Detector:
    """``Detector(create_scorer("energy")).fit(id_val)``; ``predict(x) -> (is_ood, score)``."""

    def __init__(self, scorer: Scorer | str, tpr: float = 0.95, **scorer_params):
        self.scorer = create_scorer(scorer, **scorer_params) if isinstance(scorer, str) else scorer
        if not 0 < tpr <= 1:
            raise InputError(f"tpr must be in (0, 1], got {tpr}")
        self.tpr = float(tpr)
        self.threshold: float | None = None

    def fit(self, id_val) -> Detector:
        """Calibrate the threshold on ID validation inputs of the scorer's kind."""
        self.threshold = calibrate_threshold(self.scorer.score(id_val), self.tpr)
        return self

    def predict(self, x) -> tuple[np.ndarray, np.ndarray]:
        """(is_ood boolean flags, ID-ness scores)."""
        if self.threshold is None:
            raise InputError("detector has no threshold: call fit(id_validation_data) first")
        s = self.scorer.score(x)
        return s < self.threshold, s

    def save(self, path: str | Path) -> Path:
        """Write ``path.json`` and ``path.pt``; returns the JSON path."""
        if self.threshold is None:
            raise InputError("detector has no threshold: call fit(...) before save")
        path = Path(path).with_suffix("")
        meta = {
            "format": FORMAT,
            "energy_ood": __version__,
            "scorer": self.scorer.name,
            "params": self.scorer.get_params(),
            "tpr": self.tpr,
            "threshold": self.threshold,
            "flag": "OOD when score < threshold (score = ID-ness)",
        }
        atomic_torch_save(self.scorer.state_dict(), path.with_suffix(".pt"))
        atomic_write_json(path.with_suffix(".json"), meta)
        return path.with_suffix(".json")

    @classmethod
    def load(cls, path: str | Path, **runtime) -> Detector:
        """Load a saved detector; ``runtime`` passes what is not saved (e.g. ``model=``)."""
        path = Path(path).with_suffix("")
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
        except FileNotFoundError:
            raise
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(f"{path.with_suffix('.json')}: unreadable detector file ({e})") from e
        if meta.get("format") != FORMAT:
            raise InputError(f"{path.with_suffix('.json')}: not an energy-ood detector file")
        try:
            state = torch.load(path.with_suffix(".pt"), weights_only=True, map_location="cpu")
        except FileNotFoundError:
            raise
        except Exception as e:
            raise InputError(f"{path.with_suffix('.pt')}: refused to load ({e})") from e
        det = cls(create_scorer(meta["scorer"], **meta["params"], **runtime), tpr=meta["tpr"])
        if state:
            det.scorer.load_state_dict(state)
        det.threshold = float(meta["threshold"])
        return det
