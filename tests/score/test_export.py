"""``detect export``: one artifact (TorchScript, torch.export, ONNX) from raw images to logits,
score and OOD flag that reproduces ``detect predict`` outside the package; scorers that cannot
be exported are refused with one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from energy_ood._validate import InputError
from energy_ood.cli.main import main
from energy_ood.score import Detector
from energy_ood.score import export as E


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small run on digits (8x8 grey) and 11 new images at its input size."""
    root = tmp_path_factory.mktemp("export")
    argv = ["--quiet", "train", "--dataset", "digits", "--epochs", "1", "--batch-size", "32"]
    assert main([*argv, "--out", str(root / "run"), "--device", "cpu"]) == 0
    rng = np.random.default_rng(0)
    (root / "new").mkdir()
    from sklearn.datasets import load_digits

    for i, a in enumerate(load_digits().images[:8]):
        Image.fromarray(np.rint(a * 255 / 16).astype(np.uint8)).save(root / "new" / f"d{i}.png")
    for i in range(3):
        a = (rng.random((8, 8)) * 255).astype(np.uint8)
        Image.fromarray(a).save(root / "new" / f"n{i}.png")
    return root


def _images(root) -> torch.Tensor:
    files = sorted((root / "new").glob("*.png"))
    return torch.from_numpy(np.stack([np.asarray(Image.open(f)) for f in files]))[:, None]


@pytest.mark.parametrize("score", ["energy", "knn", "mahalanobis"])
def test_artifacts_reproduce_detect_predict(run, score, tmp_path):
    det = tmp_path / "det"
    argv = ["--quiet", "detect", "fit", "--run-dir", str(run / "run"), "--score", score]
    assert main([*argv, "--out", str(det), "--device", "cpu"]) == 0
    pj = tmp_path / "p.json"
    argv = ["--quiet", "detect", "predict", "--detector", str(det), "--input", str(run / "new")]
    assert main([*argv, "--json", str(pj), "--device", "cpu"]) == 0
    want = json.loads(pj.read_text())
    flags = np.array(want["labels"]) < 0
    x = _images(run)
    formats = ["torchscript", "export"]
    try:
        import onnxruntime  # noqa: F401

        formats.append("onnx")
    except ImportError:
        pass
    for fmt in formats:
        argv = ["--quiet", "detect", "export", "--detector", str(det), "--format", fmt]
        assert main(argv) == 0
        path = tmp_path / f"det{E.SUFFIX[fmt]}"
        lo, s, flag = E.run_artifact(path, fmt, x)
        assert lo.shape == (11, 10) and s.dtype == np.float32 and flag.dtype == bool
        np.testing.assert_allclose(s, want["scores"], rtol=1e-5, atol=1e-5)  # float32
        assert np.array_equal(flag, flags), fmt
        assert main(argv) == 2  # an existing artifact is kept unless --overwrite
    # float input in [0, 1]
    argv = ["--quiet", "detect", "export", "--detector", str(det), "--format", "export"]
    out = tmp_path / "f.pt2"
    assert main([*argv, "--input-dtype", "float32", "--out", str(out)]) == 0
    _, s, flag = E.run_artifact(out, "export", x.float() / 255)
    np.testing.assert_allclose(s, want["scores"], rtol=1e-5, atol=1e-5)
    assert np.array_equal(flag, flags)


def test_refusals(run, tmp_path, capsys):
    det = tmp_path / "odin"
    argv = ["--quiet", "detect", "fit", "--run-dir", str(run / "run"), "--score", "odin"]
    assert main([*argv, "--out", str(det), "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["--quiet", "detect", "export", "--detector", str(det), "--format", "export"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "odin perturbs each input along its gradient" in err[0]
    assert not (tmp_path / "odin.pt2").exists()
    # a bank too big for one ONNX file (the limit lowered to show the line)
    knn = tmp_path / "knn"
    argv = ["--quiet", "detect", "fit", "--run-dir", str(run / "run"), "--score", "knn"]
    assert main([*argv, "--out", str(knn), "--device", "cpu"]) == 0
    from energy_ood.models.checkpoint import load_model_from_checkpoint

    model, _ = load_model_from_checkpoint(run / "run" / "checkpoint.pt")
    d = Detector.load(knn, model=model)
    old, E.ONNX_CONSTANT_LIMIT = E.ONNX_CONSTANT_LIMIT, 1000
    try:
        with pytest.raises(InputError, match="an ONNX file holds at most 2 GiB"):
            E.export_detector(d, "onnx", tmp_path / "k.onnx", preprocess=None)
    finally:
        E.ONNX_CONSTANT_LIMIT = old
    # a detector fitted on arrays holds no model
    np.save(tmp_path / "val.npy", np.random.default_rng(0).normal(size=(50, 10)))
    assert main(["--quiet", "detect", "fit", "--val", str(tmp_path / "val.npy"), "--out",
                 str(tmp_path / "arr")]) == 0  # fmt: skip
    assert main(["--quiet", "detect", "export", "--detector", str(tmp_path / "arr"),
                 "--format", "export"]) == 2  # fmt: skip
    assert "holds no model" in capsys.readouterr().err
