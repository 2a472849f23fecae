"""README's engineer walk-through, run as written: its three commands and its Python block, on
generated images and a random-init torchvision checkpoint saved to a file."""

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
