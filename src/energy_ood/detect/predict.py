"""Flag new inputs with a saved detector: its scores (ID-ness), ``decision`` = score -
threshold, ``label`` +1 (ID) / -1 (OOD, scikit-learn's convention) and ``is_ood``.

A detector fitted with a model takes images (its model restored from its record, another run
folder's when ``run_dir`` is given); one fitted on arrays takes arrays of its scorer's kind.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass

import numpy as np

from .._validate import InputError
from ..data import bad_images
from ..data.for_model import model_inputs
from ..data.sources import load_array
from ..score import Detector
from ..score.detector import CONVENTION
from ..score.model_record import restore_model


@dataclass
class Prediction:
    """One row per input: ``index`` (its position in the input; images left out under
    ``--bad-images skip`` keep theirs), score, decision and label."""

    detector: Detector
    scores: np.ndarray
    index: np.ndarray | None = None

    @property
    def decision(self) -> np.ndarray:
        return self.scores - self.detector.threshold

    @property
    def labels(self) -> np.ndarray:
        return np.where(self.decision >= 0, 1, -1)

    def record(self, detector_path) -> dict:
        """What ``detect predict --json`` writes."""
        det, labels = self.detector, self.labels
        return {
            "detector": str(detector_path),
            "scorer": det.scorer.name,
            "params": det.scorer.get_params(),
            "threshold": det.threshold,
            "tpr": det.tpr,
            "convention": CONVENTION,
            "n": int(len(self.scores)),
            "n_ood": int((labels < 0).sum()),
            "scores": self.scores.tolist(),
            "labels": labels.tolist(),
            **({"index": self.index.tolist()} if self.index is not None else {}),
            **({"skipped_images": bad_images.skipped()} if bad_images.skipped() else {}),
        }

    def json_bytes(self, detector_path) -> bytes:
        return json.dumps(self.record(detector_path)).encode()

    def write_csv(self, out=None) -> str | None:
        """The ``index,score,decision,label,is_ood`` rows: written to ``out`` (stdout by
        default), or returned as text with ``out="text"``."""
        buf = io.StringIO(newline="") if out == "text" else (out or sys.stdout)
        w = csv.writer(buf)
        w.writerow(["index", "score", "decision", "label", "is_ood"])
        index = range(len(self.scores)) if self.index is None else self.index
        for i, s, d, lab in zip(index, self.scores, self.decision, self.labels):
            w.writerow([i, f"{s:.9g}", f"{d:.9g}", int(lab), int(lab < 0)])
        if out == "text":
            return buf.getvalue()
        buf.flush()
        return None


def predict(detector_path, inputs_path, runtime, run_dir=None) -> Prediction:
    """The prediction of the detector at ``detector_path`` for the inputs at ``inputs_path``."""
    det = Detector.load(detector_path, restore=False)
    inputs = det.inputs
    if run_dir:  # the detector's model from another place than the one recorded
        inputs = {**(inputs or {}), "run_dir": run_dir}
        inputs.pop("model", None)
    if inputs is not None:
        model, transform, mean, std = restore_model(inputs, runtime.device)
        det = Detector.load(detector_path, model=model)
        x = model_inputs(inputs_path, transform, mean, std, runtime.device)
    else:
        if det.scorer.input_kind == "inputs":
            raise InputError(f"{detector_path}: {det.scorer.name} runs a model: give --run-dir")
        x = load_array(inputs_path, det.scorer.input_kind)
    scores = det.score_samples(x)
    return Prediction(det, scores, getattr(getattr(x, "ds", None), "positions", None))
