"""In-distribution data sets by name: Fashion-MNIST, MNIST, CIFAR-10 (JPEG tar), sklearn digits.

Files are looked for under ``data_root``, then env ``ENERGY_OOD_DATA_ROOT``, then system
locations; Fashion-MNIST and MNIST are downloaded (sha256-checked) into the cache as a last
resort. Every local file of a named set is checked against its recorded sha256 (see
:mod:`.checksums`; cached by path, size and mtime): a file that is not a known copy is an
error, never silently used under the set's name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._validate import InputError
from .cache import cache_root
from .checksums import KNOWN, verify
from .download import fetch
from .idx import read_idx
from .images import read_image_folder, read_image_tar

FMNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
FMNIST_CLASSES += ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_SETS = {
    "fashion-mnist": {
        "subdirs": ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw", ""),
        "system": ("/usr/share/datasets/fashion-mnist",),
        "classes": FMNIST_CLASSES,
        "url": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    },
    "mnist": {
        "subdirs": ("mnist", "mnist-test", "MNIST/raw"),
        "system": (),
        "classes": [str(i) for i in range(10)],
        "url": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    },
}
CIFAR_TAR = "cifar10-jpeg.tar.gz"
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer"]
CIFAR_CLASSES += ["dog", "frog", "horse", "ship", "truck"]
CIFAR_SIZES = {"train": 50000, "test": 10000}
ALIASES = {"fmnist": "fashion-mnist", "fashion_mnist": "fashion-mnist", "cifar-10": "cifar10"}


@dataclass
class ArrayDataset:
    """Images ``x`` uint8 (N, H, W, C), labels ``y`` int64 (N,), class names, provenance."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    name: str = ""
    source: str = ""
    meta: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.x.ndim != 4 or self.x.dtype != np.uint8:
            shape = f"{self.x.dtype} {self.x.shape}"
            raise InputError(f"{self.name}: x must be uint8 (N, H, W, C), got {shape}")
        if self.y.shape != (len(self.x),):
            raise InputError(f"{self.name}: {len(self.x)} images but labels of {self.y.shape}")
        self.y = self.y.astype(np.int64, copy=False)

    def __len__(self) -> int:
        return len(self.x)

    def tensors(self, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x (N, C, H, W) in [0, 1], y long)``."""
        x = torch.from_numpy(self.x).permute(0, 3, 1, 2).to(dtype).div_(255.0).contiguous()
        return x, torch.from_numpy(self.y).long()

    def subset(self, idx) -> ArrayDataset:
        idx = np.asarray(idx)
        return ArrayDataset(self.x[idx], self.y[idx], list(self.classes), self.name, self.source)


def available_datasets() -> list[str]:
    """Names :func:`load_dataset` accepts."""
    return sorted([*IDX_SETS, "cifar10", "digits"])


def _roots(data_root) -> list[Path]:
    env = os.environ.get("ENERGY_OOD_DATA_ROOT")
    return [Path(r).expanduser() for r in (data_root, env) if r]


def idx_pair(folder: Path, split: str) -> tuple[Path, Path] | None:
    out = []
    for stem in IDX_FILES[split]:
        hit = next((folder / f for f in (f"{stem}.gz", stem) if (folder / f).is_file()), None)
        if hit is None:
            return None
        out.append(hit)
    return out[0], out[1]


def _load_idx(name: str, split: str, data_root, cache_dir) -> ArrayDataset:
    spec = IDX_SETS[name]
    dirs = [r / s for r in _roots(data_root) for s in spec["subdirs"]]
    dirs += [Path(p) for p in spec["system"]] + [cache_root(cache_dir) / name]
    pair = next((p for p in map(lambda d: idx_pair(d, split), dirs) if p), None)
    if pair is None:
        try:
            pair = tuple(
                fetch(spec["url"] + f"{s}.gz", dirs[-1] / f"{s}.gz", KNOWN[name][s]["gz"])
                for s in IDX_FILES[split]
            )
        except InputError as e:
            looked = ", ".join(str(d) for d in dict.fromkeys(dirs))
            raise InputError(
                f"{name} ({split}): {IDX_FILES[split][0]}(.gz) not found in {looked}; {e}"
            ) from None
    for p, stem in zip(pair, IDX_FILES[split]):
        verify(p, name, stem, cache_dir)
    x, y = read_idx(pair[0]), read_idx(pair[1])
    if x.ndim != 3 or x.dtype != np.uint8 or y.shape != (len(x),):
        raise InputError(f"{pair[0].name}: expected uint8 (N, H, W) images with N labels")
    return ArrayDataset(x[..., None], y, list(spec["classes"]), name, str(pair[0].parent))


def _load_cifar(split: str, data_root, cache_dir) -> ArrayDataset:
    looked = []
    for base in [r / s for r in _roots(data_root) for s in ("", "cifar10")]:
        tar, folder = base / CIFAR_TAR, base / "cifar10-jpeg" / split
        looked.append(str(tar))
        if tar.is_file():
            verify(tar, "cifar10", CIFAR_TAR, cache_dir)
            x, y, classes = read_image_tar(tar, split, cache_dir=cache_dir)
            return _cifar_checked(x, y, classes, split, tar)
        if folder.is_dir():
            x, y, classes = read_image_folder(folder, cache_dir=cache_dir)
            return _cifar_checked(x, y, classes, split, folder)
    where = ", ".join(looked) or "nowhere (give data_root or set ENERGY_OOD_DATA_ROOT)"
    raise InputError(
        f"cifar10: {CIFAR_TAR} (or cifar10-jpeg/{split}/) not found; looked in {where}"
    )


def _cifar_checked(x, y, classes, split: str, source: Path) -> ArrayDataset:
    """A CIFAR-10 split must hold its 10 classes and its full count of 32x32 images."""
    want = CIFAR_SIZES[split]
    if classes != CIFAR_CLASSES or len(x) != want or x.shape[1:3] != (32, 32):
        raise InputError(
            f"{source}: not a complete CIFAR-10 {split} set ({len(x)} images of "
            f"{x.shape[2]}x{x.shape[1]} in {len(classes)} classes; expected {want} of 32x32 "
            "in 10); give other data by path"
        )
    return ArrayDataset(x, y, classes, "cifar10", str(source))


def _load_digits(split: str) -> ArrayDataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    tr, te = train_test_split(np.arange(len(x)), test_size=0.2, random_state=0, stratify=d.target)
    idx = tr if split == "train" else te
    classes = [str(i) for i in range(10)]
    return ArrayDataset(x[idx], d.target[idx], classes, "digits", "sklearn.datasets.load_digits")


def load_dataset(name: str, split: str = "train", data_root=None, cache_dir=None) -> ArrayDataset:
    """Load a named data set split (``available_datasets()``) as an :class:`ArrayDataset`."""
    key = ALIASES.get(name.lower(), name.lower())
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    if key in IDX_SETS:
        return _load_idx(key, split, data_root, cache_dir)
    if key == "cifar10":
        return _load_cifar(split, data_root, cache_dir)
    if key == "digits":
        return _load_digits(split)
    raise InputError(f"unknown data set {name!r}; choose from {', '.join(available_datasets())}")


def read_idx_folder(path: Path):
    """``(x uint8 NHWC, y, classes, x_test, y_test or None)`` of a folder of IDX files named as
    MNIST's (``train-images-idx3-ubyte[.gz]`` ...; the test pair optional)."""
    from .arrays import check_held
    from .idx import idx_header

    train, test = idx_pair(path, "train"), idx_pair(path, "test")
    if train is None:
        raise InputError(f"{path}: no {IDX_FILES['train'][0]}(.gz) here")
    held = 0  # checked from the headers, before any image is read
    for images in [train[0]] + ([] if test is None else [test[0]]):
        dtype, dims = idx_header(images)
        held += dtype.itemsize * int(np.prod(dims, dtype=object))
    check_held(held, f"{path}: the IDX images")
    x, y = read_idx(train[0]), read_idx(train[1])
    xt = yt = None
    if test is not None:
        xt, yt = read_idx(test[0]), read_idx(test[1])
    k = int(max(y.max(), -1 if yt is None else yt.max())) + 1
    x = x[..., None] if x.ndim == 3 else x
    xt = xt[..., None] if xt is not None and xt.ndim == 3 else xt
    return x, y, [str(i) for i in range(k)], xt, yt
