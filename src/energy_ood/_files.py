"""Bounded, regular-file-only reading: every size is checked before anything is allocated.

- :func:`regular_file` / :func:`open_regular`: FIFOs, devices and folders are refused without
  blocking; missing files and permission errors are reported as what they are.
- :func:`max_bytes`: the ceiling for any one array or decompressed stream, from env
  ``ENERGY_OOD_MAX_BYTES`` (bytes, or with a K/M/G/T suffix), else :data:`MAX_BYTES`.
- :class:`Stream`: a file's bytes, decompressed on the fly (gzip, bzip2, xz) in bounded chunks,
  with an output limit (the ceiling and :data:`MAX_RATIO` times the compressed size) and a
  check that the stream reaches its end marker and trailer (a truncated file is an error).
- :func:`load_npz`: ``.npz`` members whose ``.npy`` headers are checked against the member's
  size and the ceiling before reading.
"""

from __future__ import annotations

import bz2
import lzma
import os
import stat
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ._validate import InputError

MAX_BYTES = 16 << 30  # 16 GiB
# Decompressed / compressed size. Deflate (gzip, zip) cannot exceed about 1032, so no valid
# .gz or .npz is refused (sorted label arrays do reach several hundred); the limit stops
# bzip2/xz bombs, whose ratios are unbounded. Memory is bounded by the ceiling and the
# headers' sizes, which are checked before anything is allocated.
MAX_RATIO = 1100
CHUNK = 1 << 20
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
        data = f.read(cap + 1)
        if len(data) > cap:
            raise InputError(f"{path}: above the limit of {size_text(cap)}")
        return data


def _sniff(head: bytes) -> str | None:
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    return None


def _decompressor(kind: str):
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    return bz2.BZ2Decompressor() if kind == "bzip2" else lzma.LZMADecompressor()


class Stream:
    """The bytes of an open binary file, decompressed when it is gzip/bzip2/xz.

    ``read(n)`` returns up to ``n`` bytes (fewer only at the end), as a bytearray (writable,
    so arrays built on it need no copy). Output beyond ``max_out``
    bytes (default: :func:`max_bytes` and :data:`MAX_RATIO` times the file size) is an error,
    so a decompression bomb stops after at most ``max_out`` bytes. A compressed stream that
    ends before its end marker and trailer is an error; concatenated members are read on.
    ``read()`` past the end returns ``b""``; :meth:`finish` reads to the end (bounded) and
    returns how many bytes were left.
    """

    def __init__(self, f, name: str, max_out: int | None = None):
        self.f, self.name = f, name
        self.kind = _sniff(f.peek(6)[:6]) if hasattr(f, "peek") else None
        size = os.fstat(f.fileno()).st_size
        if max_out is None:  # a raw file cannot give more than its size
            max_out = size if self.kind is None else min(max_bytes(), size * max_ratio())
        self.max_out, self.size = int(max_out), size
        self.d = _decompressor(self.kind) if self.kind else None
        self.pending, self.buf, self.out, self.done = b"", bytearray(), 0, False

    @property
    def delivered(self) -> int:
        """Bytes handed out by :meth:`read` so far."""
        return self.out - len(self.buf)

    def _count(self, data: bytes) -> bytes:
        self.out += len(data)
        if self.out > self.max_out:
            why = "the ceiling" if self.max_out >= max_bytes() else f"{max_ratio():g}x its size"
            raise InputError(
                f"{self.name}: decompresses to more than {size_text(self.max_out)} "
                f"({why}; a decompression bomb or a wrong header)"
            )
        return data

    def _step(self, want: int) -> bytes:
        """The next bytes of output (possibly none, e.g. between members)."""
        if self.d is None:
            chunk = self.f.read(max(want, CHUNK))
            self.done = not chunk
            return self._count(chunk)
        if self.d.eof:
            rest = self.d.unused_data or self.f.read(CHUNK)
            if not rest:
                self.done = True
            elif _sniff(rest[:6]) != self.kind:
                raise InputError(f"{self.name}: unexpected data after the end of the {self.kind}")
            else:
                self.d, self.pending = _decompressor(self.kind), rest
            return b""
        needs_input = (
            not self.pending if self.kind == "gzip" else (self.d.needs_input and not self.pending)
        )
        if needs_input:
            self.pending = self.f.read(CHUNK)
        try:
            data = self.d.decompress(self.pending, max(want, CHUNK))
        except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as e:
            raise InputError(f"{self.name}: corrupt {self.kind} stream ({e})") from None
        if needs_input and not self.pending and not data and not self.d.eof:
            raise InputError(
                f"{self.name}: truncated {self.kind} stream (it ends before its end marker)"
            )
        self.pending = self.d.unconsumed_tail if self.kind == "gzip" else b""
        return self._count(data)

    def read(self, n: int = -1) -> bytearray:
        """Up to ``n`` bytes (fewer only at the end of the stream)."""
        if n is None or n < 0:
            raise ValueError("Stream.read needs a size")
        take = min(n, len(self.buf))
        parts, have = [self.buf[:take]], take
        del self.buf[:take]
        while have < n and not self.done:
            data = self._step(n - have)
            if len(data) > n - have:  # keep the rest for the next read
                self.buf += memoryview(data)[n - have :]
                data = data[: n - have]
            parts.append(data)
            have += len(data)
        return parts[0] if len(parts) == 1 else bytearray().join(parts)

    def finish(self) -> int:
        """Read to the end, checking the end marker; return the number of bytes left over."""
        left = len(self.buf)
        self.buf.clear()
        while not self.done:
            left += len(self._step(CHUNK))
        return left


