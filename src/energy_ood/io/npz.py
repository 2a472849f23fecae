"""``.npz`` members read with their ``.npy`` headers checked before anything is allocated."""

from __future__ import annotations

import zipfile
import zlib

import numpy as np

from .._validate import InputError
from .decompress import CHUNK
from .regular_files import open_regular
from .size_limits import check_bytes, max_ratio, size_text

# what reading a damaged member raises; zipfile refuses another compression method or an
# encrypted member with NotImplementedError / RuntimeError
_MEMBER_ERRORS = (
    zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error, NotImplementedError,
    RuntimeError,
)  # fmt: skip


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
            try:
                data = bytearray(n)
            except MemoryError:  # under a memory limit (ulimit -v, a container)
                raise InputError(
                    f"{where}: needs {size_text(n)}, more than this process can allocate"
                ) from None
            view, pos = memoryview(data), 0
            while pos < n:
                chunk = m.read(min(CHUNK * 16, n - pos))
                if not chunk:
                    raise InputError(f"{where}: truncated array data")
                view[pos : pos + len(chunk)] = chunk
                pos += len(chunk)
    except InputError:
        raise
    except _MEMBER_ERRORS as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{where}: unreadable or truncated member ({msg})") from None
    a = np.frombuffer(data, dtype=dtype) if n else np.empty(0, dtype)
    return a.reshape(shape, order="F" if fortran else "C")
