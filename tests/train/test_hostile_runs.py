"""Run folders are never clobbered and bad training input is refused at the door: every case
exits 2 with one line naming the problem (issue 13's red-team reproducers for training)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from energy_ood.cli.main import main
from energy_ood.io.atomic_write import TMP_SUFFIX

TRAIN = ["--quiet", "train", "--dataset", "digits", "--epochs", "1", "--batch-size", "64"]


def run_cli(argv, capsys):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "base"
    assert main([*TRAIN, "--out", str(out), "--device", "cpu"]) == 0
    return out


def _expect_error(argv, capsys, *words):
    code, err = run_cli(argv, capsys)
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_finished_run_is_not_replaced(base, capsys):
    before = _snapshot(base)
    _expect_error([*TRAIN, "--out", base], capsys, "holds", "--resume", "--overwrite")
    assert _snapshot(base) == before


def test_folder_with_a_users_files_is_refused(tmp_path, capsys):
    (tmp_path / "metrics.json").write_text('{"mine": 1}')
    _expect_error([*TRAIN, "--out", tmp_path], capsys, "holds 1 file")
    assert (tmp_path / "metrics.json").read_text() == '{"mine": 1}'


def test_overwrite_replaces_only_the_runs_files(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    (out / "checkpoint.pt").write_bytes(b"old")
    code, _ = run_cli([*TRAIN, "--out", out, "--overwrite"], capsys)
    assert code == 0
    assert (out / "notes.txt").read_text() == "keep me"
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 0


def test_finetune_into_its_own_base_is_refused(base, capsys):
    before = _snapshot(base)
    argv = ["--quiet", "finetune", "--method", "oe", "--from", base, "--aux", "gaussian"]
    _expect_error([*argv, "--out", base, "--overwrite"], capsys, "is the input --from")
    assert _snapshot(base) == before


def test_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    _expect_error([*TRAIN, "--out", f], capsys, "not a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_says_permission(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    _expect_error([*TRAIN, "--out", ro / "run"], capsys, "permission denied")


def test_proc_out_is_a_clean_error(capsys):
    _expect_error([*TRAIN, "--out", "/proc/energy-ood-run"], capsys, "/proc/energy-ood-run")


def test_a_second_writer_fails_at_once(tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = {"pid": holder.pid, "host": socket.gethostname(), "started": 0}
        (out / ".energy-ood.lock").write_text(json.dumps(lock))
        _expect_error([*TRAIN, "--out", out], capsys, "in use by another", str(holder.pid))
    finally:
        holder.kill()
        holder.wait()


def test_stale_lock_and_temporary_files_are_taken_over(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CI", raising=False)  # CI=true would silence the note
    out = tmp_path / "stale"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ".energy-ood.lock").write_text(
        json.dumps({"pid": dead.pid, "host": socket.gethostname()})
    )
    (out / f".checkpoint.pt.abc{TMP_SUFFIX}").write_bytes(b"half a checkpoint")
    code = main([*TRAIN[1:], "--out", str(out)])  # not quiet: the note is printed
    err = capsys.readouterr().err
    assert code == 0, err
    assert "stale lock" in err
    assert not list(out.glob(f"*{TMP_SUFFIX}")) and not (out / ".energy-ood.lock").exists()


@pytest.mark.parametrize(
    "change, field",
    [
        (["--dataset", "fashion-mnist"], "dataset"),
        (["--train-limit", "500"], "train_limit"),
        (["--amp", "bf16"], "train.amp"),
        (["--seed", "5"], "train.seed"),
        (["--lr", "0.05"], "train.lr"),
    ],
)
def test_resume_refuses_another_run(base, capsys, change, field):
    argv = [*TRAIN, "--out", base, "--resume", *change]
    _expect_error(argv, capsys, "cannot resume", field)


@pytest.mark.parametrize(
    "content, words",
    [
        (b"{not json", ["not a valid run.json (invalid JSON"]),
        (b"\xff\xfe\x00garbage", ["run.json: not UTF-8"]),
        (b'{"config": {}}', ["not an energy-ood run.json"]),
        (b"[1, 2]", ["not an energy-ood run.json"]),
    ],
)
def test_bad_run_json(base, tmp_path, capsys, content, words):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes((base / "checkpoint.pt").read_bytes())
    (run / "run.json").write_bytes(content)
    _expect_error(
        ["--quiet", "evaluate", "--run-dir", run, "--ood-set", "gaussian"], capsys, *words
    )


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", ["refused to load checkpoint"]),
        (b"PK\x03\x04truncated", ["refused to load checkpoint"]),
    ],
)
def test_bad_checkpoint(base, tmp_path, capsys, content, words):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_bytes((base / "run.json").read_bytes())
    (run / "checkpoint.pt").write_bytes(content)
    _expect_error(
        ["--quiet", "evaluate", "--run-dir", run, "--ood-set", "gaussian"], capsys, *words
    )


def test_checkpoint_of_another_class_count(base, tmp_path, capsys):
    from energy_ood.models import create_model

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_bytes((base / "run.json").read_bytes())
    m = create_model("cnn", num_classes=5, in_channels=1)
    torch.save({"model": m.state_dict(), "arch": m.arch_config()}, run / "checkpoint.pt")
    argv = ["--quiet", "evaluate", "--run-dir", run, "--ood-set", "gaussian"]
    _expect_error(argv, capsys, "lists 10 classes", "head has 5 (arch.num_classes)")
    argv = ["--quiet", "finetune", "--method", "oe", "--from", run, "--aux", "gaussian"]
    _expect_error([*argv, "--out", tmp_path / "ft"], capsys, "head has 5")


@pytest.mark.parametrize(
    "option, words",
    [
        (["--epochs", "0"], ["epochs must be an integer >= 1"]),
        (["--lr", "0"], ["lr must be > 0"]),
        (["--lr", "nan"], ["lr must be a finite number"]),
        (["--batch-size", "0"], ["batch_size must be an integer >= 1"]),
        (["--train-limit", "0"], ["--train-limit must be an integer >= 2"]),
        (["--train-limit", "-5"], ["--train-limit must be an integer >= 2"]),
        (["--train-limit", "1"], ["--train-limit must be an integer >= 2"]),
        (["--rotation", "--rotation-lambda", "nan"], ["lam must be a finite number"]),
        (["--seed", "-1"], ["argument --seed: expected an integer in [0, 2^64 - 1]"]),
    ],
)
def test_bad_training_options(tmp_path, capsys, option, words):
    _expect_error([*TRAIN, *option, "--out", tmp_path / "x"], capsys, *words)
    assert not (tmp_path / "x" / "run.json").exists()


@pytest.mark.parametrize("option", [["--m-in", "nan"], ["--lam", "inf"], ["--n-aux", "0"]])
def test_bad_finetune_options(base, tmp_path, capsys, option):
    argv = ["--quiet", "finetune", "--method", "energy", "--from", base, "--aux", "gaussian"]
    _expect_error([*argv, *option, "--out", tmp_path / "ft"], capsys)


def _npz(path, x, y, classes):
    np.savez(path, x=x, y=y, classes=np.array(classes))
    return path


def test_training_label_outside_the_classes(tmp_path, capsys):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images[:200] * 16).astype(np.uint8)
    y = d.target[:200].copy()
    y[3] = 200
    data = _npz(tmp_path / "d.npz", x, y, [str(i) for i in range(10)])
    argv = ["--quiet", "train", "--dataset", data, "--epochs", "1", "--out", tmp_path / "r"]
    _expect_error(argv, capsys, "200")


def test_test_images_of_another_size(tmp_path, capsys):
    from PIL import Image

    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for split, size in (("train", 28), ("test", 32)):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            for i in range(6):
                a = (rng.random((size, size)) * 255).astype(np.uint8)
                Image.fromarray(a).save(root / split / c / f"{i}.png")
    # folders follow the ID transform: the 32x32 test images are resized to 28x28
    argv = ["--quiet", "train", "--dataset", root, "--epochs", "1", "--batch-size", "4"]
    code, err = run_cli([*argv, "--out", tmp_path / "r"], capsys)
    assert code == 0, err
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["data"]["image_size"] == 28 and run["data"]["transform"]["size"] == 28
