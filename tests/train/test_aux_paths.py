"""Auxiliary outliers and OOD test sets from a user's image folders, with their families."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from energy_ood.cli.main import main
from energy_ood.data.ood_sets import load_ood_set
from energy_ood.data.sources import source_info


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("aux")
    rng = np.random.default_rng(0)
    for name in ("aux", "other"):
        (root / name).mkdir()
        for i in range(300):
            a = (rng.random((20, 16, 3)) * 255).astype(np.uint8)
            Image.fromarray(a).save(root / name / f"{i}.png")
    base = root / "base"
    argv = ["--quiet", "train", "--dataset", "digits", "--epochs", "1", "--batch-size", "64"]
    assert main([*argv, "--out", str(base)]) == 0
    return root


def test_a_folder_is_a_family_of_its_own(folders):
    info = source_info(str(folders / "aux"))
    assert info.family == f"path:{(folders / 'aux').resolve()}" and info.kind == "natural"
    x = load_ood_set(str(folders / "aux"), 10, size=8, channels=1, seed=0)
    assert x.shape == (10, 1, 8, 8) and 0 <= float(x.min()) and float(x.max()) <= 1


def test_finetune_with_an_aux_folder(folders, capsys):
    out = folders / "ft"
    argv = ["--quiet", "finetune", "--method", "oe", "--from", str(folders / "base")]
    argv += ["--aux", str(folders / "aux"), "--test-sets", f"gaussian,{folders / 'other'}"]
    assert main([*argv, "--n-aux", "30", "--epochs", "1", "--out", str(out)]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["aux"] == [str(folders / "aux")]
    # the same folder as auxiliary data and as a test set is refused
    argv[argv.index("--test-sets") + 1] = str(folders / "aux")
    assert main([*argv, "--n-aux", "30", "--epochs", "1", "--out", str(folders / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "family" in err


SHARED = Path(os.environ.get("ENERGY_OOD_DATA_ROOT") or "/work/shared/data")


@pytest.mark.slow
@pytest.mark.skipif(
    not (SHARED / "cifar10-jpeg.tar.gz").is_file(), reason="shared CIFAR-10 copy absent"
)
def test_finetune_checks_the_id_family_and_records_the_pool(tmp_path, capsys):
    """Plain `finetune` (no config) refuses auxiliary outliers of the ID data's family, and
    records the pool it drew: families, pictures, and how often each outlier was drawn."""
    base = tmp_path / "base"
    root = ["--data-root", str(SHARED)]
    argv = ["--quiet", "train", "--dataset", "cifar10", "--train-limit", "300", *root]
    assert main([*argv, "--epochs", "1", "--batch-size", "64", "--out", str(base)]) == 0
    ft = ["--quiet", "finetune", "--method", "oe", "--from", str(base), *root, "--epochs", "1"]
    ft += ["--batch-size", "64", "--n-aux", "40"]
    assert main([*ft, "--aux", "cifar10-train-grey", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "in-distribution data's family (cifar10)" in err
    assert main([*ft, "--aux", "scenes-aux,sklearn-photos", "--out", str(tmp_path / "ft")]) == 0
    pool = json.loads((tmp_path / "ft" / "metrics.json").read_text())["aux_pool"]
    assert pool["families"] == ["scikit-image", "scikit-learn-images"] and pool["distinct"]
    assert pool["n_train"] == 40 and pool["n_held_out"] == 256 and pool["n"] == 296
    # 270 training images, batch 64: 5 steps of 256 outliers, 1 epoch
    assert pool["draws"] == 5 * 256 and pool["reuse"] == pytest.approx(5 * 256 / 40)


def test_aux_outliers_check_the_id_family():
    """The path every fine-tuning takes refuses outliers of the ID data's family and draws
    without the ID classes' pictures (here: digits data under CIFAR-10's name)."""
    import dataclasses

    from energy_ood._validate import InputError
    from energy_ood.data.prepare import prepare_id
    from energy_ood.train.runs import aux_outliers

    data = dataclasses.replace(prepare_id("digits", None, 0), name="cifar10")
    with pytest.raises(InputError, match="in-distribution data's family \\(cifar10\\)"):
        aux_outliers(["cifar10-train-grey"], [], 10, data, 0)
    x, held, rec = aux_outliers(["scenes", "sklearn-photos"], [], 20, data, 0)
    assert x.shape == (20, 1, 8, 8) and len(held) == 256 and rec["n"] == 276
    scenes = next(r for r in rec["sources"] if r["source"] == "scenes")
    assert scenes["left_out"] == {"chelsea": "cat (chelsea)"} and scenes["pictures"] == 4
