import csv
import json

import numpy as np
import pytest
import torch

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


def test_any_scorer_with_params_json_and_sklearn_labels(data, capsys):
    import json

    d = data
    fit = ["detect", "fit", "--val", str(d / "val.npy"), "--out", str(d / "det")]
    extra = ["--score", "react+msp", "--fit", str(d / "train.npy"), "--head", str(d / "head.npz")]
    assert main([*fit, *extra, "--param", "percentile=80", "--T", "2"]) == 0
    meta = json.loads((d / "det.json").read_text())
    assert meta["scorer"] == "react" and meta["params"] == {
        "percentile": 80.0, "score": "msp", "T": 2.0
    }  # fmt: skip
    outs = ["--csv", str(d / "f.csv"), "--json", str(d / "f.json")]
    assert main(["detect", "predict", "--detector", str(d / "det.json"), "--input",
                 str(d / "new.npy"), *outs]) == 0  # fmt: skip
    rows = list(csv.DictReader(open(d / "f.csv")))
    res = json.loads((d / "f.json").read_text())
    thr = res["threshold"]
    assert res["n"] == len(rows) == 250 and "+1 inlier" in res["convention"]
    for r, s, lab in zip(rows, res["scores"], res["labels"]):
        assert float(r["score"]) == pytest.approx(s, rel=1e-6)
        assert int(r["label"]) == lab == (1 if s >= thr else -1)
        assert int(r["is_ood"]) == (lab == -1)
        assert float(r["decision"]) == pytest.approx(s - thr, rel=1e-5, abs=1e-6)
    assert res["n_ood"] == sum(int(r["is_ood"]) for r in rows)


def test_scorer_needs_are_named_as_flags(data, capsys):
    d = data
    fit = ["detect", "fit", "--val", str(d / "val.npy"), "--out", str(d / "x")]
    for extra, msg in (
        (["--score", "mahalanobis", "--fit", str(d / "train.npy")], "needs --labels"),
        (["--score", "ash_s"], "needs --head"),
        (["--score", "weighted_ebo"], "needs --class-weights"),
        (["--score", "odin"], "needs --run"),
        (["--score", "nope"], "unknown scorer 'nope'"),
        (["--score", "knn", "--param", "k"], "NAME=VALUE"),
    ):
        assert main([*fit, *extra]) == 2
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1, (extra, err)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder (a CNN trained one epoch on digits) and two .npy batches of its images."""
    from energy_ood.data.prepare import prepare_id

    d = tmp_path_factory.mktemp("detect_run")
    argv = ["--quiet", "train", "--dataset", "digits", "--epochs", "1", "--batch-size", "64"]
    assert main([*argv, "--out", str(d / "run")]) == 0
    data = prepare_id("digits")
    raw = data.x_test * torch.tensor(data.std).view(1, -1, 1, 1)
    raw = raw + torch.tensor(data.mean).view(1, -1, 1, 1)  # back to [0, 1] pixels
    np.save(d / "val.npy", raw[:40].numpy())
    return d


@pytest.mark.parametrize("extra", [["--score", "odin"], ["--score", "knn", "--k", "3"]])
def test_detect_with_a_run_model_on_images(run_dir, extra, capsys):
    import json

    d = run_dir
    run, det = str(d / "run"), str(d / f"det_{extra[1]}")
    assert main(["detect", "fit", "--run-dir", run, "--out", det, *extra]) == 0
    meta = json.loads(open(det + ".json").read())
    assert meta["inputs"]["run_dir"].endswith("run") and len(meta["inputs"]["std"]) == 1
    if meta["scorer"] == "odin":
        assert meta["params"]["std"] == meta["inputs"]["std"]  # eps in pixels: the run's std
    # the detector remembers its model: predict needs only images
    flags_csv = str(d / f"flags_{extra[1]}.csv")  # one per case: an existing file is kept
    assert main(["detect", "predict", "--detector", det + ".json",
                 "--input", str(d / "val.npy"), "--csv", flags_csv]) == 0  # fmt: skip
    flags = [int(r["is_ood"]) for r in csv.DictReader(open(flags_csv))]
    assert len(flags) == 40 and sum(flags) <= 8  # test images: mostly accepted at 95% TPR


def test_detector_load_restores_its_model(run_dir):
    """From Python, Detector.load of a detector fitted with a model gives it back its model (from
    the record of its run folder and inputs): its scores are detect predict's."""
    from energy_ood.score import Detector

    d = run_dir
    det_path, flags_csv = str(d / "det_restore"), str(d / "flags_restore.csv")
    assert main(["--quiet", "detect", "fit", "--run-dir", str(d / "run"), "--score", "energy",
                 "--out", det_path]) == 0  # fmt: skip
    assert main(["--quiet", "detect", "predict", "--detector", det_path, "--input",
                 str(d / "val.npy"), "--csv", flags_csv]) == 0  # fmt: skip
    det = Detector.load(det_path)
    assert det.model is not None and det.inputs["run_dir"].endswith("run")
    mean = torch.tensor(det.inputs["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(det.inputs["std"]).view(1, -1, 1, 1)
    x = (torch.from_numpy(np.load(d / "val.npy")) - mean) / std
    cli = np.array([float(r["score"]) for r in csv.DictReader(open(flags_csv))])
    np.testing.assert_allclose(det.score_samples(x), cli, rtol=1e-5, atol=1e-5)
    assert Detector.load(det_path, restore=False).model is None


def test_detect_never_replaces_files_it_did_not_ask_for(tmp_path, capsys):
    """A detector or a --csv/--json already on disk is kept unless --overwrite (one line, 2)."""
    from energy_ood.cli.main import main

    rng = np.random.default_rng(0)
    np.save(tmp_path / "val.npy", rng.normal(size=(60, 4)).astype("f4"))
    det = tmp_path / "det"
    fit = ["detect", "fit", "--val", str(tmp_path / "val.npy"), "--out", str(det)]
    assert main(fit) == 0
    before = (tmp_path / "det.json").read_bytes()
    assert main([*fit, "--score", "msp"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "det.json: exists; pass --overwrite" in err[0]
    assert (tmp_path / "det.json").read_bytes() == before
    assert main([*fit, "--score", "msp", "--overwrite"]) == 0
    assert json.loads((tmp_path / "det.json").read_text())["scorer"] == "msp"
    mine = tmp_path / "mine.csv"
    mine.write_text("a user's own file\n")
    pred = ["detect", "predict", "--detector", f"{det}.json", "--input", str(tmp_path / "val.npy")]
    assert main([*pred, "--csv", str(mine)]) == 2
    assert "mine.csv: exists; pass --overwrite" in capsys.readouterr().err
    assert mine.read_text() == "a user's own file\n"
    assert main([*pred, "--csv", str(mine), "--overwrite"]) == 0
    assert mine.read_text().startswith("index,score,decision")
