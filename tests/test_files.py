"""Bounded reading: regular files only, decompression limits and end checks, npz headers."""

import bz2
import gzip
import io
import lzma
import os
import zipfile
import zlib

import numpy as np
import pytest

from energy_ood._files import (
    Stream,
    load_npz,
    max_bytes,
    open_regular,
    read_regular,
    regular_file,
)
from energy_ood._validate import InputError

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
    bz.write_bytes(bz2.compress(bytes(8 << 20)))  # bzip2 reaches ratios far above 1100
    monkeypatch.delenv("ENERGY_OOD_MAX_RATIO")
    f, r = stream_of(bz)
    with f, pytest.raises(InputError, match=r"1100x its size"):
        r.finish()
    monkeypatch.setenv("ENERGY_OOD_MAX_BYTES", "1M")
    f, r = stream_of(p)
    with f, pytest.raises(InputError, match="ceiling"):
        r.finish()
    assert r.out <= 5 * (1 << 20)


def test_max_bytes_env(monkeypatch):
    monkeypatch.setenv("ENERGY_OOD_MAX_BYTES", "2K")
    assert max_bytes() == 2048
    monkeypatch.setenv("ENERGY_OOD_MAX_BYTES", "0")
    with pytest.raises(InputError, match="ENERGY_OOD_MAX_BYTES"):
        max_bytes()


def test_regular_files_only(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="no such file"):
        regular_file(tmp_path / "absent")
    with pytest.raises(InputError, match="is a folder"):
        regular_file(tmp_path)
    os.mkfifo(tmp_path / "x.png")
    with pytest.raises(InputError, match="FIFO"):
        open_regular(tmp_path / "x.png")  # returns at once, never blocks on the pipe
    with pytest.raises(InputError, match="character device"):
        read_regular("/dev/zero")
    (tmp_path / "big").write_bytes(bytes(100))
    with pytest.raises(InputError, match="above the limit"):
        read_regular(tmp_path / "big", limit=50)

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(InputError, match="permission denied"):
        open_regular(tmp_path / "big")


def _npy_member(header: dict, body: bytes) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + body


def test_load_npz_checks_headers_before_allocating(tmp_path, monkeypatch):
    p = tmp_path / "a.npz"
    np.savez_compressed(p, a=np.arange(6).reshape(2, 3), b=np.ones(2, ">f4"))
    d = load_npz(p)
    assert d["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and d["a"].flags.writeable
    assert load_npz(p, pick=lambda keys: ["b"]).keys() == {"b"}
    huge = {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", _npy_member(huge, bytes(64)))
    with pytest.raises(InputError, match=r"a.npz:x: header says \(1000000000000,\)"):
        load_npz(p)
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", _npy_member({**huge, "shape": (1 << 20,)}, bytes(8 << 20)))
    assert load_npz(p)["x"].shape == (1 << 20,)  # 1000x compression of zeros is fine
    monkeypatch.setenv("ENERGY_OOD_MAX_BYTES", "1M")
    with pytest.raises(InputError, match="above the limit of 1 MiB"):
        load_npz(p)
    monkeypatch.setenv("ENERGY_OOD_MAX_BYTES", "1G")
    monkeypatch.setenv("ENERGY_OOD_MAX_RATIO", "10")
    with pytest.raises(InputError, match="10x ratio limit"):
        load_npz(p)
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("o.npy", _npy_member({**huge, "descr": "|O", "shape": (1,)}, bytes(8)))
    with pytest.raises(InputError, match="Python objects"):
        load_npz(p)
