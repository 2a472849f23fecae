"""README's training-method commands ("### Training methods"), run as written on digits for one
epoch: the data set, epochs, auxiliary source, OOD sets and data root are swapped for small
local ones (each swap must apply, so the test follows the README), nothing else."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SWAPS = [  # README text -> the small local equivalent
    ("--dataset fashion-mnist", "--dataset digits --batch-size 64"),
    ("--epochs 10", "--epochs 1"),
    ("--aux cifar10-train-grey", "--aux sklearn-photos --n-aux 600"),
    ("--test-sets mnist", "--test-sets gaussian"),
    ("--ood-set mnist", "--ood-set gaussian"),
    (" --data-root ../shared/data", ""),
]


def _block(heading: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    m = re.compile(r"```bash\n(.*?)```", re.S).search(text, text.index(heading))
    return [ln for ln in m.group(1).splitlines() if ln.strip()]


def _run(line: str, cwd: Path) -> subprocess.CompletedProcess:
    argv = shlex.split(line)
    assert argv[0] == "energy-ood", line
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "CI": "true"}
    return subprocess.run([sys.executable, "-m", "energy_ood", *argv[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True)  # fmt: skip


def _swapped(line: str) -> str:
    for a, b in SWAPS:
        line = line.replace(a, b)
    return line


@pytest.mark.slow
def test_the_training_method_commands(tmp_path):
    lines = _block("### Training methods")
    text = "\n".join(lines)
    for a, _ in SWAPS:
        assert a in text, f"README no longer says {a!r}: update SWAPS"
    methods = {shlex.split(ln)[shlex.split(ln).index("--method") + 1] for ln in lines
               if "--method" in ln}  # fmt: skip
    assert {"logitnorm", "vos", "mixoe", "energy-scratch"} <= methods
    base = _block("## For a researcher")[0]  # runs/base, which the fine-tunings start from
    assert "--out runs/base" in base
    for line in [base.replace("--epochs 5", "--epochs 1"), *lines]:
        r = _run(_swapped(line), tmp_path)
        assert r.returncode == 0, (line, r.stderr[-2000:])
    w = np.load(tmp_path / "runs" / "vos" / "class_weights.npy")
    assert w.shape == (10,) and np.isfinite(w).all()
    assert "weighted_ebo" in r.stdout  # evaluate read the VOS run's class weights
    r = _run("energy-ood detect fit --run-dir runs/vos --score weighted_ebo --out det", tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