def _npy_header(f):
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)


def load_npz(path, pick=None) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file; ``pick(keys) -> keys to read`` limits what is read.

    Each member's header is checked against the member's size and :func:`max_bytes` before
    its array is allocated. Object arrays are refused (no pickles).
    """
    with open_regular(path) as f:
        try:
            z = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise InputError(f"{path}: not a readable .npz file ({e})") from None
        with z:
            infos = {i.filename[:-4]: i for i in z.infolist() if i.filename.endswith(".npy")}
            keys = list(infos) if pick is None else list(pick(list(infos)))
            out, total = {}, 0
            for k in keys:
                out[k] = _npz_member(z, infos[k], f"{path}:{k}")
                total += out[k].nbytes
                check_bytes(total, str(path))
            return out


def _npz_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    ratio = max_ratio()
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > info.compress_size * ratio:
        raise InputError(
            f"{where}: declares {size_text(info.file_size)} from "
            f"{size_text(info.compress_size)} compressed, above the {ratio:g}x ratio limit"
        )
    check_bytes(info.file_size, where)
    try:
        with z.open(info) as m:
            shape, fortran, dtype = _npy_header(m)
            if dtype.hasobject:
                raise InputError(f"{where}: holds Python objects (dtype {dtype}), refused")
            n = dtype.itemsize * int(np.prod(shape, dtype=object))
            if n > info.file_size:
                raise InputError(
                    f"{where}: header says {shape} {dtype} ({size_text(n)}), "
                    f"the member holds only {size_text(info.file_size)}"
                )
            data = bytearray(n)
            view, pos = memoryview(data), 0
            while pos < n:
                chunk = m.read(min(CHUNK * 16, n - pos))
                if not chunk:
                    raise InputError(f"{where}: truncated array data")
                view[pos : pos + len(chunk)] = chunk
                pos += len(chunk)
    except InputError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{where}: unreadable or truncated member ({msg})") from None
    a = np.frombuffer(data, dtype=dtype) if n else np.empty(0, dtype)
    return a.reshape(shape, order="F" if fortran else "C")


def one_line(e: BaseException) -> str:
    """The first line of an exception's message, or its type's name."""
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def resolve_inside(path: Path, root_real: Path) -> Path | None:
    """``path`` resolved, or None when it resolves outside ``root_real`` (a resolved path)."""
    real = Path(os.path.realpath(path))
    return real if real == root_real or real.is_relative_to(root_real) else None
