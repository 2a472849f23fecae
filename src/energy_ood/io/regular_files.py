"""Regular files only, read within the byte ceiling (:mod:`.size_limits`).

- :func:`regular_file` / :func:`open_regular`: FIFOs, devices and folders are refused without
  blocking; missing files and permission errors are reported as what they are.
- :func:`read_regular`: all bytes of a regular file, refused above the ceiling.

Bounded decompression is :class:`energy_ood.io.decompress.Stream`; ``.npz`` members are read by
:func:`energy_ood.io.npz.load_npz`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .._validate import InputError
from .size_limits import max_bytes, size_text

READ_CHUNK = 1 << 20

_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFLNK: "a symbolic link",
}


def os_error(path, e: OSError) -> InputError:
    if isinstance(e, (FileNotFoundError, NotADirectoryError)):
        return InputError(f"{path}: no such file")
    if isinstance(e, PermissionError):
        return InputError(f"{path}: permission denied")
    return InputError(f"{path}: cannot read ({e.strerror or e})")


def check_mode(path, st: os.stat_result, what: str = "file") -> os.stat_result:
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path}: is a folder, expected a {what}")
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise InputError(f"{path}: {kind}, expected a regular {what}")
    return st


def regular_file(path, what: str = "file") -> os.stat_result:
    """``os.stat`` of ``path`` if it is a regular file (symlinks followed), else InputError."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise os_error(path, e) from None
    return check_mode(path, st, what)


def open_regular(path, what: str = "file"):
    """Open a regular file for binary reading; a FIFO or device is refused without blocking."""
    regular_file(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise os_error(path, e) from None
    try:
        check_mode(path, os.fstat(fd), what)  # the path may have changed since the stat
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path, what: str = "file", limit: int | None = None) -> bytes:
    """All bytes of a regular file, refused above ``limit`` (default :func:`max_bytes`)."""
    with open_regular(path, what) as f:
        size = os.fstat(f.fileno()).st_size
        cap = max_bytes() if limit is None else limit
        if size > cap:
            raise InputError(f"{path}: {size_text(size)}, above the limit of {size_text(cap)}")
        try:
            parts = [f.read(size)] if size else []  # a buffer sized by the file, not the cap
            got = len(parts[0]) if parts else 0
            while chunk := f.read(min(READ_CHUNK, cap + 1 - got)):  # a file that grew, /proc
                parts.append(chunk)
                got += len(chunk)
                if got > cap:
                    raise InputError(f"{path}: above the limit of {size_text(cap)}")
        except OSError as e:  # an I/O error of the disk
            raise os_error(path, e) from None
        except MemoryError:  # under a memory limit (ulimit -v, a container)
            msg = f"{path}: {size_text(size)}, more than this process can allocate"
            raise InputError(msg) from None
        return parts[0] if len(parts) == 1 else b"".join(parts)  # b"" when empty


def resolve_inside(path: Path, root_real: Path) -> Path | None:
    """``path`` resolved, or None when it resolves outside ``root_real`` (a resolved path)."""
    real = Path(os.path.realpath(path))
    return real if real == root_real or real.is_relative_to(root_real) else None
