"""Safe image enumeration and decoding, and the folder / tar readers built on them."""

import io
import os
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from energy_ood._validate import InputError
from energy_ood.data.images import (
    EXTENSIONS,
    decode_image,
    image_files,
    read_image_folder,
    read_image_tar,
)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_OOD_CACHE", str(tmp_path / "cache"))


def encode(a: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format=fmt)
    return buf.getvalue()


def huge_png(w: int, h: int) -> bytes:
    """A valid-looking PNG header announcing w x h grey pixels, in a few dozen bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def tree(root: Path) -> dict:
    rng = np.random.default_rng(0)
    want = {}
    for cls in ("b", "a"):
        (root / cls).mkdir(parents=True)
        for i, ext in enumerate((".png", ".JPG", ".bmp")):
            a = rng.integers(0, 255, (4, 5, 3)).astype(np.uint8)
            (root / cls / f"{i}{ext}").write_bytes(
                encode(a, {"JPG": "JPEG"}.get(ext[1:].upper(), ext[1:].upper()))
            )
            want[(cls, i)] = a
    return want


def test_image_files_layout_and_filters(tmp_path):
    root = tmp_path / "imgs"
    tree(root)
    (root / "a" / "notes.txt").write_text("not an image")
    (root / "a" / ".hidden.png").write_bytes(b"junk")
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "x.png").write_bytes(b"junk")
    (root / "loose.png").write_bytes(encode(np.zeros((2, 2), np.uint8)))
    (root / "a" / "sub").mkdir()  # folders inside class folders are not read
    os.symlink(root / "b" / "0.png", root / "a" / "9.png")  # a link inside the root is fine
    os.symlink("/etc/passwd", root / "a" / "passwd.txt")  # not an image: never read
    got = image_files(root)
    assert [(c, p.name) for c, p in got] == [
        ("a", "0.png"), ("a", "1.JPG"), ("a", "2.bmp"), ("a", "9.png"),
        ("b", "0.png"), ("b", "1.JPG"), ("b", "2.bmp"),
    ]  # fmt: skip
    assert image_files(root, flat=True) == [(None, root / "loose.png")]
    assert ".webp" in EXTENSIONS  # Pillow here decodes WebP


@pytest.mark.parametrize(
    "make,msg",
    [
        (lambda r: os.symlink("/etc/passwd", r / "a" / "x.png"), "symbolic link leading outside"),
        (lambda r: os.symlink("/etc", r / "etc"), "symbolic link leading outside"),
        (lambda r: os.mkfifo(r / "a" / "x.png"), "FIFO"),
        (lambda r: os.symlink(r / "absent.png", r / "a" / "x.png"), "broken symbolic link"),
    ],
)
def test_image_files_refuses(tmp_path, make, msg):
    root = tmp_path / "imgs"
    tree(root)
    make(root)
    with pytest.raises(InputError, match=msg) as e:
        image_files(root)
    assert "\n" not in str(e.value)


def test_image_files_root_errors(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        image_files(tmp_path / "absent")
    (tmp_path / "f.png").write_bytes(b"x")
    with pytest.raises(InputError, match="not a folder"):
        image_files(tmp_path / "f.png")


def test_decode_image_modes_and_sources(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 255, (3, 4, 3)).astype(np.uint8)
    grey = rgb[..., 0]
    assert np.array_equal(decode_image(encode(rgb), "x"), rgb)
    assert decode_image(encode(grey), "x").shape == (3, 4, 1)
    assert decode_image(encode(grey), "x", mode="RGB").shape == (3, 4, 3)
    assert decode_image(encode(rgb), "x", mode="L").shape == (3, 4, 1)
    assert decode_image(encode(rgb, "WEBP"), "x").shape == (3, 4, 3)
    (tmp_path / "p.png").write_bytes(encode(rgb))
    assert np.array_equal(decode_image(tmp_path / "p.png", "p"), rgb)
    tiff = io.BytesIO()
    Image.fromarray(rgb).save(tiff, format="TIFF")
    with pytest.raises(InputError, match="where: a TIFF image; only PNG, JPEG, BMP"):
        decode_image(tiff.getvalue(), "where")  # only PNG/JPEG/BMP/WebP are decoded
    with pytest.raises(InputError, match="mode must be"):
        decode_image(encode(rgb), "x", mode="CMYK")


def test_pixel_cap(monkeypatch):
    with pytest.raises(InputError, match=r"10000x10000 = 100000000 pixels, above the limit"):
        decode_image(huge_png(10_000, 10_000), "big.png")
    with pytest.raises(InputError, match="big.png: image too large"):  # Pillow's own refusal
        decode_image(huge_png(20_000, 10_000), "big.png")
    monkeypatch.setenv("ENERGY_OOD_MAX_PIXELS", "100")
    with pytest.raises(InputError, match="11x10 = 110 pixels"):
        decode_image(encode(np.zeros((10, 11), np.uint8)), "small.png")
    assert decode_image(encode(np.zeros((10, 10), np.uint8)), "ok.png").shape == (10, 10, 1)


def test_folder_reader_and_its_cache(tmp_path):
    root = tmp_path / "imgs"
    want = tree(root)
    x, y, classes = read_image_folder(root)
    assert classes == ["a", "b"] and x.shape == (6, 4, 5, 3) and y.tolist() == [0] * 3 + [1] * 3
    assert np.array_equal(x[0], want[("a", 0)]) and np.array_equal(x[5], want[("b", 2)])
    assert np.array_equal(read_image_folder(root)[0], x)  # cached
    new = np.full((4, 5, 3), 7, np.uint8)
    (root / "a" / "0.png").write_bytes(encode(new))
    os.utime(root / "a" / "0.png", ns=(1, 1))  # a change the cache must notice
    assert np.array_equal(read_image_folder(root)[0][0], new)


def test_folder_without_class_folders(tmp_path):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(encode(np.zeros((2, 2), np.uint8)))
    with pytest.raises(InputError, match="1 images lie directly in it"):
        read_image_folder(tmp_path / "flat", cache_dir=False)


def _tar_bytes(root: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        t.add(root, arcname="top")
    return buf.getvalue()


def member_boundaries(raw: bytes) -> list[int]:
    """Offsets in a tar where a member's header starts (a clean cut point)."""
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        return [m.offset for m in t.getmembers() if m.offset > 0]


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w"])
def test_tar_reader_compressions(tmp_path, mode):
    want = tree(tmp_path / "d")
    ext = {"w": ".tar"}.get(mode, ".tar." + mode[2:])
    arc = tmp_path / f"a{ext}"
    with tarfile.open(arc, mode) as t:
        t.add(tmp_path / "d", arcname="top/train")
    x, y, classes = read_image_tar(arc, "train", cache_dir=False)
    assert classes == ["a", "b"] and np.array_equal(x[3], want[("b", 0)])


