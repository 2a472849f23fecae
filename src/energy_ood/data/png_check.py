"""Does a PNG's image data fill the picture its header announces?

Pillow accepts a PNG whose compressed image data (IDAT) is a complete zlib stream that ends
rows early, followed by the end chunk: the missing rows come out black, silently. This counts
the decompressed bytes (in bounded pieces, nothing kept) against what the header's width,
height, bit depth, colour type and interlacing need.
"""

from __future__ import annotations

import struct
import zlib

CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2))  # fmt: skip


def expected_bytes(w: int, h: int, depth: int, colour: int, interlaced: bool) -> int:
    """Bytes of filtered scanlines (a filter byte per row) the header announces."""
    bits = depth * CHANNELS.get(colour, 1)
    passes = ADAM7 if interlaced else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        pw, ph = max(0, -(-(w - x0) // dx)), max(0, -(-(h - y0) // dy))
        if pw and ph:
            total += ph * (1 + -(-(pw * bits) // 8))
    return total


def short_rows(data: bytes) -> tuple[int, int] | None:
    """``(found, expected)`` decompressed bytes when the image data ends before the picture
    does; None when it is complete, or when the file is not a PNG this can judge (Pillow's
    own checks then apply)."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        return None
    w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    need = expected_bytes(w, h, depth, colour, bool(interlace))
    d, pos, got = zlib.decompressobj(), 8, 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IEND":
            break
        if kind != b"IDAT":
            continue
        try:
            while body and not d.eof and got <= need:
                got += len(d.decompress(body, 1 << 20))
                body = d.unconsumed_tail
        except zlib.error:
            return None  # corrupt data: Pillow reports it
    return (got, need) if d.eof and got < need else None
