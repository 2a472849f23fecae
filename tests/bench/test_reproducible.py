"""Same command + same seed = same numbers: two separate processes run the same tiny benchmark
into two folders, and every number of their results.json is bitwise equal (only the timings,
the start time and the output folder in the command line differ). Threads are pinned: a
different thread count changes float summation order (see the report for by how much)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOML = """
title = "reproducibility"
seeds = [0, 1]
[data]
dataset = "digits"
ood_sets = ["sklearn-photos", "gaussian"]
aux = ["scenes-aux"]
n_ood = 300
[pretrain]
epochs = 2
lr = 0.05
batch_size = 64
[posthoc]
methods = [{ name = "msp" }, { name = "energy" }, { name = "knn", k = 5 },
           { name = "odin", T = 1000.0, eps = 5e-5 }, { name = "mahalanobis" }]
[eval]
n_draws = 3
fit_samples = 500
[finetune]
methods = ["energy"]
epochs = 1
batch_size = 64
aux_batch_size = 128
n_aux = 500
"""
VOLATILE = ("timings", "started", "command")


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


@pytest.mark.slow
def test_two_processes_same_numbers(tmp_path):
    cfg = tmp_path / "r.toml"
    cfg.write_text(TOML)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": src}
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        cmd = [sys.executable, "-m", "energy_ood.cli.main", "--quiet", "bench", str(cfg),
               "--out", str(out)]  # fmt: skip
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=600)
        outs.append(json.loads((out / "results.json").read_text()))
    a, b = (_strip(o) for o in outs)
    assert a["evaluations"] and a["claims"]
    assert a == b
