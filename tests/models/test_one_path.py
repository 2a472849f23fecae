"""One preprocessing path: the same model and image files give bit-identical inputs (and so the
same logits) through every door: ``extract`` / ``detect`` on the command line (data sets, OOD
paths, detectors) and ``lm.model(lm.preprocess(images))`` in Python."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from energy_ood.cli.main import main
from energy_ood.data.for_model import prepare_for_model
from energy_ood.models import load_model
from energy_ood.score import Detector


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """digits as 24x24 RGB PNGs in train/ and test/ class folders, and a flat folder of new
    images of another, non-square size."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("one_path")
    d = load_digits()
    for split, sl in (("train", slice(0, 300)), ("test", slice(1700, 1797))):
        for i, (a, c) in enumerate(zip(d.images[sl], d.target[sl])):
            im = np.rint(a * (255 / 16)).astype(np.uint8).repeat(3, 0).repeat(3, 1)
            p = root / "id" / split / f"c{c}"
            p.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.stack([im, im // 2, im], -1)).save(p / f"{i:04d}.png")
    rng = np.random.default_rng(0)
    (root / "new").mkdir()
    for i in range(9):
        Image.fromarray((rng.random((30, 26, 3)) * 255).astype(np.uint8)).save(
            root / "new" / f"{i}.png"
        )
    return root


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("prog") / "net.pt2"
    batch = torch.export.Dim("batch", min=1)
    ep = torch.export.export(Net().eval(), (torch.rand(2, 3, 24, 24),),
                             dynamic_shapes={"x": {0: batch}})  # fmt: skip
    torch.export.save(ep, str(path))
    return path


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.png"))


def _plain(lm, files) -> np.ndarray:
    with torch.no_grad():
        return lm.model(lm.preprocess([Image.open(p) for p in files])).numpy()


def _extract(tmp_path, new: Path, *source) -> dict:
    out = tmp_path / "f.npz"
    sets = ["--set", "id=test", "--set", f"new={new}"]
    argv = ["--quiet", "extract", *source, *sets, "--out", str(out), "--device", "cpu"]
    assert main(argv) == 0
    return dict(np.load(out))


@pytest.mark.parametrize("normalize", [None, "0.4,0.2"])
def test_program_extract_equals_plain_forward(folder, program, tmp_path, normalize):
    extra = [] if normalize is None else ["--normalize", normalize]
    z = _extract(
        tmp_path, folder / "new", "--model", str(program), "--dataset", str(folder / "id"), *extra
    )
    lm = load_model(str(program))
    if normalize is not None:  # the recipe the command used, asked for in Python
        data = prepare_for_model(lm, str(folder / "id"), normalize=normalize)
        assert lm.preprocess.mean == (0.4,) and data.mean == [0.4] * 3
    for name, files in (("id", _files(folder / "id" / "test")), ("new", _files(folder / "new"))):
        np.testing.assert_allclose(z[f"{name}/logits"], _plain(lm, files), rtol=0, atol=1e-5)


def test_inputs_are_bit_identical_through_the_data_path(folder, program):
    """The data path (decode per image in workers, normalise the batch) and lm.preprocess
    (a list of PIL images) give the very same tensors: a program, a torchvision recipe."""
    pytest.importorskip("torchvision")
    tv = load_model("torchvision:resnet18", num_classes=10, input_size=20)
    for lm in (load_model(str(program)), tv):
        data = prepare_for_model(lm, str(folder / "id"))
        x = lm.preprocess([Image.open(p) for p in _files(folder / "id" / "test")])
        assert torch.equal(data.x_test, x), lm.preprocess.source
        new = [Image.open(p) for p in _files(folder / "new")]
        from energy_ood.data.ood_files import load_ood_path

        ood = data.normalize(load_ood_path(folder / "new", None, 0, 3, 0, data.transform))
        assert torch.equal(ood, lm.preprocess(new))


@pytest.mark.slow
def test_run_checkpoint_and_detector_doors(folder, tmp_path):
    """A run of this project: its checkpoint records its geometry and training statistics, so
    load_model(checkpoint).preprocess gives the inputs the run's commands give; a detector
    fitted on the command line scores new images as the Python Detector does."""
    run = tmp_path / "run"
    argv = ["--quiet", "train", "--dataset", str(folder / "id"), "--epochs", "1"]
    assert main([*argv, "--batch-size", "32", "--out", str(run), "--device", "cpu"]) == 0
    z = _extract(tmp_path, folder / "new", "--run-dir", str(run))
    lm = load_model(None, run / "checkpoint.pt")
    assert lm.preprocess.mean is not None and lm.preprocess.interpolation == "pil-bilinear"
    for name, files in (("id", _files(folder / "id" / "test")), ("new", _files(folder / "new"))):
        np.testing.assert_allclose(z[f"{name}/logits"], _plain(lm, files), rtol=0, atol=1e-5)
    det, flags = tmp_path / "det", tmp_path / "flags.csv"
    assert main(["--quiet", "detect", "fit", "--run-dir", str(run), "--score", "energy",
                 "--out", str(det), "--device", "cpu"]) == 0  # fmt: skip
    assert main(["--quiet", "detect", "predict", "--detector", str(det), "--input",
                 str(folder / "new"), "--csv", str(flags), "--device", "cpu"]) == 0  # fmt: skip
    cli = np.array([float(r["score"]) for r in csv.DictReader(open(flags))])
    py = Detector.load(det, model=lm.model)
    x = lm.preprocess([Image.open(p) for p in _files(folder / "new")])
    np.testing.assert_allclose(py.score_samples(x), cli, rtol=0, atol=1e-5)