def test_tar_truncated_at_member_boundaries(tmp_path):
    tree(tmp_path / "d")
    raw = _tar_bytes(tmp_path / "d")
    cuts = member_boundaries(raw)
    assert len(cuts) >= 5
    for cut in cuts[2:]:
        (tmp_path / "cut.tar").write_bytes(raw[:cut])
        with pytest.raises(InputError, match="without the end-of-archive marker"):
            read_image_tar(tmp_path / "cut.tar", cache_dir=False)
        (tmp_path / "cut.tar.gz").write_bytes(gzip_bytes(raw[:cut]))  # a valid gzip file
        with pytest.raises(InputError, match="without the end-of-archive marker"):
            read_image_tar(tmp_path / "cut.tar.gz", cache_dir=False)
        (tmp_path / "cut2.tar.gz").write_bytes(gzip_cut(raw, cut))  # a gzip cut off there
        with pytest.raises(InputError, match="truncated gzip stream"):
            read_image_tar(tmp_path / "cut2.tar.gz", cache_dir=False)


def gzip_bytes(data: bytes) -> bytes:
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    return z.compress(data) + z.flush()


def gzip_cut(data: bytes, at: int) -> bytes:
    """A gzip stream of ``data`` cut where its decompressed output reaches ``at``."""
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    return z.compress(data[:at]) + z.flush(zlib.Z_FULL_FLUSH)


def test_ood_arrays_and_folders_follow_a_models_recipe(tmp_path):
    """An OOD set by path goes through the ID transform of a model (its resize and crop),
    whether it is a folder of images or an .npz of them: the same pixels either way."""
    from energy_ood.data.ood_sets import load_ood_set
    from energy_ood.data.streaming import ImageTransform

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(5, 40, 52, 3), dtype=np.uint8)
    folder = tmp_path / "ood"
    folder.mkdir()
    for i, a in enumerate(imgs):
        Image.fromarray(a).save(folder / f"{i}.png")
    np.savez(tmp_path / "ood.npz", x=imgs, y=np.zeros(5, np.int64))
    recipe = ImageTransform(32, 3, (36, "shorter", "bilinear"))
    a = load_ood_set(str(folder), 5, 32, 3, transform=recipe)
    b = load_ood_set(str(tmp_path / "ood.npz"), 5, 32, 3, transform=recipe)
    assert a.shape == b.shape == (5, 3, 32, 32) and a.dtype == b.dtype == torch.float32
    torch.testing.assert_close(a, b)
    plain = load_ood_set(str(tmp_path / "ood.npz"), 5, 32, 3)  # no recipe: shorter side, crop
    assert plain.shape == (5, 3, 32, 32) and not torch.allclose(plain, b)
