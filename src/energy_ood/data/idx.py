"""Read IDX files (the MNIST / Fashion-MNIST format), compressed (gzip/bzip2/xz) or raw.

The header is checked against the file's size, the decompression ratio limit and the byte
ceiling (``ENERGY_OOD_MAX_BYTES``) before anything is allocated; decompression stops at the
size the header announces plus one byte, so a small ``.gz`` with a lying header fails fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._validate import InputError, check_int
from ..io.decompress import Stream
from ..io.regular_files import open_regular
from ..io.size_limits import check_bytes, max_ratio, size_text
from .arrays import check_held

MAX_DIMS = 8  # images are (N, H, W[, C]); numpy itself stops at 64
DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _header(r: Stream, name: str) -> tuple[np.dtype, list[int], int]:
    head = r.read(4)
    if len(head) < 4 or head[:2] != b"\0\0":
        raise InputError(f"{name}: not an IDX file (bad magic number {head.hex() or 'empty'})")
    code, ndim = head[2], head[3]
    if code not in DTYPES:
        raise InputError(f"{name}: unknown IDX data type code 0x{code:02x}")
    if ndim == 0:
        raise InputError(f"{name}: IDX file with 0 dimensions")
    if ndim > MAX_DIMS:
        raise InputError(f"{name}: IDX file with {ndim} dimensions (at most {MAX_DIMS} are read)")
    raw_dims = r.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise InputError(f"{name}: truncated IDX header")
    dims = [int(d) for d in np.frombuffer(raw_dims, ">u4")]
    if 0 in dims:
        raise InputError(f"{name}: IDX header with a zero dimension {dims} (no data)")
    return np.dtype(DTYPES[code]), dims, 4 + 4 * ndim


def idx_header(path: str | Path) -> tuple[np.dtype, list[int]]:
    """``(dtype, dims)`` of an IDX file from its header alone (nothing else is read)."""
    path = Path(path)
    with open_regular(path, "IDX file") as f:
        dtype, dims, _ = _header(Stream(f, path.name), path.name)
    return dtype, dims


def read_idx(path: str | Path, limit: int | None = None) -> np.ndarray:
    """Read an IDX array (native byte order).

    Parameters
    ----------
    path : file, compressed or raw.
    limit : read only the first ``limit`` items (rows); the rest of the file is not checked.
    """
    path = Path(path)
    name = path.name
    with open_regular(path, "IDX file") as f:
        r = Stream(f, name)
        dtype, dims, head = _header(r, name)
        full = dtype.itemsize * int(np.prod(dims, dtype=object))
        if limit is not None:
            dims[0] = min(dims[0], check_int(limit, "limit", min=1))
        need = dtype.itemsize * int(np.prod(dims, dtype=object))
        size = os.fstat(f.fileno()).st_size
        if r.kind is None and limit is None and head + full != size:
            word = "truncated IDX file" if head + full > size else "IDX size mismatch"
            raise InputError(
                f"{name}: {word}, dimensions {dims} need {full} bytes of data, found {size - head}"
            )
        if r.kind is not None and full > size * max_ratio():
            raise InputError(
                f"{name}: header claims {dims} ({size_text(full)}) from a "
                f"{size_text(size)} {r.kind} file, above the {max_ratio():g}x ratio limit"
            )
        check_bytes(need, f"{name} ({'x'.join(map(str, dims))} {dtype.str[1:]})")
        try:
            data = r.read(need)
        except MemoryError:  # under a memory limit (ulimit -v, a container)
            raise InputError(
                f"{name}: needs {size_text(need)}, more than this process can allocate"
            ) from None
        if len(data) < need:
            raise InputError(
                f"{name}: truncated IDX file, expected {need} bytes of data, found {len(data)}"
            )
        if limit is None:
            extra = r.read(1)
            if extra:
                raise InputError(
                    f"{name}: IDX size mismatch, dimensions {dims} need {need} bytes of data, "
                    "found more"
                )
            r.finish()
    a = np.frombuffer(data, dtype).reshape(dims)
    return a if dtype.isnative else a.astype(dtype.newbyteorder("="))


COMPRESSED_TAR = (".tgz", ".tbz2", ".txz")


def compressed_head(head: bytes) -> bool:
    """gzip, bzip2 or xz data, from its first bytes."""
    return head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\0"


def compressed_tar_name(path: Path) -> bool:
    """A name such as ``x.tar.gz`` or ``x.tgz``: a compressed tar archive, not IDX."""
    return ".tar" in path.suffixes[-2:-1] or path.suffix.lower() in COMPRESSED_TAR


def idx_sniff(path: Path, what: str = "IDX file") -> bool:
    """Whether ``path`` may be an IDX file: it starts with an IDX magic number, or it is
    compressed (gzip, bzip2, xz; :func:`read_idx` says from the magic number inside) and not
    named as a compressed tar archive."""
    with open_regular(path, what) as f:
        head = f.read(512)
    if head[:2] == b"\0\0" and len(head) >= 4:
        return True
    return compressed_head(head) and not compressed_tar_name(path)


def idx_images(path: Path) -> np.ndarray:
    """uint8 images (N, H, W, C) of an IDX images file, refused from its header when they are
    not uint8 (N, H, W[, C]) or their float copies would pass the byte ceiling."""
    dtype, dims = idx_header(path)
    if dtype != np.uint8 or len(dims) not in (3, 4):
        raise InputError(f"{path}: expected uint8 images (N, H, W[, C]) in the IDX file")
    check_held(int(np.prod(dims, dtype=object)), f"{path}: {'x'.join(map(str, dims))} images")
    x = read_idx(path)
    return x[..., None] if x.ndim == 3 else x
