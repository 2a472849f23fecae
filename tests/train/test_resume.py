"""A training job killed with SIGKILL mid-epoch resumes and ends where an uninterrupted run
ends (same final metrics and weights)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from energy_ood._validate import InputError
from energy_ood.models.checkpoint import load_model_from_checkpoint
from energy_ood.train import load_checkpoint

ARGS = [
    "--quiet",
    "train",
    "--dataset",
    "digits",
    "--model",
    "cnn",
    "--epochs",
    "4",
    "--batch-size",
    "16",
    "--lr",
    "0.05",
    "--seed",
    "3",
]


def _cmd(out, *extra):
    return [sys.executable, "-m", "energy_ood.cli.main", *ARGS, "--out", str(out), *extra]


@pytest.mark.slow
def test_sigkill_then_resume_matches(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ref = tmp_path / "ref"
    subprocess.run(_cmd(ref), check=True, env=env, capture_output=True)
    run = tmp_path / "run"
    p = subprocess.Popen(_cmd(run), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck = run / "checkpoint.pt"
    deadline = time.time() + 120
    while not ck.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.005)
    time.sleep(0.05)  # into the next epoch
    assert p.poll() is None, "training finished before it could be killed"
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = load_checkpoint(ck)["epoch"]
    assert done < 3  # killed before the last epoch ended
    assert not (run / "metrics.json").exists()
    subprocess.run(_cmd(run, "--resume"), check=True, env=env, capture_output=True)
    a = json.loads((ref / "metrics.json").read_text())
    b = json.loads((run / "metrics.json").read_text())
    assert a["test_accuracy"] == b["test_accuracy"]
    assert [h["loss"] for h in a["history"]] == pytest.approx([h["loss"] for h in b["history"]])
    ma, _ = load_model_from_checkpoint(ref / "checkpoint.pt")
    mb, _ = load_model_from_checkpoint(run / "checkpoint.pt")
    for (k, va), vb in zip(ma.state_dict().items(), mb.state_dict().values()):
        assert torch.allclose(va.float(), vb.float(), atol=1e-6), k


def test_checkpoint_for_another_architecture_is_refused(tmp_path):
    from energy_ood.models import create_model
    from energy_ood.train import TrainConfig, Trainer
    from energy_ood.train.resume import check_compatible

    m = create_model("cnn", num_classes=10, in_channels=1)
    x, y = torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))
    Trainer(m, TrainConfig(epochs=1, batch_size=16), tmp_path).fit(x, y)
    ck = load_checkpoint(tmp_path / "checkpoint.pt")
    with pytest.raises(InputError, match="num_classes"):
        check_compatible(ck, {**ck["arch"], "num_classes": 5}, None, "ck")
    other = create_model("cnn", num_classes=5, in_channels=1)
    with pytest.raises(InputError, match="num_classes"):
        Trainer(other, TrainConfig(epochs=2, batch_size=16), tmp_path).fit(
            x, torch.randint(0, 5, (32,)), resume=True
        )


def test_untrusted_checkpoint_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"model": Evil(), "arch": {}}, tmp_path / "c.pt")
    with pytest.raises(InputError, match="refused"):
        load_checkpoint(tmp_path / "c.pt")
    (tmp_path / "t.pt").write_bytes((tmp_path / "c.pt").read_bytes()[:50])
    with pytest.raises(InputError, match="refused"):
        load_checkpoint(tmp_path / "t.pt")
