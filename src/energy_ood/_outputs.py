"""Outputs: new paths or regular files, never an input of the same command, written atomically.

- :func:`check_new_file` / :func:`check_new_folder`, called before any work: an output is a
  new path, or an existing regular file (folder) replaced only with ``overwrite``; a device
  node, FIFO or socket is never replaced; an output that is, or contains, one of ``inputs``
  (the run, the detector, the data, the config) is refused whatever ``overwrite`` says.
- :func:`atomic_write_bytes` (and the JSON/text/torch variants): a temporary file beside the
  target, then a rename; a failed write (ENOSPC, EFBIG, EIO, ...) is one InputError and
  leaves the old file as it was. Temporary names end in :data:`TMP_SUFFIX`, so a clean-up
  removes only files this package made.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
from pathlib import Path

from ._validate import InputError

TMP_SUFFIX = ".energy-ood.tmp"
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


def _stat(path) -> os.stat_result | None:
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
    lst, st = _lstat(path), _stat(path)
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
    st = _stat(path)
    if st is None and _lstat(path) is not None:
        raise InputError(f"{what}: a symbolic link leading nowhere; remove it or choose another")
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what}: exists and is not a folder")
    if st is not None and any(path.iterdir()) and not overwrite:
        raise InputError(f"{what}: holds files; pass --overwrite to replace it, or choose another")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_error(path, e: OSError) -> InputError:
    return InputError(f"{path}: cannot write ({e.strerror or e}); nothing was written there")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """``data`` at ``path`` as a whole or not at all (a temporary file, fsync, rename)."""
    path = Path(path)
    st = _stat(path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file, not replaced")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise write_error(path, e) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_json(path: str | os.PathLike, obj, default=None) -> None:
    text = json.dumps(obj, indent=2, default=default, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to memory, then :func:`atomic_write_bytes`."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def new_temp_folder(out: Path) -> Path:
    """A temporary folder beside ``out`` (removed by the caller on failure)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=TMP_SUFFIX))
    except OSError as e:
        raise write_error(out, e) from None


def replace_folder(tmp: Path, out: Path) -> None:
    """Put the finished folder ``tmp`` at ``out`` (beside it, same file system): the old
    folder is moved aside first and removed only once the new one is in place."""
    import shutil

    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}{TMP_SUFFIX}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
