"""scripts/gpu_check.sh --tiny: the GPU check's whole pipeline in seconds on a CPU (CI runs it;
the full script needs CUDA and writes docs/results/cifar10_gpu/)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_tiny_gpu_check_writes_a_report(tmp_path):
    out = tmp_path / "gpu"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    cmd = ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--tiny", "--out", str(out)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert {"report.md", "report.html", "results.json"} <= {p.name for p in out.iterdir()}
    res = json.loads((out / "results.json").read_text())
    methods = {e["spec"]["name"] for e in res["evaluations"] if e["model"] == "pretrained"}
    assert len(methods) >= 24  # every post-hoc scorer of the config ran
    stages = res["timings"]["stages"][0]
    assert {"pretrain_s", "posthoc_s", "finetune_energy_s", "finetune_oe_s"} <= set(stages)
    assert res["timings"]["runtime"]["device"] == "cpu"
    report = (out / "report.md").read_text()
    assert "## Run time" in report and "as many as fit in" in report
    assert "## Training speed" in report
    speed = res["timings"]["speed"][0]["pretrain"]
    assert speed["images_per_s"] > 0 and speed["step_ms_p50"] <= speed["step_ms_p99"]
    assert "seed 0 pretrain:" in r.stdout and "images/s, step p50" in r.stdout


def test_without_cuda_the_full_check_refuses_cleanly(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    env = {**os.environ, "PYTHON": sys.executable}
    r = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--out",
                        str(tmp_path / "x")], env=env, capture_output=True, text=True)  # fmt: skip
    assert r.returncode != 0 and "no CUDA device here" in r.stderr
    assert not (tmp_path / "x").exists()
