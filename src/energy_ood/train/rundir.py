"""Run folders that are never clobbered.

:func:`claim` takes an output folder for one run:

* a folder that holds anything is refused unless ``resume`` (continue the same run) or
  ``overwrite`` (the user asked to replace it) is given; a path that is a file is refused;
* a lock (``.energy-ood.lock``, held with ``flock``, see :mod:`.runlock`) makes a second
  writer fail at once; a lock left by a dead process is taken over, with a note;
* temporary files left by a crash of this package's atomic writers (``.checkpoint.pt.*`` +
  ``TMP_SUFFIX``) are removed; other files, a user's ``.draft.tmp`` included, are left alone
  (and count as content of the folder);
* with ``overwrite`` the files a run writes (checkpoint, run.json, metrics.json, the class
  weights VOS exports) are removed
  first, so a later ``--resume`` cannot pick up the replaced run's checkpoint; files the run did
  not make are left alone.

Inside a torchrun job only rank 0 claims; the other ranks learn the outcome (and raise the same
error) through a broadcast.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._validate import InputError
from ..io.atomic_write import TMP_SUFFIX
from ..runtime import dist
from ..runtime.progress import log
from .runlock import LOCK, HeldLock, take_lock

RUN_FILES = ("checkpoint.pt", "run.json", "metrics.json", "class_weights.npy")


class RunLock:
    """The lock of a claimed folder; :meth:`release` (or leaving the ``with``) removes it."""

    def __init__(self, held: HeldLock | None):
        self.held = held

    @property
    def path(self) -> Path | None:
        return None if self.held is None else self.held.path

    def release(self) -> None:
        if self.held is not None:
            self.held.release()
            self.held = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _own_temp_files(folder: Path) -> list[Path]:
    """Temporary files of this package's atomic writers for the run's own files (never a
    user's ``.draft.tmp``)."""
    return [p for name in RUN_FILES for p in folder.glob(f".{name}.*{TMP_SUFFIX}")]


def _contents(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != LOCK)


def _claim_here(folder: Path, resume: bool, overwrite: bool) -> HeldLock:
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
    lock = take_lock(folder)
    try:
        for tmp in _own_temp_files(folder):
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
        lock.release()
        raise
    return lock


def claim(folder, *, resume: bool = False, overwrite: bool = False) -> RunLock:
    """Claim ``folder`` for one run (see the module docstring); use as a context manager."""
    if resume and overwrite:
        raise InputError(
            "--resume continues the run in --out, --overwrite replaces it: give one of them"
        )
    return RunLock(dist.on_main(_claim_here, Path(folder), resume, overwrite))


def same_folder(a, b) -> bool:
    """True when two paths name the same folder (one may not exist yet)."""
    return Path(a).resolve() == Path(b).resolve()
