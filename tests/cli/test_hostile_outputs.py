"""Outputs never replace inputs, are new paths or regular files, and fail loudly (issue 18's
"work lost" and "writes fail loudly" cases). Each case exits 2 with one line naming the path and
the problem, and leaves every file the command did not create as it was."""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from energy_ood.cli.main import main
from energy_ood.io.atomic_write import TMP_SUFFIX

SRC = str(Path(__file__).resolve().parents[2] / "src")
TRAIN = ["--quiet", "train", "--dataset", "digits", "--epochs", "1", "--batch-size", "64"]


def _env():
    path = os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}


def one_line_error(capsys, argv, *words) -> str:
    capsys.readouterr()
    code = main(["--quiet", *map(str, argv)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


def snapshot(root: Path) -> dict:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("outputs") / "runs" / "base"
    assert main([*TRAIN, "--out", str(out), "--device", "cpu"]) == 0
    return out


@pytest.fixture
def arrays(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "l10.npy", rng.normal(size=(60, 10)).astype("f4"))
    assert main(["--quiet", "detect", "fit", "--val", str(tmp_path / "l10.npy"), "--out",
                 str(tmp_path / "det")]) == 0  # fmt: skip
    return tmp_path


@pytest.mark.parametrize("where", ["run", "parent"])
def test_evaluate_report_never_replaces_the_run(run, capsys, where):
    target = run if where == "run" else run.parent
    before = snapshot(run)
    argv = ["evaluate", "--run-dir", run, "--ood-set", "gaussian", "--report", target]
    word = "is the input --run-dir" if where == "run" else "holds the input --run-dir"
    one_line_error(capsys, [*argv, "--overwrite"], word)
    assert snapshot(run) == before


@pytest.mark.parametrize("flag, suffix", [("--csv", ".json"), ("--json", ".pt")])
def test_detect_predict_never_writes_over_its_detector(arrays, capsys, flag, suffix):
    before = snapshot(arrays)
    argv = ["detect", "predict", "--detector", arrays / "det.json", "--input", arrays / "l10.npy"]
    one_line_error(capsys, [*argv, flag, arrays / f"det{suffix}", "--overwrite"],
                   "is the input --detector")  # fmt: skip
    assert snapshot(arrays) == before


def test_detect_fit_out_never_an_input(arrays, capsys):
    (arrays / "l10.pt").write_bytes((arrays / "l10.npy").read_bytes())
    before = snapshot(arrays)
    argv = ["detect", "fit", "--val", arrays / "l10.pt", "--score", "msp", "--overwrite"]
    one_line_error(capsys, [*argv, "--out", arrays / "l10"], "is the input --val")
    assert snapshot(arrays) == before


def test_names_with_a_dot(arrays, capsys):
    val = arrays / "l10.npy"
    assert main(["--quiet", "detect", "fit", "--val", str(val), "--out", str(arrays / "x2.5")]) == 0
    assert (arrays / "x2.5.json").is_file() and not (arrays / "x2.json").exists()
    before = snapshot(arrays)
    one_line_error(capsys, ["detect", "fit", "--val", val, "--score", "msp", "--out",
                            arrays / "x2.5"], "x2.5.json: exists")  # fmt: skip
    assert snapshot(arrays) == before
    # v1.5.json is its own detector, never v1.json's
    main(["--quiet", "detect", "fit", "--val", str(val), "--score", "msp", "--out",
          str(arrays / "v1")])  # fmt: skip
    main(["--quiet", "detect", "fit", "--val", str(val), "--out", str(arrays / "v1.5")])
    capsys.readouterr()
    for det, scorer in (("v1.5.json", "energy"), ("v1.5", "energy"), ("v1.json", "msp")):
        out = arrays / f"pred-{det}.json"
        argv = ["--quiet", "detect", "predict", "--detector", str(arrays / det), "--input",
                str(val), "--json", str(out)]  # fmt: skip
        assert main(argv) == 0
        assert json.loads(out.read_text())["scorer"] == scorer, det


def test_train_keeps_a_users_temporary_file(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".draft.tmp").write_text("my notes")
    one_line_error(capsys, [*TRAIN, "--out", out], "holds 1 file", ".draft.tmp")
    assert (out / ".draft.tmp").read_text() == "my notes"
    assert sorted(p.name for p in out.iterdir()) == [".draft.tmp"]


def test_outputs_are_new_paths_or_regular_files(arrays, capsys):
    fifo = arrays / "pipe"
    os.mkfifo(fifo)
    base = ["evaluate", "--id", arrays / "l10.npy", "--ood", f"a={arrays / 'l10.npy'}"]
    for target, word in ((fifo, "a FIFO"), ("/dev/full", "a device"), ("/dev/null", "a device")):
        one_line_error(capsys, [*base, "--json", target, "--overwrite"], str(target), word)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)
    link = arrays / "dangling.json"
    link.symlink_to(arrays / "nowhere" / "x.json")
    one_line_error(capsys, [*base, "--json", link, "--overwrite"], "leading nowhere")
    argv = ["detect", "predict", "--detector", arrays / "det.json", "--input", arrays / "l10.npy"]
    one_line_error(capsys, [*argv, "--csv", fifo, "--overwrite"], "a FIFO")


def test_every_command_refuses_an_output_holding_an_input(run, tmp_path, capsys):
    data = tmp_path / "d" / "l10.npy"
    data.parent.mkdir()
    np.save(data, np.zeros((5, 10), "f4"))
    cfg = tmp_path / "c" / "mine.toml"
    cfg.parent.mkdir()
    cfg.write_text('title = "t"\nseeds = [0]\n[data]\ndataset = "digits"\nood_sets = ["gaussian"]'
                   '\naux = ["scenes-aux"]\n[finetune]\nmethods = ["oe"]\n')  # fmt: skip
    texts = tmp_path / "t" / "id.txt"
    texts.parent.mkdir()
    texts.write_text("a cat\n")
    before = snapshot(tmp_path)
    cases = [
        (["extract", "--run-dir", run, "--set", "id=test", "--out", run, "--overwrite"],
         "is the input --run-dir"),
        (["extract", "--run-dir", run, "--set", f"mine={data}", "--out", data.parent,
          "--overwrite"], "holds the input --set"),
        ([*TRAIN[1:], "--out", run.parent, "--overwrite", "--data-root", run], "holds the input"),
        (["finetune", "--method", "oe", "--from", run, "--aux", "gaussian", "--out",
          run.parent], "holds the input --from"),
        (["bench", cfg, "--out", cfg.parent], "holds the input (the config)"),
        (["demo", "--config", cfg, "--out", cfg.parent], "holds the input (the config)"),
        (["vlm", "score", "--classes", "cat,dog", "--texts", texts, "--out", texts.parent,
          "--overwrite"], "holds the input --texts"),
    ]  # fmt: skip
    for argv, word in cases:
        one_line_error(capsys, argv, word)
    assert snapshot(tmp_path) == before


def _limited_fsize(limit: int):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails: EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return pre


@pytest.mark.parametrize("flag", ["--json", "--save-scores"])
def test_a_failed_write_is_one_line_and_leaves_no_half_file(run, tmp_path, flag):
    out = tmp_path / ("out.json" if flag == "--json" else "scores.npz")
    out.write_bytes(b"the old file")
    cmd = [sys.executable, "-m", "energy_ood", "--quiet", "evaluate", "--run-dir", str(run),
           "--ood-set", "gaussian", "--score", "energy", flag, str(out), "--overwrite"]  # fmt: skip
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300,
                       preexec_fn=_limited_fsize(600))  # fmt: skip
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert str(out) in lines[0] and "nothing was written" in lines[0], lines[0]
    assert out.read_bytes() == b"the old file"
    assert not list(tmp_path.glob(f"*{TMP_SUFFIX}"))


def test_stdout_on_a_full_disk_is_an_error(arrays):
    cmd = [sys.executable, "-m", "energy_ood", "detect", "predict", "--detector",
           str(arrays / "det.json"), "--input", str(arrays / "l10.npy")]  # fmt: skip
    with open("/dev/full", "w") as full:
        r = subprocess.run(cmd, env=_env(), stdout=full, stderr=subprocess.PIPE, text=True,
                           timeout=300)  # fmt: skip
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "stdout: cannot write (No space left on device)" in lines[0]


def test_evaluate_json_on_dev_full_without_overwrite(arrays, capsys):
    base = ["evaluate", "--id", arrays / "l10.npy", "--ood", f"a={arrays / 'l10.npy'}"]
    one_line_error(capsys, [*base, "--json", "/dev/full"], "/dev/full: a device")
