"""OOD test sets and auxiliary outlier sources as float32 tensors (N, C, H, W) in [0, 1].

Every source carries a **family**: the same distribution is the same family. Crops of the
same photo or of pictures from the same package are one family, the train and test splits of a
data set are one family, and i.i.d. pixel noise of any law is one family. A benchmark refuses an
auxiliary source whose family is also an OOD test set's (:class:`~.splits.AuxiliaryPool`), so a
fine-tuned model is never tested on the distribution its outliers came from.

scikit-image's bundled pictures are ONE family ("scikit-image"), although ``scenes`` and
``scenes-aux`` hold different photos: they are one curated collection from one package (scanned
and processed alike), and the audit of the earlier reports found that fine-tuning on ``-aux``
crops made the matching test crops trivially easy (FPR95 0.00-0.23). ``textures`` and
``textures-aux`` are the same family for the same reason.

Crops are squares of 1/8 to 1/2 of the picture's shorter side (at least ``size`` pixels),
resized to ``size``. The data table of every source, with its licence, is
:data:`energy_ood.data.source_table.SOURCES`; what a name or path is, and its family, is the
source map's (:mod:`energy_ood.data.sources`).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .._validate import InputError
from ..runtime.progress import log
from . import transforms as T
from .crops import CROP_FRACTIONS, random_crops  # noqa: F401  (CROP_FRACTIONS re-exported)
from .datasets import load_dataset
from .packaged import PACKAGES, load_named_pictures
from .sources import is_path_source, ood_family, source_info

SKIMAGE_SETS = {
    "scenes": ("astronaut", "camera", "chelsea", "coffee", "rocket"),
    "scenes-aux": (
        *("motorcycle_left", "motorcycle_right", "clock", "coins"),
        *("hubble_deep_field", "page", "text"),
    ),
    "textures": ("brick", "grass", "gravel"),
    "textures-aux": ("moon", "immunohistochemistry", "cell"),
}
DATASET_SETS = {  # name: (data set, split, grey)
    "mnist": ("mnist", "test", False),
    "cifar10-grey": ("cifar10", "test", True),
    "cifar10-train-grey": ("cifar10", "train", True),
}
PACKAGED_SETS = (*PACKAGES, "sklearn-photos")
NOISE_SETS = ("gaussian", "uniform", "rademacher")


def ood_sources(name: str) -> frozenset[str]:
    """Identifiers of the images a set draws from (two sets share images if these intersect);
    sharing a *family* (:func:`ood_family`) is the stricter test that protocols apply."""
    source_info(name)
    if name in SKIMAGE_SETS:
        return frozenset(f"skimage:{i}" for i in SKIMAGE_SETS[name])
    if name in DATASET_SETS:
        ds, split, _ = DATASET_SETS[name]
        return frozenset({f"{ds}:{split}"})
    return frozenset({f"{ood_family(name)}:{name}"})


@functools.cache
def _skimage(name: str) -> torch.Tensor | None:
    """A scikit-image picture as float (C, H, W) in [0, 1], or None if it does not load."""
    import skimage.data

    try:
        if name.startswith("motorcycle_"):
            a = skimage.data.stereo_motorcycle()[0 if name.endswith("left") else 1]
        else:
            a = getattr(skimage.data, name)()
    except Exception as e:  # a missing file or the optional downloader (pooch) is absent
        log(f"scikit-image picture {name!r} unavailable ({type(e).__name__}: {e})")
        return None
    a = np.asarray(a)
    a = a[..., None] if a.ndim == 2 else a[..., :3]
    scale = 255.0 if a.dtype == np.uint8 else 1.0
    return torch.from_numpy(a.astype(np.float32) / scale).permute(2, 0, 1).contiguous()


@functools.cache
def _packaged(name: str, data_root: str | None) -> tuple[tuple[str, torch.Tensor], ...]:
    return tuple(load_named_pictures(name, data_root))


def named_pictures(name: str, data_root=None) -> list[tuple[str, torch.Tensor]]:
    """``(name, picture)`` of every picture a crop source (scikit-image or packaged) holds."""
    if name in SKIMAGE_SETS:
        named = [(n, _skimage(n)) for n in SKIMAGE_SETS[name]]
        named = [(n, im) for n, im in named if im is not None]
        if not named:
            names = ", ".join(SKIMAGE_SETS[name])
            raise InputError(f"none of the scikit-image pictures {names} loaded")
        return named
    if name in PACKAGED_SETS:
        return list(_packaged(name, None if data_root is None else str(data_root)))
    raise InputError(f"{name}: not a set of pictures to crop")


def ood_set_size(name: str, data_root=None, cache_dir=None) -> int | None:
    """How many images a set holds; None for the unlimited ones (crops, noise)."""
    if is_path_source(name):
        from .ood_files import ood_file_size

        return ood_file_size(name)
    if name not in DATASET_SETS:
        source_info(name)
        return None
    ds, split, _ = DATASET_SETS[name]
    return len(load_dataset(ds, split, data_root=data_root, cache_dir=cache_dir))


def load_ood_set(
    name: str,
    n: int,
    size: int = 28,
    channels: int = 1,
    seed: int = 0,
    data_root=None,
    cache_dir=None,
    transform=None,
) -> torch.Tensor:
    """``n`` images of OOD set ``name`` (:func:`ood_set_names`), deterministic given ``seed``.

    Returns float32 (n, channels, size, size) in [0, 1]. Data-set-backed sets draw ``n``
    distinct images; asking for more than the set holds is an error.
    """
    source_info(name)
    if int(n) < 1:
        raise InputError(f"{name}: need n >= 1 images, got {n}")
    n, g = int(n), torch.Generator().manual_seed(int(seed))
    if channels not in (1, 3) or int(size) < 1:
        raise InputError(f"{name}: need channels 1 or 3 and size >= 1, got {channels}, {size}")
    if is_path_source(name):
        from .ood_files import load_ood_path

        return load_ood_path(name, n, size, channels, seed, transform)
    shape = (n, channels, size, size)
    if name == "gaussian":
        return (0.5 + 0.25 * torch.randn(shape, generator=g)).clamp_(0.0, 1.0)
    if name == "uniform":
        return torch.rand(shape, generator=g)
    if name == "rademacher":
        return (torch.rand(shape, generator=g) < 0.5).float()
    if name in SKIMAGE_SETS or name in PACKAGED_SETS:
        imgs = [im for _, im in named_pictures(name, data_root)]
        return T.to_channels(random_crops(imgs, n, size, g), channels).clamp_(0.0, 1.0)
    ds, split, grey = DATASET_SETS[name]
    data = load_dataset(ds, split, data_root=data_root, cache_dir=cache_dir)
    if n > len(data):
        raise InputError(f"{name}: asked for {n} images, the {ds} {split} set holds {len(data)}")
    x, _ = data.subset(torch.randperm(len(data), generator=g)[:n].numpy()).tensors()
    x = T.resize(T.to_grey(x) if grey else x, size)
    return T.to_channels(x, channels).contiguous()
