import hashlib
import json

import numpy as np
import pytest
import torch

from energy_ood._validate import InputError
from energy_ood.score import Detector, calibrate_threshold, create_scorer


def test_threshold_accepts_tpr():
    s = np.arange(100, dtype=float)
    t = calibrate_threshold(s, 0.95)
    assert t == 5.0 and (s >= t).mean() == 0.95
    assert calibrate_threshold(s, 1.0) == 0.0


def test_detector_predict_save_load(tmp_path):
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(300, 6))
    labels = rng.integers(0, 3, 300)
    sc = create_scorer("mahalanobis").fit(feats, labels)
    det = Detector(sc, tpr=0.9).fit(feats[:100])
    labels_pred, scores = det.predict(feats[:100]), det.score_samples(feats[:100])
    flags = labels_pred == -1
    assert flags.mean() <= 0.1 + 1e-9
    path = det.save(tmp_path / "det")
    meta = json.loads(path.read_text())
    assert meta["scorer"] == "mahalanobis" and meta["threshold"] == det.threshold
    again = Detector.load(tmp_path / "det")
    f2, s2 = again.predict(feats[:100]) == -1, again.score_samples(feats[:100])
    assert (f2 == flags).all() and np.allclose(s2, scores)


def test_load_refuses_pickled_code(tmp_path):
    det = Detector("energy").fit(np.random.default_rng(0).normal(size=(50, 4)))
    det.save(tmp_path / "d")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "d.pt")
    with pytest.raises(InputError, match="sha256 differs"):  # not the state saved with d.json
        Detector.load(tmp_path / "d")
    meta = json.loads((tmp_path / "d.json").read_text())
    meta["state_sha256"] = hashlib.sha256((tmp_path / "d.pt").read_bytes()).hexdigest()
    (tmp_path / "d.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="refused to load"):  # weights_only refuses the code
        Detector.load(tmp_path / "d")


def test_unfitted_errors():
    with pytest.raises(InputError, match="fit"):
        Detector("energy").predict(np.ones((2, 3)))
    with pytest.raises(InputError, match="needs fit"):
        create_scorer("knn").score(np.ones((2, 3)))
