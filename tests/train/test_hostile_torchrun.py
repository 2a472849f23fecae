"""Failing starts under torchrun (issue 18), as the user sees them: 2 gloo processes, each rank
prints energy-ood's one line, no traceback of energy-ood's, and torchrun's own failure summary
names that line for every rank (its ``traceback :`` field, read from torchrun's error file).
The refused resume (rank 0 alone reads run.json) is in test_distributed.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SRC = str(Path(__file__).resolve().parents[2] / "src")
TRAIN = ["--quiet", "train", "--epochs", "1", "--batch-size", "32"]


def _env(**extra):
    path = os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path, **extra}


def torchrun(*args, **env) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--standalone", "-m", "energy_ood", *map(str, args)]  # fmt: skip
    return subprocess.run(cmd, env=_env(**env), capture_output=True, text=True, timeout=300)


def ranks_fail_with_one_line(r: subprocess.CompletedProcess, *words) -> str:
    assert r.returncode != 0
    ours = [s for s in r.stderr.splitlines() if s.startswith("energy-ood train: error: ")]
    assert len(ours) == 2, r.stderr[-3000:]  # one line per rank
    for w in words:
        assert all(w in s for s in ours), ours
    assert "energy_ood/" not in r.stderr, r.stderr[-3000:]  # no traceback through our code
    summary = [s.strip() for s in r.stderr.splitlines() if s.strip().startswith("traceback :")]
    assert len(summary) == 2 and all(s.startswith("traceback : energy-ood train: error: ")
                                     for s in summary), summary  # fmt: skip
    return ours[0]


def _bad_images(root: Path) -> Path:
    from PIL import Image

    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (8, 8), 40 * i).save(root / c / f"{i}.png")
    (root / "a" / "3.png").write_bytes(b"not an image at all")
    return root


CASES = {
    "lr nan": (["--dataset", "digits", "--lr", "nan"], ["lr must be a finite number"]),
    "unknown dataset": (["--dataset", "nosuch"], ["unknown data set 'nosuch'"]),
    "out a file": (["--dataset", "digits"], ["exists and is not a folder"]),
    "cuda": (["--dataset", "digits", "--device", "cuda"], ["CUDA is not available"]),
    "bad images": ([], ["3.png", "text named .png"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_failing_start_is_one_line_per_rank(tmp_path, case):
    if case == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    args, words = CASES[case]
    out = tmp_path / "run"
    if case == "out a file":
        out.write_text("my file")
    if case == "bad images":  # decoded in the main process (workers: the readers' suite)
        args = ["--dataset", _bad_images(tmp_path / "imgs")]
    device = [] if case == "cuda" else ["--device", "cpu"]
    r = torchrun(*TRAIN, *args, *device, "--out", out, ENERGY_OOD_WORKERS="0")
    ranks_fail_with_one_line(r, *words)
    if case == "out a file":
        assert out.read_text() == "my file"
    else:
        assert not (out / "checkpoint.pt").exists()


def test_run_dir_is_the_documented_flag():
    """torchrun's own parser takes any ``--run`` for its ``--run-path`` and stops with its
    usage before energy-ood starts; so help and README name ``--run-dir`` only (``--run``
    still works without torchrun)."""
    for cmd in (["evaluate"], ["extract"], ["detect", "fit"], ["detect", "predict"]):
        r = subprocess.run([sys.executable, "-m", "energy_ood", *cmd, "--help"], env=_env(),
                           capture_output=True, text=True, timeout=120)  # fmt: skip
        assert r.returncode == 0 and "--run-dir DIR" in r.stdout, r.stdout
        assert "--run DIR" not in r.stdout and "--run RUN" not in r.stdout
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "evaluate --run " not in readme and "write `--run-dir`" in readme
    r = torchrun("--quiet", "evaluate", "--run", "somewhere", "--ood-set", "gaussian")
    assert r.returncode != 0 and "ambiguous option: --run could match --run-path" in r.stderr
    assert "energy-ood evaluate" not in r.stderr  # torchrun stopped before starting a process
