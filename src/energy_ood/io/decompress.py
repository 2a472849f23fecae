"""Bounded, end-checked reading of a raw or compressed (gzip, bzip2, xz) file."""

from __future__ import annotations

import bz2
import lzma
import os
import zlib

from .._validate import InputError
from .size_limits import max_bytes, max_ratio, size_text

CHUNK = 1 << 20


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
        if self.d is None:  # never a buffer above what the file may still give
            chunk = self.f.read(min(max(want, CHUNK), self.max_out - self.out + 1))
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
