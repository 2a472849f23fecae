"""Issue 18, the readers: hostile image files, tar shards, file lists and IDX files read the way
commands read them (DataLoader workers, the stream path, OOD sets by path). Each refusal is one
InputError line naming the file and the problem (what the CLI prints with exit 2), never a
worker's traceback, a hang or a silent result; each accepted oddity gives the documented result.
"""

from __future__ import annotations

import gzip
import io
import os
import signal
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from energy_ood._validate import InputError
from energy_ood.data.ood_files import load_ood_path
from energy_ood.data.prepare import prepare_id
from energy_ood.data.streaming import ImageTransform, StreamSplit, image_source, materialize


@pytest.fixture(autouse=True)
def _guard(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_OOD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ENERGY_OOD_WORKERS", "2")
    old = signal.signal(signal.SIGALRM, lambda *a: pytest.fail("hung reading a hostile input"))
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def encode(a: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format=fmt)
    return buf.getvalue()


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(w: int, h: int, rows: bytes, depth: int = 8, colour: int = 0, ilace: int = 0):
    """A PNG of filtered scanlines ``rows`` under a header of our choosing."""
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, ilace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))  # fmt: skip


def png16(a: np.ndarray) -> bytes:
    """A 16-bit PNG (grey (H, W) or RGB (H, W, 3)) of uint16 ``a``."""
    colour = 2 if a.ndim == 3 else 0
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in a)
    return raw_png(a.shape[1], a.shape[0], rows, depth=16, colour=colour)


def adam7_png(a: np.ndarray) -> bytes:
    """An interlaced (Adam7) 8-bit grey PNG of ``a``."""
    rows = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                           (1, 0, 2, 2), (0, 1, 1, 2)):  # fmt: skip
        sub = a[y0::dy, x0::dx]
        if sub.size:
            rows += b"".join(b"\0" + r.tobytes() for r in sub)
    return raw_png(a.shape[1], a.shape[0], rows, ilace=1)


GOOD = [np.full((6, 6), 30 * i, np.uint8) for i in range(4)]


def bad_bytes(kind: str, tmp: Path, mp) -> bytes:
    """The bytes of one hostile image, named .png (or .jpg) by the caller."""
    img = np.arange(36, dtype=np.uint8).reshape(6, 6) * 7
    if kind == "truncated_png":
        b = encode(img)
        return b[: len(b) // 2]
    if kind == "truncated_jpeg":
        b = encode(np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8), "JPEG")
        return b[: len(b) // 2]
    if kind == "text_png":
        return b"name,label\nnot an image at all\n"
    if kind == "gif_png":
        return encode(img, "GIF")
    if kind == "tiff_png":
        return encode(img, "TIFF")
    if kind == "empty":
        return b""
    if kind == "pixel_bomb":
        return raw_png(10_000, 10_000, b"\0")
    if kind == "lying_header":  # complete zlib data for one row of the 64 announced
        return raw_png(64, 64, b"\0" + bytes(range(64)))
    if kind in ("very_wide", "very_tall"):  # under the pixel cap, its resize far above it
        mp.setenv("ENERGY_OOD_MAX_PIXELS", "20000")
        w, h = (5000, 1) if kind == "very_wide" else (1, 5000)
        return raw_png(w, h, b"".join(b"\0" + bytes(w) for _ in range(h)))
    raise AssertionError(kind)


DECODE = [
    ("truncated_png", r"bad\.png: (cannot decode image \(.*truncated|a damaged or truncated PNG)"),
    ("truncated_jpeg", r"bad\.png: cannot decode image \((image file is t|T)runcated"),
    ("text_png", r"bad\.png: text named \.png; only PNG, JPEG, BMP"),
    ("gif_png", r"bad\.png: a GIF image named \.png; only PNG, JPEG, BMP"),
    ("tiff_png", r"bad\.png: a TIFF image named \.png; only PNG, JPEG, BMP"),
    ("empty", r"bad\.png: an empty file named \.png"),
    ("pixel_bomb", r"bad\.png: image of 10000x10000 = 100000000 pixels, above the limit"),
    ("lying_header", r"bad\.png: its PNG image data ends after 65 of the 4160 bytes its 64x64"),
    ("very_wide", r"bad\.png: a 5000x1 image would be resized to 320000 pixels .*5000:1"),
    ("very_tall", r"bad\.png: a 1x5000 image would be resized to 320000 pixels"),
]


def folder_with(tmp: Path, bad: bytes | None, flat: bool = False) -> Path:
    root = tmp / "imgs"
    for i, a in enumerate(GOOD):
        d = root if flat else root / ("a" if i % 2 else "b")
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i}.png").write_bytes(encode(a))
    if bad is not None:
        (root if flat else root / "a").joinpath("bad.png").write_bytes(bad)
    return root


