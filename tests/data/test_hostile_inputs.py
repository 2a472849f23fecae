"""The red-team reproducers of issue 13 for the input layer, one case each.

Each hostile input gives an InputError whose one line names the problem, or the documented
valid result. Bombs are generated small, with small ceilings, so the suite stays fast; an
alarm turns any hang (a FIFO read) into a failure.
"""

import gzip
import io
import os
import signal
import struct
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import torch
from PIL import Image

from energy_ood._validate import InputError, as_tensor_2d
from energy_ood.data import load_dataset, read_idx, read_image_folder, read_image_tar, read_npz
from energy_ood.data.sources import load_array
from energy_ood.metrics.functional import ood_metrics


@pytest.fixture(autouse=True)
def _guard(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_OOD_CACHE", str(tmp_path / "cache"))
    old = signal.signal(signal.SIGALRM, lambda *a: pytest.fail("hung reading a hostile input"))
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def idx(shape, code=0x08, body: bytes | None = None) -> bytes:
    head = b"\0\0" + bytes([code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    return head + (bytes(int(np.prod(shape))) if body is None else body)


def png(a) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def png_header_only(w: int, h: int) -> bytes:
    """A PNG of a few dozen bytes whose header announces w x h pixels."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + (chunk(b"IEND", b""))
    )


def image_root(tmp: Path) -> Path:
    root = tmp / "imgs"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            (root / cls / f"{i}.png").write_bytes(png(np.full((4, 4), 40 * i, np.uint8)))
    return root


def small_tar(tmp: Path) -> bytes:
    root = image_root(tmp)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        t.add(root, arcname="top")
    return buf.getvalue()


def boundary(raw: bytes) -> int:
    """The offset of the last member's header: a cut there leaves a clean subset."""
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        return t.getmembers()[-1].offset


# --- the cases: (build(tmp, monkeypatch) -> call, message pattern) -----------------------


def complex_npy(tmp, mp):
    np.save(tmp / "c.npy", np.array([1 + 2j, 3 - 1j]))
    return lambda: load_array(tmp / "c.npy")


def complex_pt(tmp, mp):
    torch.save(torch.ones(2, 3, dtype=torch.complex64), tmp / "c.pt")
    return lambda: load_array(tmp / "c.pt")


def complex_metrics(tmp, mp):
    return lambda: ood_metrics(np.array([1 + 1j, 2.0]), np.array([0.5, 1.0]))


def timedelta_metrics(tmp, mp):
    return lambda: ood_metrics(np.array([1, 2], "m8[s]"), np.array([0.5, 1.0]))


def object_metrics(tmp, mp):
    return lambda: ood_metrics(np.array([1.0, "x"], dtype=object), np.array([0.5, 1.0]))


def sparse_features(tmp, mp):
    return lambda: as_tensor_2d(scipy.sparse.random(5, 4, density=0.5, format="csr"), "feats")


def idx_gz_bomb(tmp, mp):
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    blob = z.compress(idx((10, 28, 28)))
    blob += b"".join(z.compress(bytes(1 << 20)) for _ in range(32)) + z.flush()  # +32 MiB
    (tmp / "bomb-idx3-ubyte.gz").write_bytes(blob)
    mp.setenv("ENERGY_OOD_MAX_BYTES", "1M")  # full decompression would hit this instead
    return lambda: read_idx(tmp / "bomb-idx3-ubyte.gz")


def idx_header_too_big(tmp, mp):
    (tmp / "big-idx3-ubyte.gz").write_bytes(gzip.compress(idx((60000, 1000, 1000), body=b"")))
    return lambda: read_idx(tmp / "big-idx3-ubyte.gz")


def idx_above_ceiling(tmp, mp):
    (tmp / "c-idx3-ubyte").write_bytes(idx((100, 100, 100)))
    mp.setenv("ENERGY_OOD_MAX_BYTES", "100K")
    return lambda: read_idx(tmp / "c-idx3-ubyte")


def idx_zero_dims(tmp, mp):
    (tmp / "z-idx3-ubyte").write_bytes(idx((0, 28, 28)))
    return lambda: read_idx(tmp / "z-idx3-ubyte")


def npz_label_1e12(tmp, mp):
    np.savez(tmp / "l.npz", x=np.zeros((2, 4, 4), np.uint8), y=np.array([0, 10**12]))
    return lambda: read_npz(tmp / "l.npz")


def npz_label_beyond_names(tmp, mp):
    np.savez(tmp / "l.npz", x=np.zeros((2, 4, 4)), y=np.array([0, 5]), classes=np.array(["a"]))
    return lambda: read_npz(tmp / "l.npz")


def npz_header_bomb(tmp, mp):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)}
    )
    with zipfile.ZipFile(tmp / "h.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("logits.npy", buf.getvalue() + bytes(100))
    return lambda: load_array(tmp / "h.npz")


def png_1e8_pixels(tmp, mp):
    root = image_root(tmp)
    (root / "a" / "huge.png").write_bytes(png_header_only(10_000, 10_000))
    return lambda: read_image_folder(root, cache_dir=False)


def fifo_png(tmp, mp):
    root = image_root(tmp)
    os.mkfifo(root / "a" / "x.png")
    return lambda: read_image_folder(root, cache_dir=False)


def symlink_passwd(tmp, mp):
    root = image_root(tmp)
    os.symlink("/etc/passwd", root / "a" / "x.png")
    return lambda: read_image_folder(root, cache_dir=False)


def tar_gz_cut_at_member_boundary(tmp, mp):
    raw = small_tar(tmp)
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    (tmp / "cut.tar.gz").write_bytes(z.compress(raw[: boundary(raw)]) + z.flush(zlib.Z_FULL_FLUSH))
    return lambda: read_image_tar(tmp / "cut.tar.gz", cache_dir=False)


def tar_recompressed_subset(tmp, mp):
    raw = small_tar(tmp)
    (tmp / "sub.tar.gz").write_bytes(gzip.compress(raw[: boundary(raw)]))
    return lambda: read_image_tar(tmp / "sub.tar.gz", cache_dir=False)


def csv_na_first_row(tmp, mp):
    (tmp / "s.csv").write_text("0.5,NA,0.25\n0.1,0.2,0.3\n")
    return lambda: load_array(tmp / "s.csv")


def mnist_impostor(tmp, mp):
    d = tmp / "root" / "mnist-test"
    d.mkdir(parents=True)
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx((3, 28, 28))))
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx((3,))))
    return lambda: load_dataset("mnist", "test", data_root=tmp / "root")


