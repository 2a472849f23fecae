"""Regular files only, and the limits every reader checks before it allocates anything.

- :func:`regular_file` / :func:`open_regular`: FIFOs, devices and folders are refused without
  blocking; missing files and permission errors are reported as what they are.
- :func:`max_bytes`: the ceiling for any one array or decompressed stream, from env
  ``ENERGY_OOD_MAX_BYTES`` (bytes, or with a K/M/G/T suffix), else :data:`MAX_BYTES`.
- :func:`max_ratio`: the decompression ratio limit, env ``ENERGY_OOD_MAX_RATIO``, else
  :data:`MAX_RATIO`.

Bounded decompression is :class:`energy_ood._stream.Stream`; ``.npz`` members are read by
:func:`energy_ood._npz.load_npz`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ._validate import InputError

MAX_BYTES = 16 << 30  # 16 GiB
READ_CHUNK = 1 << 20
# Decompressed / compressed size. Deflate (gzip, zip) reaches about 1032 at most, on long runs
# of one byte value, so the limit lies below it and stops zip and gzip bombs as well as bzip2/xz
# ones (whose ratios are unbounded); real data stays far below (sorted label arrays reach
# several hundred, MNIST's files under 10). Memory is bounded by the ceiling and the headers'
# sizes, which are checked before anything is allocated.
MAX_RATIO = 1000
_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFLNK: "a symbolic link",
}


def max_bytes() -> int:
    """The byte ceiling: env ``ENERGY_OOD_MAX_BYTES`` (e.g. ``4G``), else :data:`MAX_BYTES`."""
    env = os.environ.get("ENERGY_OOD_MAX_BYTES", "").strip()
    if not env:
        return MAX_BYTES
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    unit = mult.get(env[-1].upper(), 1)
    try:
        v = int(float(env[:-1] if unit > 1 else env) * unit)
    except ValueError:
        v = 0
    if v < 1:
        raise InputError(f"ENERGY_OOD_MAX_BYTES must be a positive size like 4G, got {env!r}")
    return v


def max_ratio() -> float:
    """Decompression ratio limit: env ``ENERGY_OOD_MAX_RATIO``, else :data:`MAX_RATIO`."""
    env = os.environ.get("ENERGY_OOD_MAX_RATIO", "").strip()
    try:
        v = float(env) if env else float(MAX_RATIO)
    except ValueError:
        v = 0.0
    if not v >= 1:
        raise InputError(f"ENERGY_OOD_MAX_RATIO must be a number >= 1, got {env!r}")
    return v


def size_text(n: int) -> str:
    for unit, k in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << k:
            return f"{n / (1 << k):.3g} {unit}"
    return f"{n} bytes"


def check_bytes(n: int, what: str) -> int:
    """Refuse ``n`` bytes for ``what`` when above :func:`max_bytes`."""
    cap = max_bytes()
    if n > cap:
        raise InputError(
            f"{what}: needs {size_text(n)}, above the limit of {size_text(cap)} "
            "(raise ENERGY_OOD_MAX_BYTES if this is intended)"
        )
    return n


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


def one_line(e: BaseException) -> str:
    """The first line of an exception's message, or its type's name."""
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def resolve_inside(path: Path, root_real: Path) -> Path | None:
    """``path`` resolved, or None when it resolves outside ``root_real`` (a resolved path)."""
    real = Path(os.path.realpath(path))
    return real if real == root_real or real.is_relative_to(root_real) else None
