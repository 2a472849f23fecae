"""README's engineer walk-through, run as written: its three commands (on an outside torchvision
state dict and on a torch.export program file), its Python block and the shipped detector, on
generated images and random-init models saved to files."""

from __future__ import annotations

import csv
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _block(heading: str, lang: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(heading)
    m = re.compile(rf"```{lang}\n(.*?)```", re.S).search(text, start)
    return m.group(1)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    tv = pytest.importorskip("torchvision")
    import torch
    from PIL import Image
    from sklearn.datasets import load_digits

    d = tmp_path_factory.mktemp("readme")
    digits = load_digits()
    rng = np.random.default_rng(0)
    for i, (a, c) in enumerate(zip(digits.images[:240], digits.target[:240])):
        if c > 2:
            continue
        im = np.rint(a * (255 / 16)).astype(np.uint8).repeat(4, 0).repeat(4, 1)
        (d / "my_images" / f"c{c}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.stack([im] * 3, -1)).save(d / "my_images" / f"c{c}" / f"{i}.png")
    for folder in ("ood_images", "new_images"):
        (d / folder).mkdir()
        for i in range(12):
            a = (rng.random((40, 36, 3)) * 255).astype(np.uint8)
            Image.fromarray(a).save(d / folder / f"{i}.png")
    (d / "frames").mkdir()  # images at the model's input size, for the shipped detector
    for i, (a, _) in enumerate(zip(digits.images[300:306], range(6))):
        im = np.rint(a * (255 / 16)).astype(np.uint8).repeat(28, 0).repeat(28, 1)
        Image.fromarray(np.stack([im, im, rng.integers(0, 255, im.shape, np.uint8)], -1)).save(
            d / "frames" / f"{i}.png"
        )
    torch.manual_seed(0)
    torch.save(tv.models.resnet18(num_classes=3).state_dict(), d / "resnet18.pt")
    return d


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "CI": "true"}


@pytest.mark.slow
def test_the_three_commands(workdir):
    lines = [ln for ln in _block("### From your images and checkpoint", "bash").splitlines()]
    assert len(lines) == 3
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == "energy-ood"
        r = subprocess.run([sys.executable, "-m", "energy_ood", *argv[1:]], cwd=workdir,
                           env=_env(), capture_output=True, text=True)  # fmt: skip
        assert r.returncode == 0, (line, r.stderr[-2000:])
    assert (workdir / "report" / "report.md").is_file()
    assert (workdir / "report" / "results.json").is_file()
    rows = list(csv.DictReader(open(workdir / "flags.csv")))
    assert len(rows) == 12 and set(rows[0]) == {"index", "score", "decision", "label", "is_ood"}


@pytest.mark.slow
def test_the_python_block(workdir):
    code = _block("### The same in Python", "python")
    assert len(code.strip().splitlines()) < 15
    r = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=_env(),
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert (workdir / "det_py.json").is_file()
    labels = r.stdout.splitlines()[0]
    assert labels.startswith("[") and ("-1" in labels or "1" in labels)


@pytest.mark.slow
def test_the_three_commands_on_a_program_file(workdir, tmp_path):
    """README: replace the model and checkpoint by a torch.export file; it records no
    normalisation, so the report says none and why."""
    import torch
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=3).eval()
    batch = torch.export.Dim("batch", min=1)
    ep = torch.export.export(net, (torch.rand(2, 3, 224, 224),), dynamic_shapes={"x": {0: batch}})
    torch.export.save(ep, str(tmp_path / "resnet18.pt2"))
    for name in ("my_images", "ood_images", "new_images"):
        (tmp_path / name).symlink_to(workdir / name)
    lines = _block("### From your images and checkpoint", "bash").splitlines()
    for line in lines:
        line = line.replace("--model torchvision:resnet18 --checkpoint resnet18.pt",
                            "--model resnet18.pt2")  # fmt: skip
        assert "resnet18.pt2" in line or "predict" in line
        argv = shlex.split(line)
        r = subprocess.run([sys.executable, "-m", "energy_ood", *argv[1:]], cwd=tmp_path,
                           env=_env(), capture_output=True, text=True)  # fmt: skip
        assert r.returncode == 0, (line, r.stderr[-2000:])
    report = (tmp_path / "report" / "report.md").read_text()
    assert "normalization: none: inputs are the images in [0, 1], because the model" in report
    assert len(list(csv.DictReader(open(tmp_path / "flags.csv")))) == 12


@pytest.mark.slow
def test_the_shipped_detector(workdir):
    """README's export commands and serving block, run as written (no energy_ood import in
    the block), give detect predict's flags and scores on the same frames."""
    import json

    if not (workdir / "det.json").exists():
        test_the_three_commands(workdir)
    for line in _block("### Ship the detector", "bash").splitlines():
        argv = shlex.split(line)
        r = subprocess.run([sys.executable, "-m", "energy_ood", *argv[1:]], cwd=workdir,
                           env=_env(), capture_output=True, text=True)  # fmt: skip
        assert r.returncode == 0, (line, r.stderr[-2000:])
    argv = ["detect", "predict", "--detector", "det", "--input", "frames", "--json", "p.json"]
    r = subprocess.run([sys.executable, "-m", "energy_ood", *argv], cwd=workdir, env=_env(),
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    want = json.loads((workdir / "p.json").read_text())
    code = _block("### Ship the detector", "python")
    code += "\nnp.save('onnx_score.npy', score); np.save('onnx_flag.npy', is_ood)\n"
    assert "energy_ood" not in code
    env = {**_env(), "PYTHONPATH": ""}
    r = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True,
                       text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    flags = json.loads(r.stdout.splitlines()[0].replace("True", "true").replace("False", "false"))
    assert flags == [lab < 0 for lab in want["labels"]]
    np.testing.assert_allclose(np.load(workdir / "onnx_score.npy"), want["scores"], atol=1e-5)
    assert np.load(workdir / "onnx_flag.npy").tolist() == flags
