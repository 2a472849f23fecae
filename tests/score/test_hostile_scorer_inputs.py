"""What detectors and scorers are given (issue 18): labels, logits with -inf, images for a
detector that holds a model, and a one-class data set for a classifier. Each is refused with
exit 2 and one line naming the file and the problem, or gives the documented result."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from energy_ood.cli.main import main


def one_line_error(capsys, argv, *words) -> str:
    capsys.readouterr()
    code = main(["--quiet", *map(str, argv)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


@pytest.fixture
def feats(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    y = np.arange(300) % 3
    np.save("f.npy", (rng.normal(size=(300, 8)) + 3 * np.eye(8)[y]).astype("f4"))
    np.save("y.npy", y)
    np.save("neg.npy", y - 5)
    np.save("bool.npy", y > 0)
    np.save("huge.npy", y * 10**12)
    np.save("frac.npy", y + 0.5)
    logits = (rng.normal(size=(300, 3)) + 4 * np.eye(3)[y]).astype("f4")
    np.save("logits.npy", logits)
    return tmp_path


@pytest.mark.parametrize(
    "labels, words",
    [
        ("neg.npy", "--labels neg.npy: labels must be class indices in 0..999999, got -5..-3"),
        ("bool.npy", "--labels bool.npy: labels must be class indices (integers), got booleans"),
        ("huge.npy", "got 0..2000000000000"),
        ("frac.npy", "--labels frac.npy: labels must be integers"),
    ],
)
def test_mahalanobis_labels(feats, capsys, labels, words):
    fit = ["--score", "mahalanobis", "--fit", "f.npy", "--labels", labels]
    one_line_error(capsys, ["detect", "fit", "--val", "f.npy", *fit, "--out", "d"], words)
    assert not (feats / "d.json").exists()
    one_line_error(capsys, ["evaluate", "--id", "f.npy", "--ood", "o=f.npy", *fit], words)


def test_temp_scaling_is_fitted_from_the_command_line(feats, capsys):
    argv = ["--quiet", "detect", "fit", "--val", "logits.npy", "--score", "temp_scaling",
            "--fit", "logits.npy", "--labels", "y.npy", "--out", "ts"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    state = torch.load(feats / "ts.pt", weights_only=True)
    from energy_ood.score.calibrated import fit_temperature

    want = fit_temperature(torch.from_numpy(np.load("logits.npy")), torch.from_numpy(np.load(
        "y.npy")))  # fmt: skip
    assert float(state["temperature"]) == pytest.approx(want, rel=1e-6)
    assert json.loads((feats / "ts.json").read_text())["scorer"] == "temp_scaling"
    bad = [a if a != "y.npy" else "neg.npy" for a in argv[1:-1]] + ["ts2"]
    one_line_error(capsys, bad, "--labels neg.npy")
    assert not (feats / "ts2.json").exists()


@pytest.mark.parametrize("value", [-np.inf, np.inf, np.nan])
def test_an_id_logit_of_minus_inf_is_refused_as_inf_is(feats, capsys, value):
    x = np.load("logits.npy")
    x[7, 1] = value
    np.save("bad.npy", x)
    for score in ("energy", "msp", "maxlogit", "entropy"):
        argv = ["evaluate", "--id", "bad.npy", "--ood", "o=logits.npy", "--score", score]
        one_line_error(capsys, argv, "bad.npy", "non-finite value(s) (NaN or inf)", "row 7")
    one_line_error(capsys, ["detect", "fit", "--val", "bad.npy", "--out", "d"], "non-finite")


@pytest.fixture(scope="module")
def model_detector(tmp_path_factory):
    root = tmp_path_factory.mktemp("modeldet")
    run = root / "run"
    assert main(["--quiet", "train", "--dataset", "digits", "--epochs", "1", "--out",
                 str(run)]) == 0  # fmt: skip
    assert main(["--quiet", "detect", "fit", "--run-dir", str(run), "--score", "energy",
                 "--out", str(root / "det")]) == 0  # fmt: skip
    return root


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda r: r.random((5, 1, 8, 8)).astype("f4") * 7, "got values in [0"),
        (lambda r: (r.random((5, 1, 8, 8)) * 255).astype("f4"), "divide by 255 first"),
        (lambda r: (r.random((5, 1, 8, 8)) * 255).astype("u1"), "as floats, got uint8"),
        (lambda r: r.random((5, 1, 64, 64)).astype("f4"), "(N, 1, 8, 8) in [0, 1], got shape"),
        (lambda r: r.random((5, 3, 8, 8)).astype("f4"), "got shape (5, 3, 8, 8)"),
        (lambda r: np.full((5, 1, 8, 8), np.nan, "f4"), "320 NaN or inf pixel value(s)"),
    ],
    ids=["pixel 7.0", "floats 0..255", "uint8", "64x64 for 8x8", "3 channels", "NaN"],
)
def test_images_for_a_detector_with_a_model_are_checked(model_detector, tmp_path, capsys, make,
                                                        words):  # fmt: skip
    np.save(tmp_path / "imgs.npy", make(np.random.default_rng(0)))
    argv = ["detect", "predict", "--detector", model_detector / "det.json", "--input",
            tmp_path / "imgs.npy"]  # fmt: skip
    one_line_error(capsys, argv, "imgs.npy", words)


def test_valid_images_are_scored(model_detector, tmp_path, capsys):
    np.save(tmp_path / "imgs.npy", np.random.default_rng(0).random((5, 1, 8, 8)).astype("f4"))
    out = tmp_path / "p.json"
    assert main(["--quiet", "detect", "predict", "--detector", str(model_detector / "det.json"),
                 "--input", str(tmp_path / "imgs.npy"), "--json", str(out)]) == 0  # fmt: skip
    assert json.loads(out.read_text())["n"] == 5


def _folder(root, classes, rng):
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(24):
            a = (rng.random((8, 8)) * (120 if c == "a" else 255)).astype(np.uint8)
            Image.fromarray(a).save(root / c / f"{i}.png")
    return root


def test_a_one_class_folder_for_a_two_class_model_is_refused(tmp_path, capsys):
    rng = np.random.default_rng(0)
    two, one = _folder(tmp_path / "two", "ab", rng), _folder(tmp_path / "one", "a", rng)
    run = tmp_path / "run"
    assert main(["--quiet", "train", "--dataset", str(two), "--epochs", "1", "--out",
                 str(run)]) == 0  # fmt: skip
    src = ["--model", "cnn", "--checkpoint", run / "checkpoint.pt", "--dataset", one]
    words = ("1 class (a), for a 2-class model", "at least 2 class folders")
    one_line_error(capsys, ["evaluate", *src, "--ood-set", "gaussian"], *words)
    one_line_error(capsys, ["detect", "fit", *src, "--score", "mahalanobis", "--out",
                            tmp_path / "d"], *words)  # fmt: skip
    assert not (tmp_path / "d.json").exists()
