"""``energy-ood extract`` and ``evaluate --run-dir --ood NAME=PATH`` on a user's images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from energy_ood.cli.main import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "base"
    argv = ["--quiet", "train", "--dataset", "digits", "--epochs", "1", "--batch-size", "32"]
    assert main([*argv, "--out", str(out), "--device", "cpu"]) == 0
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A flat folder of 15 colour photos-to-be of another size than the 8x8 grey ID data."""
    root = tmp_path_factory.mktemp("ood")
    rng = np.random.default_rng(0)
    for i in range(15):
        a = (rng.random((12, 10, 3)) * 255).astype(np.uint8)
        Image.fromarray(a).save(root / f"{i}.png")
    return root


def test_extract_npz_and_folder_agree(run_dir, images, tmp_path):
    npz, folder = tmp_path / "f.npz", tmp_path / "feats"
    sets = ["--set", "id=test", "--set", "gaussian", "--set", f"mine={images}"]
    assert main(["--quiet", "extract", "--run-dir", str(run_dir), *sets, "--out", str(npz)]) == 0
    argv = ["--quiet", "extract", "--run-dir", str(run_dir), *sets, "--out", str(folder)]
    assert main([*argv, "--chunk", "1", "--batch-size", "16"]) == 0
    z = np.load(npz)
    assert z["mine/logits"].shape == (15, 10) and z["mine/features"].shape[0] == 15
    assert z["id/labels"].shape == (360,) and "gaussian/labels" not in z.files
    for key in ("id/logits", "id/features", "mine/logits"):
        name, kind = key.split("/")
        assert np.array_equal(np.load(folder / f"{name}.{kind}.npy"), z[key])
    # never replaces what exists without --overwrite
    assert main(["--quiet", "extract", "--run-dir", str(run_dir), *sets, "--out", str(npz)]) == 2


def test_evaluate_run_with_an_image_folder(run_dir, images, capsys):
    argv = ["--quiet", "evaluate", "--run-dir", str(run_dir), "--ood", f"mine={images}"]
    assert main([*argv, "--score", "energy,knn"]) == 0
    out = capsys.readouterr().out
    assert "| mine" in out and "knn" in out
