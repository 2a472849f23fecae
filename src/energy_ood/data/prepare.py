"""In-distribution data for a run: a named data set or any data set by path, split into
train / validation (by seed) and test, normalised with training statistics.

Named sets (``available_datasets()``) are held in memory. A path may be

* an image folder ``root/<class>/<image>`` (or with ``train/`` and ``test/`` sub-folders, each
  with class sub-folders or uncompressed tar shards), a ``.tar`` shard or a file list
  (``path[,label]`` lines): decoded through :class:`~energy_ood.data.streaming.ImageTransform`
  (``image_size``, ``channels``; by default the first image's shorter side and colour), held in
  memory when small and streamed from disk otherwise (``data_mode``);
* a folder of IDX files (``train-images-idx3-ubyte[.gz]`` ..., as MNIST) or a ``.npz`` file
  (``x``/``y``), held in memory.

Without a separate test part, a seeded ``test_fraction`` of the images is held out as the test
set; what was done is recorded by :meth:`IDData.describe` (run.json, reports).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._validate import InputError
from ..runtime.progress import log
from . import bad_images
from .datasets import available_datasets, load_dataset
from .sources import format_of
from .streaming import (
    ArrayList,
    ImageList,
    ImageTransform,
    StreamSplit,
    channel_stats,
    fits_in_memory,
    image_source,
    image_stats,
    materialize,
    screen,
    to_unit,
)

TEST_FRACTION = 0.2


@dataclass
class IDData:
    name: str
    classes: list[str]
    source: str
    mean: list[float]
    std: list[float]
    x_train: object  # normalised tensor (N, C, H, W), or a StreamSplit
    y_train: torch.Tensor
    x_val: object
    y_val: torch.Tensor
    x_test: object
    y_test: torch.Tensor
    extra: dict = field(default_factory=dict)
    transform: ImageTransform | None = None  # how images of files become inputs (not saved)

    @property
    def size(self) -> int:
        return int(self.x_train.shape[-1])

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def streaming(self) -> bool:
        return isinstance(self.x_train, StreamSplit)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] (or uint8) to model inputs with this data's mean and
        std (the one normalisation of ``energy_ood.models.preprocess``)."""
        from ..models.preprocess import normalize_inputs

        return normalize_inputs(x, self.mean, self.std)

    @property
    def preprocess(self):
        """How an image becomes a model input for this data: the transform's geometry (or
        Pillow's shorter side to :attr:`size`, as runs decode files) and its mean and std, as a
        :class:`~energy_ood.models.Preprocess` (what a run's checkpoint records)."""
        from dataclasses import replace

        t = self.transform or ImageTransform(self.size, self.channels)
        how = self.extra.get("normalization") or "the training statistics"
        return replace(t.recipe(), mean=tuple(self.mean), std=tuple(self.std),
                       source=f"energy-ood data {self.name}: {how}")  # fmt: skip

    def describe(self) -> dict:
        return {
            "dataset": self.name,
            "source": self.source,
            "classes": self.classes,
            "n_train": len(self.x_train),
            "n_val": len(self.x_val),
            "n_test": len(self.x_test),
            "mean": self.mean,
            "std": self.std,
            "image_size": self.size,
            "channels": self.channels,
            "storage": "streamed from disk" if self.streaming else "in memory",
            **self.extra,
        }


def is_path(dataset: str) -> bool:
    """A data set given by path (has a path separator, a file suffix, or exists here and is
    not a named set)."""
    if dataset.lower() in available_datasets() and os.sep not in dataset and "/" not in dataset:
        return False
    p = Path(dataset).expanduser()
    return "/" in dataset or os.sep in dataset or p.suffix != "" or p.exists()


def _split(n: int, seed: int, val_fraction: float, train_limit: int | None):
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    if train_limit:
        if train_limit < 2:
            raise InputError(f"train_limit must be >= 2 (or absent), got {train_limit}")
        perm = perm[:train_limit]
    n_val = max(1, int(round(val_fraction * len(perm))))
    if n_val >= len(perm):
        raise InputError(f"{len(perm)} training images leave none after the validation split")
    return perm[n_val:], perm[:n_val], g


