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


def _net_and_data():
    from ._cases import inputs_case, map_net

    x, y, ood = inputs_case(0, n=96)
    return map_net(), x, y, ood


def test_sklearn_api_conventions():
    rng = np.random.default_rng(1)
    val = rng.normal(size=(200, 5)) + 3 * np.eye(5)[rng.integers(0, 5, 200)]
    det = Detector("energy", tpr=0.9).fit(val)
    s = det.score_samples(val)
    assert np.array_equal(det.decision_function(val), s - det.threshold)
    pred = det.predict(val)
    assert set(np.unique(pred)) <= {-1, 1}
    assert np.array_equal(pred == 1, s >= det.threshold)
    assert (pred == 1).mean() >= 0.9  # tpr of the calibration data accepted
    assert det.n_features_in_ == 5
    with pytest.raises(InputError, match="4 columns, fitted on 5"):
        det.predict(val[:, :4])


def test_detector_holding_a_model_takes_inputs_and_loaders(tmp_path):
    net, x, y, ood = _net_and_data()
    # KNN on features the detector extracts itself; threshold on held-out inputs
    det = Detector("knn", model=net, k=5, tpr=0.9).fit(x[:64], X_val=x[64:])
    feats = torch.relu(net.conv(x)).mean(dim=(2, 3)).detach()
    ref = create_scorer("knn", k=5).fit(feats[:64])
    assert np.allclose(det.score_samples(x), ref.score(feats), atol=1e-6)
    assert (det.predict(ood) == -1).mean() > 0.9
    # labels come from (x, y) batches of a DataLoader
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=10)
    maha = Detector("mahalanobis", model=net).fit(loader)
    assert np.allclose(
        maha.score_samples(loader),
        create_scorer("mahalanobis").fit(feats, y).score(feats),
        rtol=1e-5,
    )
    # a scorer of inputs gets the detector's model; the head is found in the model
    for name, params in (("odin", {}), ("gradnorm", {}), ("mahalanobis_pre", {})):
        d = Detector(name, model=net, **params).fit(loader, X_val=x)
        assert (d.predict(ood) == -1).mean() > 0.9, name
    d.save(tmp_path / "pre")
    again = Detector.load(tmp_path / "pre", model=net)
    assert np.allclose(again.score_samples(x), d.score_samples(x), rtol=1e-6)


def test_save_is_atomic_and_cleans_stale_temporaries(tmp_path):
    import os
    import time

    from energy_ood.io.atomic_write import TMP_SUFFIX

    det = Detector("energy").fit(np.random.default_rng(0).normal(size=(50, 4)))
    stale = tmp_path / f".det.abc{TMP_SUFFIX}"
    users = tmp_path / ".det.backup.tmp"  # a user's folder, not made by energy-ood: kept
    for d in (stale, users):
        d.mkdir()
        (d / "det.pt").write_bytes(b"half")
        old = time.time() - 3600
        os.utime(d, (old, old))
    fresh = tmp_path / f".det.def{TMP_SUFFIX}"  # another writer's, still in progress: kept
    fresh.mkdir()
    det.save(tmp_path / "det")
    assert not stale.exists() and fresh.exists() and (users / "det.pt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".det.backup.tmp",
        fresh.name,
        "det.json",
        "det.pt",
    ]
    meta = json.loads((tmp_path / "det.json").read_text())
    assert meta["state_sha256"] == hashlib.sha256((tmp_path / "det.pt").read_bytes()).hexdigest()
    assert "+1 inlier" in meta["convention"] and meta["n_features_in"] == 4
