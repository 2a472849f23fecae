"""The run lock (issue 18): atomic under races of live writers, never hanging on a FIFO, and a
dead holder's lock taken over. The races run a small helper in two processes (no training)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from energy_ood._validate import InputError
from energy_ood.runtime.progress import set_quiet
from energy_ood.train.rundir import claim
from energy_ood.train.runlock import LOCK

RACES = 300
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _env():
    path = os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path, "CI": "true"}


def _writer(root: str, races: int, barrier, results) -> None:
    """One live writer: for each race, start together with the other, try to claim the folder,
    hold the claim until both have tried, then let go."""
    from energy_ood._validate import InputError as Refused
    from energy_ood.runtime.progress import set_quiet
    from energy_ood.train.rundir import claim as take

    set_quiet(True)
    won = []
    for i in range(races):
        barrier.wait()
        try:
            lock = take(Path(root) / f"r{i}")
        except Refused:
            lock = None
        won.append(lock is not None)
        barrier.wait()  # both have tried: the holder may let go
        if lock is not None:
            lock.release()
    results.put((os.getpid(), won))


def test_two_live_writers_never_both_hold_the_lock(tmp_path):
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), RACES, barrier, results))
             for _ in range(2)]  # fmt: skip
    for p in procs:
        p.start()
    got = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    a, b = got[0][1], got[1][1]
    doubled = [i for i in range(RACES) if a[i] and b[i]]
    nobody = [i for i in range(RACES) if not a[i] and not b[i]]
    assert not doubled, f"both writers held the lock in {len(doubled)} of {RACES} races"
    assert not nobody, f"neither writer got the lock in {len(nobody)} of {RACES} races"
    assert not any((tmp_path / f"r{i}" / LOCK).exists() for i in range(RACES))


_HOLDER = """
import sys, time
from energy_ood.train.rundir import claim
lock = claim(sys.argv[1])
print("holding", flush=True)
time.sleep(120)
"""


def _holder(folder: Path) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder)], env=_env(),
                         stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert p.stdout.readline().strip() == "holding"
    return p


def test_a_live_holder_is_named_and_a_killed_one_is_taken_over(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "run"
    p = _holder(folder)
    try:
        with pytest.raises(
            InputError, match=rf"in use by another energy-ood process \(pid {p.pid}"
        ):
            claim(folder)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert (folder / LOCK).exists()  # left behind by the killed holder
    monkeypatch.delenv("CI", raising=False)
    set_quiet(False)  # an earlier --quiet command of this process would hide the note
    capsys.readouterr()
    with claim(folder):
        pass
    assert f"taking over a stale lock left by pid {p.pid}" in capsys.readouterr().err
    assert not (folder / LOCK).exists()


def test_half_written_lock_of_a_live_writer_is_respected(tmp_path):
    """The holder's flock decides, not the content: an empty lock file (a writer between its
    open and its write) held by a live process keeps others out."""
    import fcntl

    folder = tmp_path / "run"
    folder.mkdir()
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        code = "import sys; from energy_ood.train.rundir import claim; claim(sys.argv[1])"
        r = subprocess.run([sys.executable, "-c", code, str(folder)], env=_env(),
                           capture_output=True, text=True, timeout=120)  # fmt: skip
        assert r.returncode != 0 and "in use by another energy-ood process" in r.stderr
    finally:
        os.close(fd)


@pytest.mark.parametrize("kind", ["fifo", "symlink", "folder"])
def test_anything_but_a_file_in_place_of_the_lock_is_refused_without_hanging(tmp_path, kind):
    out = tmp_path / "run"
    out.mkdir()
    lock = out / LOCK
    if kind == "fifo":
        os.mkfifo(lock)
    elif kind == "symlink":
        lock.symlink_to(tmp_path / "elsewhere")
    else:
        lock.mkdir()
    cmd = [sys.executable, "-m", "energy_ood", "--quiet", "train", "--dataset", "digits",
           "--epochs", "1", "--out", str(out), "--resume"]  # fmt: skip
    t0 = time.monotonic()
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert str(lock) in lines[0] and "remove it" in lines[0], lines[0]
    assert time.monotonic() - t0 < 60
    assert os.path.lexists(lock) and not (out / "checkpoint.pt").exists()
