"""Auxiliary outliers and OOD test sets from a user's image folders, with their families."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from energy_ood.cli.main import main
from energy_ood.data.ood_sets import load_ood_set, source_info


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
