"""The one source map: what a name or a path given as data is, which reader reads it, and the
family of a source.

**Paths.** :data:`FORMATS` holds one entry per file format, in the order they are tried; an
entry names the paths it reads (folders, name endings, or first bytes) and what it gives:

* image files, listed without decoding (``list_items(path, flat)``: items and class names) and
  decoded on demand through a transform (``energy_ood.data.streaming.ImageList``): an image
  folder, uncompressed tar shards, a file list;
* a labelled data set in memory (``read_dataset(path)``: x, y, classes, x_test, y_test, uint8
  (N, H, W, C)): an ``.npz`` (``x``/``y``), a folder of IDX files named as MNIST's;
* images in memory (``read_images(path)``: uint8 (N, H, W, C)): an ``.npz``, an IDX file;
* an array of numbers (``read_array(path, key, kind)``, of at most ``max_dims`` dimensions;
  ``read_named(path, names, what)`` several by name from a bundle): ``.npy``, ``.npz``,
  ``.pt``/``.pth``, ``.csv``/``.txt``.

Each door asks :func:`format_of` for what it takes, in its order of preference:
in-distribution data (``data set``, then ``image files``; ``energy_ood.data.prepare``), OOD test
sets, outlier sources and extracted sets (``image files``, then ``images``;
``energy_ood.data.ood_files``), a detector's model inputs (arrays of images, then ``image
files``; ``energy_ood.data.for_model.model_inputs``), arrays of logits, features, scores or
labels (``arrays``; :func:`load_array`) and a final layer's weights (:func:`read_head`). A new
format is one entry of :data:`FORMATS` and its reader.

**Names.** In-distribution data sets (``energy_ood.data.datasets.available_datasets``) and the
OOD test sets and outlier sources of :data:`energy_ood.data.source_table.SOURCES`; a name with
a path separator, or that exists here, is a path (:func:`is_path_source`).

**Families.** :func:`source_info` gives the family, kind, content, origin and licence of a
named source or of a user's files (a family of their own, named by their resolved path);
:func:`id_family` the family of an in-distribution data set.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._validate import InputError, real_array
from ..io.arrays import csv_array, npy_array, npz_array, npz_named, pt_array, pt_named
from ..io.regular_files import open_regular
from .arrays import npz_dataset, npz_images
from .datasets import idx_pair, read_idx_folder
from .idx import idx_images, idx_sniff
from .image_items import LIST_SUFFIXES, folder_items, list_items, shards_in, tar_items
from .source_table import ID_FAMILIES, SOURCES, Source

KINDS = ("image files", "data set", "images", "arrays")


@dataclass(frozen=True)
class Format:
    """One file format: the paths it reads and its readers (see the module doc)."""

    name: str
    suffixes: tuple[str, ...] = ()  # name endings (lower case) of the files it reads
    folder: Callable[[Path], bool] | None = None  # the folders it reads
    sniff: Callable[[Path, str], bool] | None = None  # files it reads by their first bytes
    list_items: Callable | None = None
    read_dataset: Callable | None = None
    read_images: Callable | None = None
    read_array: Callable | None = None
    read_named: Callable | None = None
    max_dims: int = 32  # of the arrays it holds

    def gives(self, kind: str) -> bool:
        reader = {"image files": self.list_items, "data set": self.read_dataset,
                  "images": self.read_images, "arrays": self.read_array,
                  "image arrays": self.read_array if self.max_dims >= 4 else None,
                  "named arrays": self.read_named}[kind]  # fmt: skip
        return reader is not None

    def reads(self, path: Path, what: str = "file") -> bool:
        if path.is_dir():
            return self.folder is not None and self.folder(path)
        if self.suffixes:
            return path.suffix.lower() in self.suffixes
        return self.sniff is not None and self.sniff(path, what)


def _tar_items(path: Path, flat: bool = False):
    return tar_items(shards_in(path) if path.is_dir() else [path], flat=flat)


FORMATS: tuple[Format, ...] = (
    Format("tar shards", (".tar",), folder=lambda p: bool(shards_in(p)), list_items=_tar_items),
    Format("image folder", folder=lambda p: True, list_items=folder_items),
    Format("file list", LIST_SUFFIXES, list_items=lambda p, flat=False: list_items(p)),
    Format("npz", (".npz",), read_dataset=npz_dataset, read_images=lambda p: npz_images(p)[0],
           read_array=npz_array, read_named=npz_named),
    Format("IDX folder", folder=lambda p: idx_pair(p, "train") is not None,
           read_dataset=read_idx_folder),
    Format("IDX file", sniff=idx_sniff, read_images=idx_images),
    Format("npy", (".npy",), read_array=npy_array),
    Format("pt", (".pt", ".pth"), read_array=pt_array, read_named=pt_named),
    Format("csv", (".csv", ".txt"), read_array=csv_array, max_dims=2),
)  # fmt: skip


def format_of(path, kinds, what: str = "file") -> tuple[Format, str] | None:
    """The first format that reads ``path`` and gives one of ``kinds`` (tried in order), and
    that kind; None when none does. ``what`` names the file where a format reads its first
    bytes (a FIFO is refused naming it)."""
    path = Path(path)
    for kind in kinds:
        for fmt in FORMATS:
            if fmt.gives(kind) and fmt.reads(path, what):
                return fmt, kind
    return None


def is_flat(path: Path) -> bool:
    """Images of one OOD set, classes not needed: a folder without sub-folders (its images or
    its tar shards) or a tar shard (every image member)."""
    if path.is_dir():
        return not any(p.is_dir() for p in path.iterdir())
    return path.suffix.lower() == ".tar"


def image_items(path, flat: bool = False):
    """``(items, classes)`` of the image files at ``path`` (a folder, tar shards, a file
    list); ``flat``: every image of an OOD set as one class."""
    path = Path(path)
    found = format_of(path, ("image files",))
    if found is None:
        raise InputError(f"{path}: expected an image folder, a .tar shard or a file list")
    return found[0].list_items(path, flat)


def _array_suffixes() -> tuple[str, ...]:
    return tuple(s for f in FORMATS if f.read_array is not None for s in f.suffixes)


def _bundle(fmt: Format | None) -> bool:
    return fmt is not None and fmt.read_named is not None


def split_key(path) -> tuple[Path, str | None]:
    """``"a.npz:key"`` -> ``(Path("a.npz"), "key")``; a path without a selector -> key None.

    A file whose own name holds the colon wins over the selector.
    """
    s = os.fspath(path)
    head, sep, key = s.rpartition(":")
    if sep and key and Path(head).suffix.lower() in _array_suffixes() and not os.path.lexists(s):
        return Path(head), key
    return Path(s), None


def load_array(path, kind: str | None = None) -> np.ndarray:
    """Load one array of real numbers; every failure is an InputError naming the file.

    Parameters
    ----------
    path : ``.npy``, ``.npz``, ``.pt``/``.pth`` (read with ``weights_only=True``), ``.csv`` or
        ``.txt``; ``"file.npz:key"`` / ``"file.pt:key"`` selects one array of a bundle.
    kind : ``"logits"``, ``"features"``, ``"scores"`` or ``"labels"``: what the caller expects;
        picks the bundle key of that name (``features`` also accepts ``feats``/``embeddings``).

    ``.npy`` files are memory-mapped copy-on-write (writable, nothing read up front).
    Complex, object, text and date dtypes are refused; big-endian and longdouble converted.
    """
    path, key = split_key(path)
    open_regular(path).close()  # a regular file we may read, or a one-line error
    found = format_of(path, ("arrays",))
    fmt = found[0] if found else None
    if key is not None and not _bundle(fmt):
        raise InputError(f"{path}:{key}: a key selector needs an .npz or .pt file")
    if fmt is None:
        raise InputError(
            f"{path}: unknown file type {path.suffix.lower()!r} (use .npy, .npz, .pt, .csv)"
        )
    arr = fmt.read_array(path, key, kind)
    return real_array(arr, str(path) if key is None else f"{path}:{key}")


def read_head(path) -> tuple:
    """``(weight, bias or None)`` of a final linear layer saved as an ``.npz`` or a ``.pt``
    dict (any other name is read as a torch file), each an array or tensor."""
    p = Path(path)
    open_regular(p, "head file").close()  # a FIFO or device is refused, never opened blocking
    found = format_of(p, ("named arrays",))
    fmt = found[0] if found else next(f for f in FORMATS if f.name == "pt")
    d = fmt.read_named(p, ("weight", "bias"), "--head")
    if not isinstance(d, dict) or "weight" not in d:
        raise InputError(f"{p}: expected a dict/npz with 'weight' (and 'bias')")
    w, b = d["weight"], d.get("bias")
    if not isinstance(w, (np.ndarray, torch.Tensor)) or (
        b is not None and not isinstance(b, (np.ndarray, torch.Tensor))
    ):
        raise InputError(f"{p}: 'weight' and 'bias' must be arrays")
    return w, b


def ood_set_names() -> list[str]:
    return sorted(SOURCES)


def is_path_source(name: str) -> bool:
    """A user's files (an image folder, a .tar shard, a file list, IDX or npz) rather than a
    named set: the name holds a path separator or names an existing file or folder."""
    return name not in SOURCES and ("/" in name or os.sep in name or Path(name).exists())


def source_info(name: str) -> Source:
    """The family, kind, origin and licence of OOD set / outlier source ``name`` (a named set
    or a path: a user's files are a family of their own, named by their resolved path)."""
    if is_path_source(name):
        path = Path(name).expanduser()
        if not path.exists():
            raise InputError(f"{name}: no such OOD file or folder")
        real = str(path.resolve())
        return Source(f"path:{real}", "natural", f"the images of {name}", real, "the user's")
    if name not in SOURCES:
        raise InputError(f"unknown OOD set {name!r}; choose from {', '.join(ood_set_names())}")
    return SOURCES[name]


def ood_family(name: str) -> str:
    return source_info(name).family


def id_family(dataset: str) -> str:
    """The family of an in-distribution data set (its own name where not listed)."""
    key = dataset.lower()
    return ID_FAMILIES.get({"fmnist": "fashion-mnist", "cifar-10": "cifar10"}.get(key, key), key)


def data_table(names=None) -> str:
    """A markdown table of sources: family, kind, content, where it ships, licence."""
    rows = ["| source | family | kind | content | ships in | licence |", "|---" * 6 + "|"]
    for n in names or ood_set_names():
        s = source_info(n)
        rows.append(f"| {n} | {s.family} | {s.kind} | {s.content} | {s.origin} | {s.licence} |")
    return "\n".join(rows)