def folder_as_array(tmp, mp):
    return lambda: load_array(tmp)


def permission_denied(tmp, mp):
    np.save(tmp / "p.npy", np.ones(2))
    real = os.open

    def deny(path, *a, **k):
        if str(path).endswith("p.npy"):
            raise PermissionError(13, "Permission denied")
        return real(path, *a, **k)

    mp.setattr(os, "open", deny)
    return lambda: load_array(tmp / "p.npy")


REFUSED = [
    (complex_npy, r"c\.npy: expected real numbers, got complex"),
    (complex_pt, r"c\.pt: expected real numbers, got a complex tensor"),
    (complex_metrics, r"id_scores: expected real numbers, got complex"),
    (timedelta_metrics, r"id_scores: expected real numbers, got timedelta"),
    (object_metrics, r"id_scores: expected real numbers, got Python objects"),
    (sparse_features, r"feats: a scipy sparse matrix \(5x4\)"),
    (idx_gz_bomb, r"IDX size mismatch, dimensions \[10, 28, 28\] need 7840 bytes.*found more"),
    (idx_header_too_big, r"header claims \[60000, 1000, 1000\].*ratio limit"),
    (idx_above_ceiling, r"c-idx3-ubyte \(100x100x100 u1\): needs .* above the limit of 100 KiB"),
    (idx_zero_dims, r"z-idx3-ubyte: IDX header with a zero dimension \[0, 28, 28\]"),
    (npz_label_1e12, r"l\.npz: label 1000000000000 without class names"),
    (npz_label_beyond_names, r"l\.npz: label 5 but only 1 class names"),
    (npz_header_bomb, r"h\.npz:logits: header says \(1000000, 1000000\)"),
    (png_1e8_pixels, r"huge\.png: image of 10000x10000 = 100000000 pixels, above the limit"),
    (fifo_png, r"x\.png: a FIFO \(named pipe\), expected a regular image file"),
    (symlink_passwd, r"x\.png: a symbolic link leading outside .*/etc/passwd"),
    (tar_gz_cut_at_member_boundary, r"cut\.tar\.gz: truncated gzip stream"),
    (tar_recompressed_subset, r"sub\.tar\.gz: truncated archive .*end-of-archive marker"),
    (csv_na_first_row, r"s\.csv: row 1, column 2: 'NA' is not a number"),
    (mnist_impostor, r"t10k-images-idx3-ubyte\.gz: sha256 .* not a known copy of mnist"),
    (folder_as_array, r": is a folder, expected a file"),
    (permission_denied, r"p\.npy: permission denied"),
]


@pytest.mark.parametrize("build,msg", REFUSED, ids=[b.__name__ for b, _ in REFUSED])
def test_refused_with_one_line(tmp_path, monkeypatch, build, msg):
    call = build(tmp_path, monkeypatch)
    with pytest.raises(InputError, match=msg) as e:
        call()
    assert "\n" not in str(e.value)


# --- hostile-looking inputs with a documented valid result --------------------------------


def test_big_endian_and_longdouble_are_converted(tmp_path):
    np.save(tmp_path / "be.npy", np.array([[1.0, 2.0]], ">f8"))
    np.save(tmp_path / "ld.npy", np.array([[1.0, 2.0]], np.longdouble))
    for name in ("be.npy", "ld.npy"):
        a = load_array(tmp_path / name)
        assert a.dtype == np.float64 and a.dtype.isnative and a.tolist() == [[1.0, 2.0]]
    t = as_tensor_2d(np.array([[1.0, 2.0]], ">f4"), "logits")
    assert t.tolist() == [[1.0, 2.0]]
    m = ood_metrics(np.array([3.0, 4.0], ">f8"), np.array([1.0, 2.0], np.longdouble))
    assert m["auroc"] == 1.0


def test_read_only_npy_gives_no_warning(tmp_path):
    p = tmp_path / "ro.npy"
    np.save(p, np.ones((3, 2), np.float32))
    p.chmod(0o444)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert as_tensor_2d(load_array(p), "logits").shape == (3, 2)


def test_csv_with_a_whole_header_row(tmp_path):
    (tmp_path / "s.csv").write_text("id_score,other\n0.5,1\n")
    assert load_array(tmp_path / "s.csv").tolist() == [[0.5, 1.0]]


def test_complete_tar_after_the_truncated_ones(tmp_path):
    raw = small_tar(tmp_path)
    (tmp_path / "ok.tar.gz").write_bytes(gzip.compress(raw))
    x, y, classes = read_image_tar(tmp_path / "ok.tar.gz", cache_dir=False)
    assert x.shape == (4, 4, 4, 1) and classes == ["a", "b"]
