"""Read IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or raw."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from .._validate import InputError

DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class _Reader:
    """Bytes of a raw or gzip file; ``ended_early`` when a gzip stream stops before its end."""

    def __init__(self, f, name: str):
        self.f, self.name, self.buf, self.ended_early = f, name, bytearray(), False
        self.z = zlib.decompressobj(16 + zlib.MAX_WBITS) if f.peek(2)[:2] == b"\x1f\x8b" else None

    def read(self, n: int | None) -> bytes:
        if self.z is None:
            return self.f.read() if n is None else self.f.read(n)
        while (n is None or len(self.buf) < n) and not self.z.eof:
            chunk = self.f.read(1 << 20)
            if not chunk:
                self.ended_early = True
                break
            try:
                self.buf += self.z.decompress(chunk)
            except zlib.error as e:
                raise InputError(f"{self.name}: corrupt gzip stream ({e})") from None
        n = len(self.buf) if n is None else n
        out = bytes(memoryview(self.buf)[:n])
        del self.buf[:n]
        return out


def read_idx(path: str | Path, limit: int | None = None) -> np.ndarray:
    """Read an IDX array (native byte order).

    Parameters
    ----------
    path : file, ``.gz`` or raw.
    limit : read only the first ``limit`` items (rows) and skip the check of the rest.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with open(path, "rb") as f:
        r = _Reader(f, name)
        head = r.read(4)
        if len(head) < 4 or head[:2] != b"\0\0":
            raise InputError(f"{name}: not an IDX file (bad magic number {head.hex() or 'empty'})")
        code, ndim = head[2], head[3]
        if code not in DTYPES:
            raise InputError(f"{name}: unknown IDX data type code 0x{code:02x}")
        if ndim == 0:
            raise InputError(f"{name}: IDX file with 0 dimensions")
        raw_dims = r.read(4 * ndim)
        if len(raw_dims) < 4 * ndim:
            raise InputError(f"{name}: truncated IDX header")
        dims = [int(d) for d in np.frombuffer(raw_dims, ">u4")]
        if limit is not None:
            dims[0] = min(dims[0], int(limit))
        dtype = np.dtype(DTYPES[code])
        need = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
        data = r.read(need if limit is not None else None)
        if len(data) < need:
            raise InputError(
                f"{name}: truncated IDX file, expected {need} bytes of data, found {len(data)}"
            )
        if limit is None and len(data) > need:
            raise InputError(
                f"{name}: IDX size mismatch, dimensions {dims} need {need} bytes of data, "
                f"found {len(data)}"
            )
        if limit is None and r.ended_early:
            raise InputError(f"{name}: truncated gzip stream (the data ends before its trailer)")
    return np.frombuffer(data, dtype).reshape(dims).astype(dtype.newbyteorder("="))
