"""run.json and checkpoints read back (issue 18): validated against the typed schema of configs
and against each other, with finite weights; each refusal is exit 2 and one line naming the file
and the field."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from energy_ood.cli.main import main

TRAIN = ["--quiet", "train", "--dataset", "digits", "--epochs", "1", "--batch-size", "64"]


def one_line_error(capsys, argv, *words) -> str:
    capsys.readouterr()
    code = main(["--quiet", *map(str, argv)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    out = tmp_path_factory.mktemp("records") / "base"
    assert main([*TRAIN, "--out", str(out), "--device", "cpu"]) == 0
    return out


def copy_run(base: Path, to: Path, run_json: bytes | None = None, state=None) -> Path:
    to.mkdir()
    (to / "run.json").write_bytes(run_json or (base / "run.json").read_bytes())
    if state is None:
        (to / "checkpoint.pt").write_bytes((base / "checkpoint.pt").read_bytes())
    else:
        torch.save(state, to / "checkpoint.pt")
    return to


def with_field(base: Path, section: str, key: str, value) -> bytes:
    run = json.loads((base / "run.json").read_text())
    where = run["config"] if section == "config" else run["data"]
    if section == "train":
        where = run["config"]["train"]
    where[key] = value
    return json.dumps(run).encode()


def spelt(base: Path, key: str, text: str) -> bytes:
    """run.json with the training seed (or another field) spelt as ``text``."""
    run = json.loads((base / "run.json").read_text())
    run["config"]["train"][key] = "@@"
    return json.dumps(run).replace('"@@"', text).encode()


CASES = [
    (("data", "image_size", 0), "data.image_size: must be >= 1, got 0"),
    (("data", "image_size", "8"), "data.image_size: expected an integer, got a string"),
    (("data", "image_size", 10**6), "data.image_size: must be <= 4096"),
    (("data", "channels", 7), "data.channels: expected one of 1, 3, got an integer 7"),
    (("data", "channels", 3), "data.channels is 3, the checkpoint takes 1-channel"),
    (("data", "classes", ["a", "b", "c"]), "lists 3 classes, the checkpoint's head has 10"),
    (("data", "classes", []), "data.classes: needs at least 1 value"),
    (("data", "dataset", 5), "data.dataset: expected a string"),
    (("config", "train_limit", 0), "config.train_limit: must be >= 2, got 0"),
    (("config", "train_limit", "500"), "config.train_limit: expected an integer, got a string"),
    (("config", "train_limit", 500.5), "config.train_limit: expected an integer, got a number"),
    (("train", "seed", 2**70), "an integer of 22 digits"),
    (("train", "seed", 2**64), "config.train.seed: must be <= 18446744073709551615"),
    (("train", "seed", -1), "config.train.seed: must be >= 0"),
    (("train", "seed", True), "config.train.seed: expected an integer, got a boolean"),
]


@pytest.mark.parametrize("change, words", CASES, ids=[f"{c[0][1]}={c[0][2]!r}"[:40] for c in CASES])
def test_run_json_fields_are_checked(base, tmp_path, capsys, change, words):
    run = copy_run(base, tmp_path / "run", with_field(base, *change))
    argv = ["evaluate", "--run-dir", run, "--ood-set", "gaussian"]
    one_line_error(capsys, argv, "run.json", words)


@pytest.mark.parametrize(
    "text, words",
    [("1" * 100_000, "an integer of 100000 digits"), ("[" * 100_000 + "]" * 100_000, "too deeply")],
    ids=["100000-digit number", "deep nesting"],
)
def test_run_json_numbers_and_nesting_are_bounded(base, tmp_path, capsys, text, words):
    run = copy_run(base, tmp_path / "run", spelt(base, "seed", text))
    one_line_error(capsys, ["evaluate", "--run-dir", run, "--ood-set", "gaussian"],
                   "run.json", words)  # fmt: skip
    ft = ["finetune", "--method", "oe", "--from", run, "--aux", "gaussian"]
    one_line_error(capsys, [*ft, "--out", tmp_path / "ft"], "run.json", words)


def _nan_state(base: Path) -> dict:
    ck = torch.load(base / "checkpoint.pt", weights_only=True)
    key = next(k for k, v in ck["model"].items() if v.is_floating_point())
    ck["model"][key] = ck["model"][key].clone()
    ck["model"][key].view(-1)[0] = float("nan")
    return ck


def test_nan_weights_are_refused(base, tmp_path, capsys):
    run = copy_run(base, tmp_path / "run", state=_nan_state(base))
    words = ("checkpoint.pt", "holds 1 non-finite value(s)")
    one_line_error(capsys, ["extract", "--run-dir", run, "--set", "id=test", "--out",
                            tmp_path / "f.npz"], *words)  # fmt: skip
    assert not (tmp_path / "f.npz").exists()
    ft = ["finetune", "--method", "energy", "--from", run, "--aux", "gaussian"]
    one_line_error(capsys, [*ft, "--out", tmp_path / "ft"], *words)
    one_line_error(capsys, ["evaluate", "--run-dir", run, "--ood-set", "gaussian"], *words)


class NotATensor:  # pickled by reference: loading it would need this class, i.e. code
    pass


def test_weights_only_refusal_is_one_short_line(base, tmp_path, capsys):
    ck = torch.load(base / "checkpoint.pt", weights_only=True)
    ck["extra"] = NotATensor()
    run = copy_run(base, tmp_path / "run", state=ck)
    argv = ["evaluate", "--run-dir", run, "--ood-set", "gaussian"]
    err = one_line_error(capsys, argv, "refused to load checkpoint", "NotATensor", "weights_only")
    assert len(err) < 300 and "add_safe_globals" not in err


def test_a_fifo_checkpoint_is_named_as_one(base, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_bytes((base / "run.json").read_bytes())
    os.mkfifo(run / "checkpoint.pt")
    err = one_line_error(capsys, ["evaluate", "--run-dir", run, "--ood-set", "gaussian"],
                         "checkpoint.pt: a FIFO")  # fmt: skip
    assert "no checkpoint here" not in err


def test_a_refused_resume_names_the_changed_field(base, tmp_path, capsys):
    run = tmp_path / "run"
    for f in ("run.json", "checkpoint.pt", "metrics.json"):
        (run / f).parent.mkdir(exist_ok=True)
        (run / f).write_bytes((base / f).read_bytes())
    err = one_line_error(capsys, [*TRAIN, "--model", "allconv", "--out", run, "--resume"],
                         "cannot resume, arch.name was 'cnn' and is now 'allconv'")  # fmt: skip
    assert "{" not in err and len(err) < 400


def test_resume_with_overwrite_is_refused(base, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_bytes((base / "run.json").read_bytes())
    before = (run / "run.json").read_bytes()
    one_line_error(capsys, [*TRAIN, "--out", run, "--resume", "--overwrite"],
                   "--resume", "--overwrite", "give one of them")  # fmt: skip
    assert (run / "run.json").read_bytes() == before


def test_npz_with_thousands_of_keys_is_not_listed_whole(tmp_path, capsys):
    np.savez(tmp_path / "many.npz", **{f"k{i}": np.zeros(3) for i in range(5000)})
    np.save(tmp_path / "l.npy", np.zeros((4, 3), "f4"))
    err = one_line_error(capsys, ["evaluate", "--id", tmp_path / "many.npz", "--ood",
                                  f"a={tmp_path / 'l.npy'}"], "5000 arrays")  # fmt: skip
    assert len(err) < 400
