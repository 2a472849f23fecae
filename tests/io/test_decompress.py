"""Bounded decompression: round trips, truncation anywhere, trailing data, bombs."""

import bz2
import gzip
import lzma
import zlib

import numpy as np
import pytest

from energy_ood._validate import InputError
from energy_ood.io.decompress import Stream
from energy_ood.io.regular_files import open_regular

PAYLOAD = np.random.default_rng(0).integers(0, 16, 1 << 18).astype(np.uint8).tobytes()


def stream_of(path, **kw):
    f = open_regular(path)
    return f, Stream(f, path.name, **kw)


@pytest.mark.parametrize("comp", [None, gzip.compress, bz2.compress, lzma.compress])
def test_stream_round_trip_and_truncation(tmp_path, comp):
    blob = comp(PAYLOAD) if comp else PAYLOAD
    p = tmp_path / "f.bin"
    p.write_bytes(blob)
    f, r = stream_of(p)
    with f:
        assert r.read(10) + r.read(len(PAYLOAD)) == PAYLOAD
        assert r.read(5) == b"" and r.finish() == 0
    if comp is None:
        return
    for cut in (len(blob) // 2, len(blob) - 4):  # mid-stream, and inside the trailer
        p.write_bytes(blob[:cut])
        f, r = stream_of(p)
        with f, pytest.raises(InputError, match="truncated"):
            r.read(len(PAYLOAD) + 1)


def test_stream_gzip_members_garbage_and_corruption(tmp_path):
    p = tmp_path / "m.gz"
    p.write_bytes(gzip.compress(b"ab") + gzip.compress(b"cd"))
    f, r = stream_of(p)
    with f:
        assert r.read(10) == b"abcd"
    p.write_bytes(gzip.compress(b"ab") + b"junk")
    f, r = stream_of(p)
    with f, pytest.raises(InputError, match="unexpected data after the end"):
        r.read(10)
    blob = bytearray(gzip.compress(PAYLOAD))
    blob[-8] ^= 0xFF  # the CRC in the trailer
    p.write_bytes(bytes(blob))
    f, r = stream_of(p)
    with f, pytest.raises(InputError, match="corrupt gzip"):
        r.read(len(PAYLOAD) + 1)


def test_stream_bomb_stops_at_the_limit(tmp_path, monkeypatch):
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    blob = b"".join(z.compress(bytes(1 << 20)) for _ in range(16)) + z.flush()  # 16 MiB
    p = tmp_path / "bomb.gz"
    p.write_bytes(blob)
    monkeypatch.setenv("ENERGY_OOD_MAX_RATIO", "100")
    f, r = stream_of(p)
    with f, pytest.raises(InputError, match=r"decompresses to more than .*100x its size"):
        r.finish()
    assert r.out <= len(blob) * 100 + 4 * (1 << 20)  # stopped near the ratio limit
    bz = tmp_path / "bomb.bz2"
    bz.write_bytes(bz2.compress(bytes(8 << 20)))  # bzip2 reaches ratios far above 1000
    monkeypatch.delenv("ENERGY_OOD_MAX_RATIO")
    f, r = stream_of(bz)
    with f, pytest.raises(InputError, match=r"1000x its size"):
        r.finish()
    monkeypatch.setenv("ENERGY_OOD_MAX_BYTES", "1M")
    f, r = stream_of(p)
    with f, pytest.raises(InputError, match="ceiling"):
        r.finish()
    assert r.out <= 5 * (1 << 20)