def shard_with(tmp: Path, bad: bytes | None, name: str = "shard.tar") -> Path:
    folder = folder_with(tmp / "src", bad)
    out = tmp / name
    with tarfile.open(out, "w") as t:
        for p in sorted(folder.glob("*/*.png")):
            t.add(p, arcname=f"data/{p.parent.name}/{p.name}")
    return out


def list_with(tmp: Path, bad: bytes | None, suffix: str = ".txt") -> Path:
    folder = folder_with(tmp / "src", bad)
    out = tmp / f"list{suffix}"
    out.write_text("".join(f"{p},{p.parent.name}\n" for p in sorted(folder.glob("*/*.png"))))
    return out


SOURCES = {"folder": folder_with, "shard": shard_with, "list": list_with}


def assert_one_line(call, pattern: str):
    with pytest.raises(InputError, match=pattern) as e:
        call()
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg and "DataLoader worker" not in msg, msg
    return msg


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("kind,pattern", DECODE, ids=[k for k, _ in DECODE])
def test_decoding_in_workers_is_one_line(tmp_path, monkeypatch, source, kind, pattern):
    """Through DataLoader workers (2), as train / evaluate / extract / detect read a path."""
    src = SOURCES[source](tmp_path, bad_bytes(kind, tmp_path, monkeypatch))
    ds = image_source(src, ImageTransform(8, 1))
    assert_one_line(lambda: materialize(ds, workers=2), pattern)


@pytest.mark.parametrize("source", SOURCES)
def test_id_data_streamed_and_in_memory_and_ood_sets(tmp_path, monkeypatch, source):
    """The same truncated PNG stops ID data (both modes) and an OOD set with one line."""
    src = SOURCES[source](tmp_path, bad_bytes("truncated_png", tmp_path, monkeypatch))
    pattern = r"bad\.png: "
    for mode in ("memory", "stream"):
        assert_one_line(lambda m=mode: prepare_id(str(src), image_size=8, channels=1,
                                                  data_mode=m), pattern)  # fmt: skip
    assert_one_line(lambda: load_ood_path(src, None, 8, 1), pattern)


def test_stream_batches_meet_a_file_spoilt_after_listing(tmp_path):
    """A file that breaks between listing and training stops the stream with one line."""
    root = folder_with(tmp_path, None)
    d = prepare_id(str(root), image_size=8, channels=1, data_mode="stream")
    assert isinstance(d.x_train, StreamSplit)
    for p in root.glob("*/*.png"):
        p.write_bytes(b"")
    lists = [torch.arange(len(d.x_train))]
    assert_one_line(lambda: list(d.x_train.batches(lists)), r"\.png: an empty file named \.png")


