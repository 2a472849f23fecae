"""Outputs: new paths or regular files, never an input of the same command.

:func:`check_new_file` / :func:`check_new_folder`, called before any work: an output is a new
path, or an existing regular file (folder) replaced only with ``overwrite``; a device node,
FIFO or socket is never replaced; an output that is, or contains, one of ``inputs`` (the run,
the detector, the data, the config) is refused whatever ``overwrite`` says. The writing itself
is :mod:`.atomic_write`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .._validate import InputError

_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
}


def _lstat(path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        if isinstance(e, NotADirectoryError):
            raise InputError(f"{path}: a part of the path is not a folder") from None
        raise InputError(f"{path}: cannot be checked ({e.strerror or e})") from None


def stat_or_none(path) -> os.stat_result | None:
    """``os.stat`` (links followed); None for a missing path or a dangling link."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise InputError(f"{path}: cannot be checked ({e.strerror or e})") from None


def _real(path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def _same(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_inputs(out, inputs, what: str, folder: bool) -> None:
    """Refuse ``out`` when it is one of ``inputs`` (``(flag, path)`` pairs) or, for a folder,
    holds one (links resolved; hard links to the same file count too)."""
    real_out = _real(out)
    for flag, path in inputs:
        if path is None or not os.path.lexists(os.path.expanduser(os.fspath(path))):
            continue
        real_in = _real(path)
        name = f"{flag} {path}".strip()
        if real_in == real_out or _same(out, path):
            raise InputError(
                f"{what}: is the input {name}; an output never replaces an input, "
                "choose another path"
            )
        if folder and real_in.is_relative_to(real_out):
            raise InputError(
                f"{what}: holds the input {name}; an output never contains an input, "
                "choose another path"
            )


def check_new_file(path, overwrite: bool = False, flag: str = "", inputs=()) -> Path:
    """``path`` for a file a command is about to write: a new path, or a regular file replaced
    only with ``overwrite``; never a folder, device, FIFO or socket, never an input."""
    path = Path(path)
    what = f"{flag} {path}" if flag else str(path)
    refuse_inputs(path, inputs, what, folder=False)
    lst, st = _lstat(path), stat_or_none(path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what}: is a folder, expected a file path")
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise InputError(
            f"{what}: {kind}; outputs are written as new files or replace regular files only"
        )
    if lst is not None and st is None:
        raise InputError(f"{what}: a symbolic link leading nowhere; remove it or choose another")
    if lst is not None and not overwrite:
        raise InputError(f"{what}: exists; pass --overwrite to replace it")
    return path


def check_new_folder(path, overwrite: bool = False, flag: str = "", inputs=()) -> Path:
    """``path`` may be written as a new folder: absent, empty, or ``overwrite`` asked for;
    never a file, never an input or a folder holding one."""
    path = Path(path)
    what = f"{flag} {path}" if flag else str(path)
    refuse_inputs(path, inputs, what, folder=True)
    st = stat_or_none(path)
    if st is None and _lstat(path) is not None:
        raise InputError(f"{what}: a symbolic link leading nowhere; remove it or choose another")
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what}: exists and is not a folder")
    if st is not None and any(path.iterdir()) and not overwrite:
        raise InputError(f"{what}: holds files; pass --overwrite to replace it, or choose another")
    return path
