"""Readers on generated files, real small data and corrupt files."""

import gzip
import io
import os
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from energy_ood._validate import InputError
from energy_ood.data import load_dataset, read_idx, read_image_folder, read_image_tar, read_npz
from energy_ood.data.download import fetch, sha256

FMNIST = Path("/usr/share/datasets/fashion-mnist")
SHARED = Path(os.environ.get("ENERGY_OOD_DATA_ROOT") or "/work/shared/data")
MNIST_TEST = SHARED / "mnist-test"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_OOD_CACHE", str(tmp_path / "cache"))


def idx_bytes(a: np.ndarray, code: int = 0x08) -> bytes:
    head = b"\0\0" + bytes([code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return head + a.astype(a.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data = idx_bytes(a)
    p = tmp_path / ("a.idx.gz" if gz else "a.idx")
    p.write_bytes(gzip.compress(data) if gz else data)
    assert np.array_equal(read_idx(p), a)
    assert np.array_equal(read_idx(p, limit=1), a[:1])


def test_idx_other_dtypes(tmp_path):
    a = np.array([[1.5, -2.0], [3.25, 4.0]], dtype=np.float32)
    (tmp_path / "f.idx").write_bytes(idx_bytes(a, 0x0D))
    got = read_idx(tmp_path / "f.idx")
    assert got.dtype == np.float32 and np.array_equal(got, a)


@pytest.mark.parametrize(
    "mutate,msg",
    [
        (lambda b: b"\x01\x02" + b[2:], "bad magic number"),
        (lambda b: b[:2] + b"\x07" + b[3:], "unknown IDX data type"),
        (lambda b: b[:6], "truncated IDX header"),
        (lambda b: b[:-5], "truncated IDX file"),
        (lambda b: b + b"\0\0", "size mismatch"),
        (lambda b: b"", "bad magic number"),
    ],
)
def test_idx_corrupt(tmp_path, mutate, msg):
    a = np.zeros((3, 4, 4), np.uint8)
    p = tmp_path / "bad-idx3-ubyte"
    p.write_bytes(mutate(idx_bytes(a)))
    with pytest.raises(InputError, match=msg) as e:
        read_idx(p)
    assert "bad-idx3-ubyte" in str(e.value)


def test_idx_truncated_and_corrupt_gzip(tmp_path):
    a = np.random.default_rng(0).integers(0, 255, (50, 28, 28)).astype(np.uint8)
    gz = gzip.compress(idx_bytes(a))
    (tmp_path / "t.gz").write_bytes(gz[: len(gz) // 2])
    with pytest.raises(InputError, match="truncated"):
        read_idx(tmp_path / "t.gz")
    (tmp_path / "c.gz").write_bytes(gz[:20] + bytes(200) + gz[220:])
    with pytest.raises(InputError, match="c.gz"):
        read_idx(tmp_path / "c.gz")
    with pytest.raises(InputError, match="no such file"):
        read_idx(tmp_path / "absent.gz")


@pytest.mark.skipif(not FMNIST.is_dir(), reason="Debian package dataset-fashion-mnist absent")
def test_real_fashion_mnist_slice():
    x = read_idx(FMNIST / "t10k-images-idx3-ubyte.gz", limit=64)
    y = read_idx(FMNIST / "t10k-labels-idx1-ubyte.gz", limit=64)
    assert x.shape == (64, 28, 28) and x.dtype == np.uint8 and y.shape == (64,)
    assert y.max() <= 9 and x.max() > 200  # real images, not blank
    full = load_dataset("fashion-mnist", "test")
    assert full.x.shape == (10000, 28, 28, 1) and np.array_equal(full.y[:64], y)
    assert full.classes[0] == "T-shirt/top"


def test_digits_dataset():
    tr, te = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert len(tr) + len(te) == 1797 and tr.x.shape[1:] == (8, 8, 1)
    assert tr.x.dtype == np.uint8 and tr.x.max() == 255
    assert sorted(set(te.y.tolist())) == list(range(10))
    x, y = tr.tensors()
    assert x.shape == (len(tr), 1, 8, 8) and float(x.max()) == 1.0


def test_arbitrary_idx_pair_is_not_mnist(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "root" / "mnist-test"
    root.mkdir(parents=True)
    imgs, labels = rng.integers(0, 255, (20, 28, 28)).astype(np.uint8), np.arange(20) % 10
    (root / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(imgs)))
    (root / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels.astype(np.uint8)))
    with pytest.raises(InputError, match="is not a known copy of mnist t10k-images") as e:
        load_dataset("mnist", "test", data_root=tmp_path / "root")
    assert str(root / "t10k-images-idx3-ubyte.gz") in str(e.value)


@pytest.mark.skipif(not MNIST_TEST.is_dir(), reason="shared MNIST test copy absent")
def test_mnist_from_data_root():
    ds = load_dataset("mnist", "test", data_root=MNIST_TEST.parent)
    assert ds.x.shape == (10000, 28, 28, 1) and ds.name == "mnist"
    assert np.bincount(ds.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_unknown_and_missing_datasets(tmp_path):
    with pytest.raises(InputError, match="unknown data set"):
        load_dataset("imagenet")
    with pytest.raises(InputError, match="cifar10-jpeg.tar.gz"):
        load_dataset("cifar10", "test", data_root=tmp_path)
    with pytest.raises(InputError, match="split"):
        load_dataset("digits", "val")


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _image_tree(root: Path, split: str | None = None):
    rng = np.random.default_rng(1)
    base = root / split if split else root
    want = {}
    for cls in ("cat", "ant"):
        (base / cls).mkdir(parents=True)
        for i in range(3):
            a = rng.integers(0, 255, (6, 5, 3)).astype(np.uint8)
            (base / cls / f"{i}.png").write_bytes(_png(a))
            want[(cls, i)] = a
    return want


def test_image_folder(tmp_path):
    want = _image_tree(tmp_path / "imgs")
    x, y, classes = read_image_folder(tmp_path / "imgs")
    assert classes == ["ant", "cat"] and x.shape == (6, 6, 5, 3)
    assert y.tolist() == [0, 0, 0, 1, 1, 1]
    assert np.array_equal(x[3], want[("cat", 0)])
    x2, y2, _ = read_image_folder(tmp_path / "imgs")  # from the cache
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert list((tmp_path / "cache").glob("*.npz"))


def test_image_folder_errors(tmp_path):
    _image_tree(tmp_path / "imgs")
    (tmp_path / "imgs" / "ant" / "9.png").write_bytes(_png(np.zeros((4, 4, 3), np.uint8)))
    with pytest.raises(InputError, match="share one size"):
        read_image_folder(tmp_path / "imgs", cache_dir=False)
    (tmp_path / "imgs" / "ant" / "9.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match="9.png: a damaged or truncated PNG image"):
        read_image_folder(tmp_path / "imgs", cache_dir=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        read_image_folder(tmp_path / "empty", cache_dir=False)


def test_image_tar_with_split_and_truncated(tmp_path):
    want = _image_tree(tmp_path / "d" / "top", "train")
    _image_tree(tmp_path / "d" / "top", "test")
    tar = tmp_path / "data.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        t.add(tmp_path / "d" / "top", arcname="top")
    x, y, classes = read_image_tar(tar, "train")
    assert x.shape == (6, 6, 5, 3) and classes == ["ant", "cat"]
    assert np.array_equal(x[3], want[("cat", 0)])
    raw = tar.read_bytes()
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="bad.tar.gz"):
        read_image_tar(bad, "train", cache_dir=False)


def test_npz(tmp_path):
    x = np.random.default_rng(0).random((4, 5, 5))
    np.savez(tmp_path / "a.npz", x=x, y=np.array([0, 1, 1, 0]))
    xi, yi, classes = read_npz(tmp_path / "a.npz")
    assert xi.shape == (4, 5, 5, 1) and xi.dtype == np.uint8 and classes == ["0", "1"]
    assert xi.max() == np.rint(x.max() * 255)
    np.savez(tmp_path / "b.npz", images=np.zeros((2, 3, 4, 4)), labels=np.array([0, 1]))
    assert read_npz(tmp_path / "b.npz")[0].shape == (2, 4, 4, 3)
    np.savez(tmp_path / "c.npz", x=np.zeros((3, 4, 4)), y=np.array([0, 1]))
    with pytest.raises(InputError, match="3 images but 2 labels"):
        read_npz(tmp_path / "c.npz")
    np.savez(tmp_path / "d.npz", foo=np.zeros(3))
    with pytest.raises(InputError, match="expected keys"):
        read_npz(tmp_path / "d.npz")
    (tmp_path / "e.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InputError, match="e.npz"):
        read_npz(tmp_path / "e.npz")


def test_fetch_checks_sha256(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello data")
    good = sha256(src)
    dest = fetch(src.as_uri(), tmp_path / "out" / "x.bin", good)
    assert dest.read_bytes() == b"hello data"
    with pytest.raises(InputError, match="sha256 mismatch"):
        fetch(src.as_uri(), tmp_path / "out" / "y.bin", "0" * 64)
    assert not (tmp_path / "out" / "y.bin").exists()
    with pytest.raises(InputError, match="download failed"):
        fetch((tmp_path / "absent").as_uri(), tmp_path / "out" / "z.bin", good)
