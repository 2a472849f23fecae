"""The entry point: --version, --quiet reaching the progress switch, a quiet exit when the
reader of stdout goes away (``| head``)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import energy_ood
from energy_ood.cli.main import EXIT_BROKEN_PIPE, main
from energy_ood.runtime.progress import env_quiet_default

SRC = Path(energy_ood.__file__).resolve().parents[1]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}


def test_version(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"energy-ood {energy_ood.__version__} (torch ")
    assert torch.__version__.split("+")[0] in out
    r = subprocess.run(
        [sys.executable, "-m", "energy_ood.cli.main", "--version"],
        capture_output=True, text=True, env=_env(), timeout=120,
    )  # fmt: skip
    assert r.returncode == 0 and r.stdout.strip() == out


def test_quiet_flag_turns_progress_off(tmp_path, capsys):
    before = energy_ood.progress_enabled()
    np.save(tmp_path / "val.npy", np.random.default_rng(0).normal(size=(50, 4)).astype("f4"))
    try:
        energy_ood.set_progress(True)
        args = ["detect", "fit", "--val", str(tmp_path / "val.npy"), "--out", str(tmp_path / "d")]
        assert main([*args, "--quiet"]) == 0
        assert not energy_ood.progress_enabled()
        assert capsys.readouterr().err == ""
        assert main([*args, "--overwrite"]) == 0
        assert energy_ood.progress_enabled() == (not env_quiet_default())  # on unless CI=true
    finally:
        energy_ood.set_progress(before)


def test_broken_pipe_exits_quietly(tmp_path):
    """``energy-ood detect predict ... | head -n 3``: no traceback, status 141 (SIGPIPE)."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "val.npy", rng.normal(size=(200, 5)).astype("f4"))
    np.save(tmp_path / "new.npy", rng.normal(size=(30000, 5)).astype("f4"))  # ~0.5 MB of CSV
    det = tmp_path / "det"
    assert main(["detect", "fit", "--val", str(tmp_path / "val.npy"), "--out", str(det)]) == 0
    cmd = [sys.executable, "-m", "energy_ood.cli.main", "detect", "predict",
           "--detector", f"{det}.json", "--input", str(tmp_path / "new.npy")]  # fmt: skip
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    head = [p.stdout.readline() for _ in range(3)]
    p.stdout.close()  # the reader goes away, as `head` does
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == EXIT_BROKEN_PIPE == 141
    assert head[0].strip() == b"index,score,decision,label,is_ood"
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception" not in err


def test_help_texts_are_plain(capsys):
    """No reStructuredText markup (double backticks, :func: roles) in any command's help."""
    import argparse

    from energy_ood.cli.main import build_parser

    def parsers(p):
        yield p
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for sub in a.choices.values():
                    yield from parsers(sub)

    for p in parsers(build_parser()):
        text = p.format_help()
        assert "``" not in text and ":func:" not in text, p.prog


def test_a_finished_command_leaves_the_process_group(tmp_path, monkeypatch):
    """Under torchrun every rank destroys its group before exit: a gloo group left for the
    interpreter's teardown can abort a finished run (SIGABRT in one rank, seen in CI)."""
    import socket

    import torch.distributed as tdist

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(port)}  # fmt: skip
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    np.save(tmp_path / "val.npy", np.random.default_rng(0).normal(size=(50, 4)).astype("f4"))
    threads = torch.get_num_threads()
    try:
        args = ["--quiet", "detect", "fit", "--val", str(tmp_path / "val.npy"), "--device",
                "cpu", "--out", str(tmp_path / "d")]  # fmt: skip
        assert main(args) == 0
        assert not tdist.is_initialized()
    finally:
        if tdist.is_initialized():
            tdist.destroy_process_group()
        torch.set_num_threads(threads)
