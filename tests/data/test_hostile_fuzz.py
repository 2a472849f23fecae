"""A hypothesis fuzz of the image, tar-shard, file-list and IDX readers (issue 18), as
``tests/test_io.py`` fuzzes ``load_array``: random bytes, truncated and bit-flipped valid files
give an InputError of one line or a valid result, never another exception, a hang or a wrong
shape. Bounded examples, no deadline: the whole file runs in seconds."""

from __future__ import annotations

import gzip
import io
import signal
import struct
import tarfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from energy_ood._validate import InputError
from energy_ood.data.arrays import MAX_CLASSES
from energy_ood.data.idx import read_idx
from energy_ood.data.image_items import list_items, tar_items
from energy_ood.data.images import decode_image, read_image_tar
from energy_ood.data.streaming import ImageList, ImageTransform

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(autouse=True)
def _guard(monkeypatch, tmp_path):
    monkeypatch.setenv("ENERGY_OOD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ENERGY_OOD_MAX_PIXELS", "1000000")  # a fuzzed header stays cheap
    old = signal.signal(signal.SIGALRM, lambda *a: pytest.fail("hung on a fuzzed input"))
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def encode(a, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    (a if isinstance(a, Image.Image) else Image.fromarray(a)).save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png16() -> bytes:
    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\0" + bytes(range(i, i + 10)) for i in range(5))  # 5 x 5 at 16 bits
    ihdr = struct.pack(">IIBBBBB", 5, 5, 16, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))  # fmt: skip


RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 255, (7, 6, 3), dtype=np.uint8)
IMAGES = {
    "png": encode(RGB),
    "png-grey": encode(RGB[..., 0]),
    "png-palette": encode(Image.fromarray(RGB).convert("P")),
    "png16": _png16(),
    "jpeg": encode(RGB, "JPEG", quality=80),
    "bmp": encode(RGB, "BMP"),
    "webp": encode(RGB, "WEBP"),
}


def mutate(blob: bytes, how: str, data: bytes, cut: float) -> bytes:
    if how == "random":
        return data
    if how == "truncate":
        return blob[: int(cut * len(blob))]
    pos = int(cut * (len(blob) - 1))
    return blob[:pos] + bytes([blob[pos] ^ (data[:1] or b"\x01")[0]]) + blob[pos + 1 :]


HOW = st.sampled_from(["random", "truncate", "flip"])


def one_line(e: InputError) -> None:
    assert str(e) and "\n" not in str(e)


@FUZZ
@given(kind=st.sampled_from(sorted(IMAGES)), how=HOW, data=st.binary(max_size=200),
       cut=st.floats(0, 1), mode=st.sampled_from([None, "L", "RGB"]))  # fmt: skip
def test_fuzz_decode_image(kind, how, data, cut, mode):
    blob = mutate(IMAGES[kind], how, data, cut)
    try:
        a = decode_image(blob, "x.png", mode=mode)
    except InputError as e:
        one_line(e)
        return
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] in (1, 3)
    assert mode is None or a.shape[2] == {"L": 1, "RGB": 3}[mode]


def _shard() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for i, name in enumerate(["d/a/0.png", "d/a/1.jpg", "d/b/2.png", "d/b/skip.txt"]):
            data = IMAGES["jpeg" if name.endswith("jpg") else "png"] if i < 3 else b"text"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


SHARD = _shard()


@FUZZ
@given(how=HOW, data=st.binary(max_size=600), cut=st.floats(0, 1))
def test_fuzz_tar_shards_read_by_seeking_and_in_memory(tmp_path_factory, how, data, cut):
    """The stream path (listing, then every member decoded) and the in-memory reader."""
    p = tmp_path_factory.mktemp("fuzz") / "s.tar"
    p.write_bytes(mutate(SHARD, how, data, cut))
    try:
        items, classes = tar_items([p])
        ds = ImageList(items, classes, ImageTransform(4, 3), str(p))
        for i in range(len(ds)):
            x, y = ds[i]
            assert x.shape == (3, 4, 4) and 0 <= y < len(classes)
    except InputError as e:
        one_line(e)
    try:
        x, y, classes = read_image_tar(p, cache_dir=False)
        assert x.ndim == 4 and len(x) == len(y) and int(y.max()) < len(classes)
    except InputError as e:
        one_line(e)


LIST = b"# images\na/0.png,cat\nb/1.png,dog\n\n/abs/2.png,cat\n"


@FUZZ
@given(how=HOW, data=st.binary(max_size=200), cut=st.floats(0, 1),
       labels=st.sampled_from([b"", b"numbers"]))  # fmt: skip
def test_fuzz_file_lists(tmp_path_factory, how, data, cut, labels):
    base = LIST if not labels else b"a.png,0\nb.png,7\nc.png,99999\n"
    p = tmp_path_factory.mktemp("fuzz") / "l.txt"
    p.write_bytes(mutate(base, how, data, cut))
    try:
        items, classes = list_items(p)
    except InputError as e:
        one_line(e)
        return
    assert len(classes) <= MAX_CLASSES
    assert all(0 <= lab < len(classes) and "\0" not in str(path) for path, lab in items)


def _idx(shape, code=0x08) -> bytes:
    head = b"\0\0" + bytes([code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    n = int(np.prod(shape)) * {0x08: 1, 0x0B: 2}[code]
    return head + bytes(i % 251 for i in range(n))


IDX = {"raw": _idx((3, 4, 5)), "gz": gzip.compress(_idx((3, 4, 5))), "i2": _idx((6,), 0x0B)}


@FUZZ
@given(kind=st.sampled_from(sorted(IDX)), how=HOW, data=st.binary(max_size=120),
       cut=st.floats(0, 1))  # fmt: skip
def test_fuzz_idx(tmp_path_factory, kind, how, data, cut):
    p = tmp_path_factory.mktemp("fuzz") / "f-idx3-ubyte"
    p.write_bytes(mutate(IDX[kind], how, data, cut))
    try:
        a = read_idx(p)
    except InputError as e:
        one_line(e)
        return
    assert isinstance(a, np.ndarray) and 1 <= a.ndim <= 8 and a.dtype.isnative and a.size > 0