def _from_tensors(name, classes, source, x, y, xt, yt, seed, val_fraction, train_limit,
                  test_limit, extra=None, stats=None) -> IDData:  # fmt: skip
    """x, xt float in [0, 1] (N, C, H, W)."""
    if xt.shape[1:] != x.shape[1:]:
        raise InputError(
            f"{name}: test images are {tuple(xt.shape[1:])}, training images "
            f"{tuple(x.shape[1:])}; they must share one size and channel count"
        )
    for what, labels in (("training", y), ("test", yt)):
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(classes)):
            raise InputError(
                f"{name}: {what} label {int(labels.max())} outside the {len(classes)} classes"
            )
    tr_idx, val_idx, g = _split(len(x), seed, val_fraction, train_limit)
    if test_limit:
        keep = torch.randperm(len(xt), generator=g)[:test_limit]
        xt, yt = xt[keep], yt[keep]
    if stats is None:
        mean, std = channel_stats(x[tr_idx.sort().values])
    else:
        mean, std = (_per_channel(v, x.shape[1]) for v in stats)
    d = IDData(name, list(classes), str(source), mean, std, x[tr_idx], y[tr_idx], x[val_idx],
               y[val_idx], xt, yt, dict(extra or {}))  # fmt: skip
    d.x_train, d.x_val, d.x_test = d.normalize(d.x_train), d.normalize(d.x_val), d.normalize(xt)
    return d


def _held_out_test(n: int, seed: int, fraction: float = TEST_FRACTION):
    """A seeded split of ``range(n)`` into (rest, test) for sets without a test part."""
    perm = np.random.default_rng(seed + 7919).permutation(n)
    k = max(1, int(round(fraction * n)))
    if k >= n:
        raise InputError(f"{n} images are too few to hold out a test set")
    return np.sort(perm[k:]), np.sort(perm[:k])


def _arrays_as_lists(name, source, x, y, classes, xt, yt, transform: ImageTransform):
    """In-memory uint8 arrays behind the image-list interface, through ``transform``."""
    train = ArrayList(x, y, classes, transform, str(source))
    test = None if xt is None else ArrayList(xt, yt, classes, transform, str(source))
    return train, test


def _prepare_arrays(fmt, path, seed, val_fraction, train_limit, test_limit, transform,
                    stats, data_mode) -> IDData:  # fmt: skip
    x, y, classes, xt, yt = fmt.read_dataset(path)
    if transform is not None:  # a model's input size: decoded per image, as a folder is
        train, test = _arrays_as_lists(str(path), path, x, y, classes, xt, yt, transform)
        return _prepare_lists(str(path), path, train, test, seed, val_fraction, train_limit,
                              test_limit, data_mode, stats)  # fmt: skip
    extra = {}
    if xt is None:
        rest, test = _held_out_test(len(x), seed)
        x, y, xt, yt = x[rest], y[rest], x[test], y[test]
        extra["test_split"] = f"a seeded {TEST_FRACTION:.0%} of the images held out as test"

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float().div_(255.0)

    return _from_tensors(
        str(path), classes, path, t(x), torch.as_tensor(y).long(), t(xt),
        torch.as_tensor(yt).long(), seed, val_fraction, train_limit, test_limit, extra, stats,
    )  # fmt: skip


def _first_transform(src: Path, image_size, channels) -> ImageTransform:
    """The transform of a path data set: given sizes, else the first image's."""
    if image_size and channels:
        return ImageTransform(int(image_size), int(channels))
    probe = image_source(src, ImageTransform(1, 3))
    a = _first_image(probe)
    size = int(image_size or min(a.shape[:2]))
    return ImageTransform(size, int(channels or a.shape[2]))


def _first_image(ds: ImageList):
    """The first image of ``ds`` that decodes (under the bad-images policy ``skip``, the first
    ones may not: they are recorded when the list is screened)."""
    for i in range(len(ds)):
        try:
            return ds.image(i)
        except InputError:
            if bad_images.policy() == "error" or i == len(ds) - 1:
                raise
    raise InputError(f"{ds.source}: no images found")


def _prepare_images(path: Path, seed, val_fraction, train_limit, test_limit, transform,
                    stats, data_mode) -> IDData:  # fmt: skip
    split = path.is_dir() and (path / "train").is_dir() and (path / "test").is_dir()
    tr_path = path / "train" if split else path
    train = image_source(tr_path, transform)
    test = None
    if split:
        test = image_source(path / "test", transform)
        if test.classes != train.classes:
            raise InputError(f"{path}: train and test hold different class folders")
    return _prepare_lists(str(path), path, train, test, seed, val_fraction, train_limit,
                          test_limit, data_mode, stats)  # fmt: skip


