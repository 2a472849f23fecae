"""Many processes through torchrun (gloo on the CPU, nccl on CUDA), devices, and their errors.

The CUDA variants run where CUDA exists and skip with a reason elsewhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
TWO_GPUS = pytest.mark.skipif(
    torch.cuda.device_count() < 2, reason="nccl with 2 processes needs 2 CUDA devices"
)
TRAIN = ["--quiet", "train", "--dataset", "digits", "--model", "cnn", "--batch-size", "32"]
EVAL = ["--ood-set", "gaussian,uniform", "--score", "msp,energy,knn,mahalanobis,vim"]


def _env():
    src = str(Path(__file__).resolve().parents[2] / "src")
    path = os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}


def energy_ood(*args, check=True):
    cmd = [sys.executable, "-m", "energy_ood", *map(str, args)]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, check=check)


def torchrun_cmd(nproc: int, *args) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(nproc),
        "--standalone",
        "-m",
        "energy_ood",
        *map(str, args),
    ]


def torchrun(nproc: int, *args):
    cmd = torchrun_cmd(nproc, *args)
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def _weights(run) -> dict:
    return torch.load(Path(run) / "checkpoint.pt", weights_only=True)["model"]


def test_two_process_train_completes(tmp_path):
    out = tmp_path / "ddp"
    r = torchrun(2, *TRAIN, "--epochs", 1, "--device", "cpu", "--out", out)
    assert "test accuracy" in r.stdout
    assert r.stdout.count("test accuracy") == 1  # rank 0 alone prints
    run = json.loads((out / "run.json").read_text())
    assert run["runtime"]["device"] == "cpu" and run["runtime"]["threads"] == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.5 and len(metrics["history"]) == 1
    assert not (out / ".energy-ood.lock").exists()


def test_resume_refusal_reaches_every_process(tmp_path):
    """A --resume whose identity differs is refused on every rank with one line (rank 0 alone
    reads run.json; the others must not wait for it in a collective until torchrun's kill)."""
    out = tmp_path / "ddp"
    torchrun(2, *TRAIN, "--epochs", 1, "--device", "cpu", "--out", out)
    cmd = torchrun_cmd(2, *TRAIN, "--epochs", 1, "--lr", 0.03, "--device", "cpu", "--out", out,
                       "--resume")  # fmt: skip
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
    line = "energy-ood train: error: " + str(out) + ": cannot resume, train.lr was 0.1"
    own = [s for s in r.stderr.splitlines() if s.startswith(line)]
    assert r.returncode != 0 and len(own) == 2  # each rank's own line
    assert r.stderr.count(f"traceback : {line}") == 2  # and torchrun's summary names them


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(c) for c in text]
    return out


@pytest.mark.slow
def test_resume_after_one_rank_is_killed(tmp_path):
    args = [*TRAIN, "--epochs", 3, "--device", "cpu", "--seed", 1]
    ref = tmp_path / "ref"
    torchrun(2, *args, "--out", ref)
    run = tmp_path / "run"
    p = subprocess.Popen(
        torchrun_cmd(2, *args, "--out", run),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ck = run / "checkpoint.pt"
    deadline = time.time() + 120
    while not ck.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.01)
    ranks = _children(p.pid)
    assert p.poll() is None and len(ranks) == 2, "training ended before a rank could be killed"
    os.kill(ranks[1], signal.SIGKILL)  # one rank dies; torchrun stops the other
    assert p.wait(timeout=120) != 0
    assert not (run / "metrics.json").exists()
    r = torchrun(2, *args, "--out", run, "--resume")
    assert "test accuracy" in r.stdout
    a, b = _weights(ref), _weights(run)
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed run differs from an uninterrupted one"
    assert json.loads((run / "run.json").read_text())["resumed"]


def _scores(path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "run"
    energy_ood(*TRAIN, "--epochs", 1, "--device", "cpu", "--out", out)
    return out


def test_two_process_evaluate_gives_the_one_process_scores(trained, tmp_path):
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    common = ["--quiet", "evaluate", "--run-dir", trained, *EVAL, "--device", "cpu"]
    energy_ood(*common, "--threads", 1, "--save-scores", one)
    torchrun(2, *common, "--save-scores", two)
    a, b = _scores(one), _scores(two)
    assert sorted(a) == sorted(b) and len(a) == 15
    for k in a:
        assert np.array_equal(a[k], b[k]), f"{k} differs between 1 and 2 processes"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--device", "cuda"], "CUDA is not available"),
        (["--device", "tpu"], "--device 'tpu'"),
        (["--device", "cpu", "--amp", "fp16"], "--amp fp16 needs a GPU"),
        (["--device", "cpu", "--threads", "0"], "--threads must be an integer >= 1"),
    ],
)
def test_device_errors_are_one_line(tmp_path, args, message):
    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    r = energy_ood(*TRAIN, "--epochs", 1, *args, "--out", tmp_path / "x", check=False)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert not (tmp_path / "x" / "checkpoint.pt").exists()


@CUDA
def test_cuda_train_then_cpu_evaluate(tmp_path):
    """A checkpoint written on a GPU loads on the CPU and scores the same within float
    tolerance; training ran in bf16 with GPU-resident data."""
    out = tmp_path / "gpu"
    energy_ood(*TRAIN, "--epochs", 1, "--device", "cuda", "--out", out)
    run = json.loads((out / "run.json").read_text())
    assert run["runtime"]["device"].startswith("cuda") and run["config"]["train"]["amp"] in (
        "bf16",
        "fp16",
    )
    cpu, gpu = tmp_path / "cpu.npz", tmp_path / "gpu.npz"
    common = ["--quiet", "evaluate", "--run-dir", out, *EVAL, "--amp", "off"]
    energy_ood(*common, "--device", "cpu", "--save-scores", cpu)
    energy_ood(*common, "--device", "cuda", "--save-scores", gpu)
    a, b = _scores(cpu), _scores(gpu)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-3, atol=1e-3, err_msg=k)


@CUDA
def test_cpu_checkpoint_resumes_on_cuda(tmp_path):
    out = tmp_path / "run"
    energy_ood(*TRAIN, "--epochs", 1, "--device", "cpu", "--amp", "off", "--out", out)
    r = energy_ood(
        *TRAIN, "--epochs", 1, "--device", "cuda", "--amp", "off", "--out", out, "--resume"
    )
    assert "test accuracy" in r.stdout


@TWO_GPUS
def test_two_process_nccl_evaluate_matches_one(trained, tmp_path):
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    common = ["--quiet", "evaluate", "--run-dir", trained, *EVAL, "--device", "cuda"]
    energy_ood(*common, "--save-scores", one)
    torchrun(2, *common, "--save-scores", two)
    a, b = _scores(one), _scores(two)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
