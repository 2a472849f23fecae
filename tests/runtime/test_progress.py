"""One switch for every progress bar and status line: ``energy_ood.set_progress``, off by
default under CI=true, from Python as from the CLI."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import energy_ood
from energy_ood.runtime.progress import log, progress
from energy_ood.score import ModelAdapter

SRC = Path(energy_ood.__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _restore():
    before = energy_ood.progress_enabled()
    yield
    energy_ood.set_progress(before)


@pytest.mark.parametrize(("ci", "want"), [("true", "False"), ("1", "False"), ("", "True")])
def test_ci_turns_progress_off_at_import(ci, want):
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(SRC)}
    r = subprocess.run(
        [sys.executable, "-c", "import energy_ood; print(energy_ood.progress_enabled())"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == want


def test_switch_silences_bars_and_status_lines_used_from_python(capsys):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    x = torch.rand(40, 3, 2, 2)
    energy_ood.set_progress(True)
    ModelAdapter(model).extract(x, batch_size=8, desc="extracting")
    log("status line")
    err = capsys.readouterr().err
    assert "extracting" in err and "status line" in err
    energy_ood.set_progress(False)
    assert not energy_ood.progress_enabled()
    logits, feats = ModelAdapter(model).extract(x, batch_size=8, desc="extracting")
    log("status line")
    assert capsys.readouterr().err == ""
    assert logits.shape == (40, 3) and feats.shape == (40, 12)
    assert progress(range(3)).disable


def test_only_rank_zero_prints(monkeypatch, capsys):
    from energy_ood.runtime import progress as P

    monkeypatch.setattr(P, "_ENABLED", True)
    monkeypatch.setenv("RANK", "1")
    P.log("from rank 1")
    assert P.progress(range(3)).disable
    monkeypatch.setenv("RANK", "0")
    P.log("from rank 0")
    assert capsys.readouterr().err == "from rank 0\n"