def test_a_60_million_pixel_line_is_refused_before_its_resize(tmp_path):
    """1 x 60,000,000 pixels (58 KB, under the 64 Mpx cap): resized to a shorter side of 8 it
    would be 8 x 480 M pixels; refused from its shape, no resize attempted."""
    w = 60_000_000
    z = zlib.compressobj(9)
    idat = z.compress(b"\0") + z.compress(bytes(w)) + z.flush()  # one row: its filter byte
    ihdr = struct.pack(">IIBBBBB", w, 1, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    assert len(png) < 80_000
    root = tmp_path / "wide"
    (root / "a").mkdir(parents=True)
    (root / "a" / "line.png").write_bytes(png)
    ds = image_source(root, ImageTransform(8, 1))
    pattern = r"line\.png: a 60000000x1 image would be resized to 3840000000 pixels"
    assert_one_line(lambda: materialize(ds, workers=0), pattern)


# --- 16-bit PNGs and interlaced PNGs: the documented valid results ---------------------------


def test_16_bit_pngs_give_the_numbers_of_their_8_bit_copies(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 250, (6, 7), dtype=np.uint8)  # below white: saturation would show
    rgb = rng.integers(0, 250, (6, 7, 3), dtype=np.uint8)
    for a in (grey, rgb):
        for name, data in (("8", encode(a)), ("16", png16(a.astype(np.uint16) * 257))):
            d = tmp_path / f"c{a.ndim}" / name / "k"
            d.mkdir(parents=True)
            (d / "x.png").write_bytes(data)
        x8, _ = materialize(image_source(tmp_path / f"c{a.ndim}" / "8", ImageTransform(6, 3)))
        x16, _ = materialize(image_source(tmp_path / f"c{a.ndim}" / "16", ImageTransform(6, 3)))
        assert torch.equal(x8, x16) and int(x16.max()) < 255  # scaled, not saturated white


def test_interlaced_png_is_complete(tmp_path):
    from energy_ood.data.images import decode_image

    a = np.random.default_rng(1).integers(0, 255, (11, 13), dtype=np.uint8)
    assert np.array_equal(decode_image(adam7_png(a), "i.png")[..., 0], a)


# --- tar shards read by seeking (stream mode, folders of shards) -----------------------------


def _tar(tmp: Path) -> bytes:
    return shard_with(tmp, None, "whole.tar").read_bytes()


def _last_member_end(raw: bytes) -> int:
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        m = t.getmembers()[-1]
        return m.offset_data + -(-m.size // 512) * 512


def shard_cut_at_boundary(tmp, mp):
    raw = _tar(tmp)
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        cut = t.getmembers()[-1].offset
    (tmp / "cut.tar").write_bytes(raw[:cut])
    return tmp / "cut.tar"


def shard_without_end_marker(tmp, mp):
    raw = _tar(tmp)
    (tmp / "nomark.tar").write_bytes(raw[: _last_member_end(raw)])
    return tmp / "nomark.tar"


def shard_with_garbage_after(tmp, mp):
    raw = _tar(tmp)
    end = _last_member_end(raw)
    (tmp / "junk.tar").write_bytes(raw[:end] + b"x" * 1024)
    return tmp / "junk.tar"


def shard_member_2_60(tmp, mp):
    info = tarfile.TarInfo("data/a/huge.png")
    info.size = 0
    head = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    head[124:136] = b"\x80" + (1 << 60).to_bytes(11, "big")  # base-256 size field
    head[148:156] = b"        "
    head[148:155] = f"{sum(head):06o}\0".encode()
    (tmp / "huge.tar").write_bytes(bytes(head) + bytes(2048))
    return tmp / "huge.tar"


def shard_fifo(tmp, mp):
    os.mkfifo(tmp / "pipe.tar")
    return tmp / "pipe.tar"


def shard_linked_outside(tmp, mp):
    outside = shard_with(tmp / "elsewhere", None, "other.tar")
    d = tmp / "shards"
    d.mkdir()
    (d / "000.tar").write_bytes(_tar(tmp / "mine"))
    os.symlink(outside, d / "001.tar")
    return d


SHARDS = [
    (shard_cut_at_boundary, r"cut\.tar: truncated shard \(it ends after \d+ bytes of members"),
    (shard_without_end_marker, r"nomark\.tar: truncated shard .*without the end-of-archive"),
    (shard_with_garbage_after, r"junk\.tar: at byte \d+ neither a member header nor the end"),
    (
        shard_member_2_60,
        r"huge\.tar: truncated shard, member data/a/huge\.png announces "
        r"1152921504606846976 bytes",
    ),  # fmt: skip
    (shard_fifo, r"pipe\.tar: a FIFO \(named pipe\), expected a regular tar shard"),
    (shard_linked_outside, r"001\.tar: a symbolic link leading outside .*other\.tar"),
]


@pytest.mark.parametrize("build,pattern", SHARDS, ids=[b.__name__ for b, _ in SHARDS])
def test_hostile_shards(tmp_path, monkeypatch, build, pattern):
    """Refused as ID data (streamed), as an OOD set, and by the listing itself."""
    path = build(tmp_path, monkeypatch)
    assert_one_line(lambda: image_source(path, ImageTransform(8, 1)), pattern)
    assert_one_line(lambda: prepare_id(str(path), image_size=8, channels=1,
                                       data_mode="stream"), pattern)  # fmt: skip
    assert_one_line(lambda: load_ood_path(path, None, 8, 1), pattern)


def test_a_folder_of_shards_is_an_ood_set(tmp_path):
    """Flat or with class folders inside, a folder of .tar shards gives all their images."""
    d = tmp_path / "ood"
    d.mkdir()
    shard_with(tmp_path / "s0", None).rename(d / "000.tar")
    with tarfile.open(d / "001.tar", "w") as t:  # webdataset style: members without folders
        for i, a in enumerate(GOOD[:3]):
            data = encode(a)
            info = tarfile.TarInfo(f"{i:06d}.png")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    x = load_ood_path(d, None, 6, 1)
    assert x.shape == (len(GOOD) + 3, 1, 6, 6)


# --- file lists --------------------------------------------------------------------------------


def good_lines(tmp: Path) -> str:
    root = folder_with(tmp, None)
    return "".join(f"{p},{i % 2}\n" for i, p in enumerate(sorted(root.glob("*/*.png"))))


def list_missing_entry(tmp, mp):
    (tmp / "l.txt").write_text(good_lines(tmp) + f"{tmp / 'nope.png'},0\n")
    return tmp / "l.txt"


def list_nul_byte(tmp, mp):
    root = folder_with(tmp, None)
    (tmp / "l.txt").write_bytes(f"{root}/a/1.png,0\n".encode() + b"x\0y.png,1\n")
    return tmp / "l.txt"


def list_entry_link_to_fifo(tmp, mp):
    os.mkfifo(tmp / "pipe")
    os.symlink(tmp / "pipe", tmp / "x.png")
    (tmp / "l.txt").write_text(good_lines(tmp) + "x.png,0\n")
    return tmp / "l.txt"


def list_entry_dangling_link(tmp, mp):
    os.symlink(tmp / "gone.png", tmp / "x.png")
    (tmp / "l.txt").write_text(good_lines(tmp) + "x.png,0\n")
    return tmp / "l.txt"


def list_label_1e12(tmp, mp):
    root = folder_with(tmp, None)
    (tmp / "l.txt").write_text(f"{root}/a/1.png,0\n{root}/b/0.png,1000000000000\n")
    return tmp / "l.txt"


def list_link_to_dev_zero(tmp, mp):
    os.symlink("/dev/zero", tmp / "l.txt")
    return tmp / "l.txt"


def list_fifo(tmp, mp):
    os.mkfifo(tmp / "l.lst")
    return tmp / "l.lst"


def list_not_utf8(tmp, mp):
    (tmp / "l.txt").write_bytes(b"\xff\xfe\x00a.png\n")
    return tmp / "l.txt"


LISTS = [
    (list_missing_entry, r"nope\.png: no such file"),
    (list_nul_byte, r"l\.txt: line 2: a NUL byte"),
    (list_entry_link_to_fifo, r"x\.png: a FIFO \(named pipe\), expected a regular image"),
    (list_entry_dangling_link, r"x\.png: no such file"),
    (list_label_1e12, r"l\.txt: line 2: label 1000000000000 at or above 100000"),
    (list_link_to_dev_zero, r"l\.txt: a character device, expected a regular file list"),
    (list_fifo, r"l\.lst: a FIFO \(named pipe\), expected a regular file list"),
    (list_not_utf8, r"l\.txt: not UTF-8 text"),
]


@pytest.mark.parametrize("build,pattern", LISTS, ids=[b.__name__ for b, _ in LISTS])
def test_hostile_file_lists(tmp_path, monkeypatch, build, pattern):
    """As ID data (memory and stream) and as an OOD set: one line, no hang, no allocation."""
    path = build(tmp_path, monkeypatch)
    for mode in ("memory", "stream"):
        assert_one_line(lambda m=mode: prepare_id(str(path), image_size=8, channels=1,
                                                  data_mode=m), pattern)  # fmt: skip
    assert_one_line(lambda: load_ood_path(path, None, 8, 1), pattern)


def test_a_csv_file_list_is_a_file_list(tmp_path):
    listing = list_with(tmp_path, None, ".csv")
    x = load_ood_path(listing, None, 6, 1)
    assert x.shape == (len(GOOD), 1, 6, 6)
    d = prepare_id(str(listing), image_size=6, channels=1, data_mode="memory")
    assert d.classes == ["a", "b"]


# --- IDX and other files given as data --------------------------------------------------------


def idx(shape, code=0x08, body: bytes | None = None) -> bytes:
    head = b"\0\0" + bytes([code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    return head + (bytes(int(np.prod(shape))) if body is None else body)


def test_idx_with_255_dimensions(tmp_path):
    from energy_ood.data import read_idx

    (tmp_path / "d-idx3-ubyte").write_bytes(idx((1,) * 255))
    assert_one_line(lambda: read_idx(tmp_path / "d-idx3-ubyte"),
                    r"d-idx3-ubyte: IDX file with 255 dimensions \(at most 8")  # fmt: skip
    assert_one_line(lambda: load_ood_path(tmp_path / "d-idx3-ubyte", None, 8, 1),
                    "255 dimensions")  # fmt: skip


def test_idx_images_are_bounded_with_their_float_copies(tmp_path, monkeypatch):
    """A 1 MiB ceiling: 200 KB of uint8 images would be 1.8 MB once held as float32 with their
    normalised copy; refused from the header, as ID data and as an OOD set."""
    monkeypatch.setenv("ENERGY_OOD_MAX_BYTES", "1M")
    d = tmp_path / "idxset"
    d.mkdir()
    (d / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx((256, 28, 28))))
    (d / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx((256,))))
    pattern = r"images as float32 with a normalised copy: needs 1\.72 MiB, above the limit"
    assert_one_line(lambda: prepare_id(str(d)), r"idxset: the IDX images as float32 with")
    assert_one_line(
        lambda: load_ood_path(d / "train-images-idx3-ubyte.gz", None, 8, 1),
        r"train-images-idx3-ubyte\.gz: 256x28x28 " + pattern,
    )
    monkeypatch.setenv("ENERGY_OOD_MAX_BYTES", "16M")
    assert load_ood_path(d / "train-images-idx3-ubyte.gz", 3, 8, 1).shape == (3, 1, 8, 8)


def test_files_that_are_no_ood_source_are_named(tmp_path):
    (tmp_path / "notes.dat").write_text("these are my notes\n")
    assert_one_line(
        lambda: load_ood_path(tmp_path / "notes.dat", None, 8, 1),
        r"notes\.dat: text, not an OOD source \(expected an image folder, a \.tar",
    )
    shard = shard_with(tmp_path, None)
    (tmp_path / "s.tar.gz").write_bytes(gzip.compress(shard.read_bytes()))
    assert_one_line(
        lambda: load_ood_path(tmp_path / "s.tar.gz", None, 8, 1),
        r"s\.tar\.gz: a compressed tar archive; an OOD set takes an uncompressed",
    )
    np.save(tmp_path / "a.npy", np.zeros(3))
    assert_one_line(lambda: load_ood_path(tmp_path / "a.npy", None, 8, 1),
                    r"a\.npy: a NumPy \.npy array, not an OOD source")  # fmt: skip