def _prepare_lists(name, source, train: ImageList, test: ImageList | None, seed, val_fraction,
                   train_limit, test_limit, data_mode, stats) -> IDData:  # fmt: skip
    """Train / validation / test of image lists, in memory or streamed; ``stats`` (a model's
    mean and std) replace the training statistics when given."""
    extra = {"transform": train.transform.describe()}
    train, test = screen(train), None if test is None else screen(test)
    skipped = train.skipped + ([] if test is None else test.skipped)
    if skipped:
        extra["skipped_images"] = skipped
    if test is None:
        test = train
        tr_idx_all, te_idx_all = _held_out_test(len(train), seed)
        extra["test_split"] = f"a seeded {TEST_FRACTION:.0%} of the images held out as test"
    else:
        tr_idx_all, te_idx_all = np.arange(len(train)), None
    if stats is not None:
        extra["stats"] = "given by the model (not computed from the data)"
    if fits_in_memory(train, data_mode):
        x, y = materialize(train, tr_idx_all)
        xt, yt = materialize(test, te_idx_all)
        d = _from_tensors(name, train.classes, source, to_unit(x), y, to_unit(xt), yt, seed,
                          val_fraction, train_limit, test_limit, extra, stats)  # fmt: skip
    else:
        size = train.decoded_bytes() / 2**30
        log(f"{name}: {len(train)} images streamed from disk ({size:.1f} GB decoded)")
        d = _stream(name, train, test, tr_idx_all, te_idx_all, seed, val_fraction, train_limit,
                    test_limit, extra, stats)  # fmt: skip
    d.transform = train.transform
    return d


def _stream(name, train: ImageList, test: ImageList, tr_all, te_all, seed, val_fraction,
            train_limit, test_limit, extra, stats=None) -> IDData:  # fmt: skip
    tr_pos, val_pos, g = _split(len(tr_all), seed, val_fraction, train_limit)
    tr_idx, val_idx = tr_all[tr_pos.numpy()], tr_all[val_pos.numpy()]
    te_idx = np.arange(len(test)) if te_all is None else te_all
    if test_limit:
        te_idx = te_idx[torch.randperm(len(te_idx), generator=g)[:test_limit].numpy()]
    if stats is None:
        mean, std = image_stats(train, tr_idx, seed=seed)
        extra = {**extra, "stats": "mean/std over a seeded sample of up to 2000 training images"}
    else:
        mean, std = (_per_channel(v, train.transform.channels) for v in stats)
    xs = [StreamSplit(ds, i, mean, std) for ds, i in ((train, tr_idx), (train, val_idx),
                                                      (test, te_idx))]  # fmt: skip
    return IDData(name, train.classes, train.source, mean, std, xs[0], xs[0].labels, xs[1],
                  xs[1].labels, xs[2], xs[2].labels, extra)  # fmt: skip


def prepare_id(
    dataset: str,
    data_root=None,
    seed: int = 0,
    val_fraction: float = 0.1,
    train_limit: int | None = None,
    test_limit: int | None = None,
    image_size: int | None = None,
    channels: int | None = None,
    data_mode: str = "auto",
    preprocess=None,
    dataset_stats: bool = False,
) -> IDData:
    """Load an ID data set (a name or a path), split train/validation by seed, normalise with
    training statistics. ``preprocess`` (a model's ``energy_ood.models.Preprocess``) takes
    every image through that model's geometry (when it has a size) and its normalisation: its
    mean and std, or none ([0, 1] inputs) when it records none, unless ``dataset_stats``
    (the training statistics, as without a model)."""
    transform, stats = None, None
    if preprocess is not None:
        if preprocess.size is not None:
            transform = ImageTransform.from_preprocess(preprocess)
        if preprocess.mean is not None:
            stats = (list(preprocess.mean), list(preprocess.std))
        elif not dataset_stats:
            stats = ([0.0], [1.0])  # (x - 0) / 1 == x exactly: the [0, 1] images themselves
    if is_path(dataset):
        path = Path(dataset).expanduser()
        if not path.exists():
            raise InputError(f"{dataset}: no such data set file or folder")
        found = format_of(path, ("data set",))  # an .npz, a folder of IDX files
        if found is not None:
            return _prepare_arrays(found[0], path, seed, val_fraction, train_limit, test_limit,
                                   transform, stats, data_mode)  # fmt: skip
        transform = transform or _first_transform(path_of_train(path), image_size, channels)
        return _prepare_images(path, seed, val_fraction, train_limit, test_limit, transform,
                               stats, data_mode)  # fmt: skip
    tr = load_dataset(dataset, "train", data_root=data_root)
    te = load_dataset(dataset, "test", data_root=data_root)
    if transform is not None:
        train, test = _arrays_as_lists(tr.name, tr.source, tr.x, tr.y, tr.classes, te.x, te.y,
                                       transform)  # fmt: skip
        return _prepare_lists(tr.name, tr.source, train, test, seed, val_fraction, train_limit,
                              test_limit, data_mode, stats)  # fmt: skip
    x, y = tr.tensors()
    xt, yt = te.tensors()
    return _from_tensors(tr.name, tr.classes, tr.source, x, y, xt, yt, seed, val_fraction,
                         train_limit, test_limit, None, stats)  # fmt: skip


def path_of_train(path: Path) -> Path:
    split = path.is_dir() and (path / "train").is_dir() and (path / "test").is_dir()
    return path / "train" if split else path


def _per_channel(values, k: int) -> list[float]:
    v = [float(a) for a in values]
    return v * k if len(v) == 1 else v
