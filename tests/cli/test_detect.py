import csv

import numpy as np
import pytest

from energy_ood.cli.main import main
from energy_ood.score import create_scorer


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 1200)
    feats = rng.normal(0, 1, (1200, 8)) + 3 * np.eye(8)[y]
    w = 2.0 * np.eye(4, 8)  # class c reads feature c
    np.save(tmp_path / "train.npy", feats[:800].astype(np.float32))
    np.save(tmp_path / "labels.npy", y[:800])
    np.save(tmp_path / "val.npy", feats[800:1000].astype(np.float32))
    far = rng.normal(0, 1, (50, 8)) - 4 * np.eye(8)[y[:50]]  # opposite the ID directions
    np.save(tmp_path / "new.npy", np.r_[feats[1000:], far])
    np.savez(tmp_path / "head.npz", weight=w, bias=np.zeros(4))
    np.save(tmp_path / "val_logits.npy", (feats[800:1000] @ w.T).astype(np.float32))
    return tmp_path


def test_fit_then_predict_energy(data, capsys):
    d = data
    assert main(["detect", "fit", "--val", str(d / "val_logits.npy"), "--out", str(d / "det")]) == 0
    assert (d / "det.json").is_file()
    logits = np.load(d / "val_logits.npy")
    assert main(["detect", "predict", "--detector", str(d / "det.json"), "--input",
                 str(d / "val_logits.npy"), "--csv", str(d / "f.csv")]) == 0  # fmt: skip
    rows = list(csv.DictReader(open(d / "f.csv")))
    assert len(rows) == 200
    flagged = sum(int(r["is_ood"]) for r in rows)
    assert flagged <= 10  # 95% of the ID validation inputs are accepted
    want = create_scorer("energy").score(logits)
    assert [float(r["score"]) for r in rows] == pytest.approx(want, rel=1e-6)
    assert "flagged OOD" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra",
    [
        ["--score", "mahalanobis", "--fit", "train.npy", "--labels", "labels.npy"],
        ["--score", "knn", "--k", "5", "--fit", "train.npy"],
        ["--score", "react", "--fit", "train.npy", "--head", "head.npz"],
    ],
)
def test_feature_detectors_flag_far_inputs(data, extra, capsys):
    d = data
    extra = [str(d / a) if a.endswith((".npy", ".npz")) else a for a in extra]
    assert (
        main(["detect", "fit", "--val", str(d / "val.npy"), "--out", str(d / "det"), *extra]) == 0
    )
    assert main(["detect", "predict", "--detector", str(d / "det.json"), "--input",
                 str(d / "new.npy"), "--csv", str(d / "f.csv")]) == 0  # fmt: skip
    flags = np.array([int(r["is_ood"]) for r in csv.DictReader(open(d / "f.csv"))])
    assert flags[:200].mean() < 0.15 and flags[200:].mean() > 0.6


def test_detect_errors(data, capsys):
    d = data
    assert main(["detect", "fit", "--val", str(d / "val.npy"), "--score", "knn",
                 "--out", str(d / "x")]) == 2  # fmt: skip
    assert "needs --fit" in capsys.readouterr().err
    assert main(["detect", "predict", "--detector", str(d / "none.json"),
                 "--input", str(d / "val.npy")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "none.json" in err and len(err.strip().splitlines()) == 1
