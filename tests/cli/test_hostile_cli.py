"""Red-team cases of issue 13 that cross commands: each exits 2 with one line naming the
problem (the data, detector, run-folder and config cases have their own suites)."""

from __future__ import annotations

import numpy as np
import pytest

from energy_ood.cli.main import main


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "l10.npy", rng.normal(size=(50, 10)).astype("f4"))
    np.save(tmp_path / "l5.npy", rng.normal(size=(50, 5)).astype("f4"))
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe not utf-8\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "prev").mkdir()
    (tmp_path / "prev" / "results.json").write_text("{}")
    assert main(["detect", "fit", "--val", str(tmp_path / "l10.npy"), "--out",
                 str(tmp_path / "det")]) == 0  # fmt: skip
    return tmp_path


CASES = [
    (["evaluate", "--id", "l10.npy", "--ood", "a=l10.npy", "--json", "adir"], "is a folder"),
    (["evaluate", "--id", "l10.npy", "--ood", "a=l10.npy", "--T", "inf"], "T must be finite"),
    (
        ["evaluate", "--id", "l10.npy", "--ood", "a=l10.npy", "--json", "bad.txt"],
        "--json bad.txt: exists; pass --overwrite",
    ),
    (
        ["evaluate", "--id", "l10.npy", "--ood", "a=l10.npy", "--save-scores", "l5.npy"],
        "--save-scores l5.npy: exists; pass --overwrite",
    ),
    (["detect", "fit", "--val", "l10.npy", "--out", "det"], "det.json: exists"),
    (["evaluate", "--id", "l10.npy", "--ood", "a=l5.npy"], "5"),
    (["detect", "predict", "--detector", "det.json", "--input", "l5.npy"], "5 columns"),
    (
        ["detect", "predict", "--detector", "det.json", "--input", "l10.npy", "--csv", "adir"],
        "is a folder",
    ),
    (["vlm", "score", "--classes", "a,b", "--texts", "adir"], "is a folder"),
    (["vlm", "score", "--classes", "a,b", "--texts", "bad.txt"], "not UTF-8"),
    (
        ["vlm", "score", "--classes", "a,b", "--texts", "bad.txt", "--out", "prev"],
        "results.json: exists; pass --overwrite",
    ),
    (["train", "--dataset", "digits", "--out", "det.json"], "not a folder"),
    (["bench", "holdout", "--trials", "-1"], "--trials"),
    (["vlm", "bench", "--config", "demo_digits"], "'vlm' configs"),
]


@pytest.mark.parametrize("argv, words", CASES, ids=[" ".join(c[0][:2]) + f" {i}"
                                                    for i, c in enumerate(CASES)])  # fmt: skip
def test_refused_with_one_line(files, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(files)
    capsys.readouterr()
    assert main(["--quiet", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
