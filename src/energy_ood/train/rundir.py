"""Run folders that are never clobbered.

:func:`claim` takes an output folder for one run:

* a folder that holds anything is refused unless ``resume`` (continue the same run) or
  ``overwrite`` (the user asked to replace it) is given; a path that is a file is refused;
* a lock file (``.energy-ood.lock``: pid, host, start time) makes a second writer fail at once;
  a lock left by a dead process on this host is taken over, with a note;
* temporary files left by a crash (``.*.tmp`` of the atomic writers) are removed;
* with ``overwrite`` the files a run writes (checkpoint, run.json, metrics.json) are removed
  first, so a later ``--resume`` cannot pick up the replaced run's checkpoint; files the run did
  not make are left alone.

Inside a torchrun job only rank 0 claims; the other ranks learn the outcome (and raise the same
error) through a broadcast.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from .. import _dist
from .._progress import log
from .._validate import InputError

LOCK = ".energy-ood.lock"
RUN_FILES = ("checkpoint.pt", "run.json", "metrics.json")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """The lock of a claimed folder; :meth:`release` (or leaving the ``with``) removes it."""

    def __init__(self, path: Path | None):
        self.path = path

    def release(self) -> None:
        if self.path is not None and _dist.is_main():
            try:
                holder = json.loads(self.path.read_text())
                if holder.get("pid") == os.getpid():
                    self.path.unlink()
            except (OSError, ValueError):
                pass
            self.path = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _take_lock(folder: Path) -> Path:
    lock = folder / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(lock.read_text())
                pid, host = int(holder["pid"]), str(holder["host"])
            except (OSError, ValueError, KeyError, TypeError):
                holder, pid, host = None, None, None
            if holder is not None and (host != me["host"] or _alive(pid)):
                raise InputError(
                    f"{folder}: in use by another energy-ood process (pid {pid} on {host}); "
                    f"wait for it to finish, or remove {lock} if that process is gone"
                ) from None
            what = f"pid {pid} on {host}" if holder else "an unreadable lock"
            log(f"{folder}: taking over a stale lock left by {what}")
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return lock
    raise InputError(f"{folder}: could not take the lock {lock}")


def _contents(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != LOCK)


def _claim_here(folder: Path, resume: bool, overwrite: bool) -> Path:
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder; choose another --out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        raise InputError(f"{folder}: permission denied (cannot create the run folder)") from None
    except OSError as e:
        raise InputError(f"{folder}: cannot create the run folder ({e.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{folder}: permission denied (the run folder is not writable)")
    lock = _take_lock(folder)
    try:
        for tmp in folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
            log(f"{folder}: removed {tmp.name}, left by an interrupted write")
        held = _contents(folder)
        if overwrite:
            for name in RUN_FILES:
                (folder / name).unlink(missing_ok=True)
        elif held and not resume:
            raise InputError(
                f"{folder}: holds {len(held)} file(s) ({', '.join(held[:3])}"
                f"{', ...' if len(held) > 3 else ''}); pass --resume to continue this run "
                "or --overwrite to replace it"
            )
        elif held and resume and not (folder / "run.json").is_file():
            raise InputError(
                f"{folder}: --resume given but this is not a run folder (no run.json); "
                "choose an empty --out"
            )
    except BaseException:
        lock.unlink(missing_ok=True)
        raise
    return lock


def claim(folder, *, resume: bool = False, overwrite: bool = False) -> RunLock:
    """Claim ``folder`` for one run (see the module docstring); use as a context manager."""
    return RunLock(_dist.on_main(_claim_here, Path(folder), resume, overwrite))


def same_folder(a, b) -> bool:
    """True when two paths name the same folder (one may not exist yet)."""
    return Path(a).resolve() == Path(b).resolve()
