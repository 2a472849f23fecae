"""Named data files are checked against recorded sha256 digests, once per (size, mtime)."""

import gzip
import os
import shutil
from pathlib import Path

import pytest

from energy_ood._validate import InputError
from energy_ood.data import checksums
from energy_ood.data.checksums import KNOWN, verify
from energy_ood.data.datasets import CIFAR_TAR

FMNIST = Path("/usr/share/datasets/fashion-mnist")
SHARED = Path(os.environ.get("ENERGY_OOD_DATA_ROOT") or "/work/shared/data")
LABELS = "t10k-labels-idx1-ubyte"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_OOD_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fmnist_labels(tmp_path):
    if not (FMNIST / f"{LABELS}.gz").is_file():
        pytest.skip("Debian package dataset-fashion-mnist absent")
    return FMNIST / f"{LABELS}.gz"


@pytest.mark.skipif(not FMNIST.is_dir(), reason="Debian package dataset-fashion-mnist absent")
def test_debian_fashion_mnist_files_are_known(cache):
    for stem in KNOWN["fashion-mnist"]:
        assert verify(FMNIST / f"{stem}.gz", "fashion-mnist", stem) == FMNIST / f"{stem}.gz"


@pytest.mark.skipif(not (SHARED / "mnist-test").is_dir(), reason="shared data absent")
def test_shared_copies_are_known(cache):
    for stem in ("t10k-images-idx3-ubyte", LABELS):
        verify(SHARED / "mnist-test" / f"{stem}.gz", "mnist", stem)
    verify(SHARED / CIFAR_TAR, "cifar10", CIFAR_TAR)


def test_second_check_comes_from_the_cache(cache, fmnist_labels, monkeypatch):
    verify(fmnist_labels, "fashion-mnist", LABELS)
    assert (cache / checksums.CACHE_NAME).is_file()

    def no_hashing(path):
        raise AssertionError("hashed again")

    monkeypatch.setattr(checksums, "sha256_file", no_hashing)
    verify(fmnist_labels, "fashion-mnist", LABELS)


def test_changed_file_is_hashed_again_and_refused(cache, fmnist_labels, tmp_path):
    copy = tmp_path / f"{LABELS}.gz"
    shutil.copyfile(fmnist_labels, copy)
    verify(copy, "fashion-mnist", LABELS)
    data = bytearray(copy.read_bytes())
    data[100] ^= 1
    copy.write_bytes(bytes(data))
    os.utime(copy, ns=(1, 1))  # same size, another mtime
    with pytest.raises(InputError, match="is not a known copy of fashion-mnist") as e:
        verify(copy, "fashion-mnist", LABELS)
    assert str(copy) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(InputError, match="is not a known copy"):  # the verdict is cached too
        verify(copy, "fashion-mnist", LABELS)


def test_other_compression_of_the_same_content_is_accepted(cache, fmnist_labels, tmp_path):
    raw = gzip.decompress(fmnist_labels.read_bytes())
    (tmp_path / LABELS).write_bytes(raw)
    verify(tmp_path / LABELS, "fashion-mnist", LABELS)  # gunzipped: the raw digest
    (tmp_path / f"{LABELS}.gz").write_bytes(gzip.compress(raw, compresslevel=1, mtime=7))
    verify(tmp_path / f"{LABELS}.gz", "fashion-mnist", LABELS)  # another gzip: its content
    (tmp_path / "t.gz").write_bytes(gzip.compress(raw[:-1]))
    with pytest.raises(InputError, match="not a known copy"):
        verify(tmp_path / "t.gz", "fashion-mnist", LABELS)


def test_unwritable_cache_still_verifies(tmp_path, fmnist_labels, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("ENERGY_OOD_CACHE", str(tmp_path / "file" / "cache"))
    verify(fmnist_labels, "fashion-mnist", LABELS)
