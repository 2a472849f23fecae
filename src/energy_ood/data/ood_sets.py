"""OOD test sets and auxiliary outlier sources as float32 tensors (N, C, H, W) in [0, 1].

scikit-image pictures (all bundled, none needs a download) are split into disjoint lists so an
auxiliary pool never shares a picture with a test set:

- ``scenes``: astronaut, camera, chelsea (= ``cat``), coffee, rocket
- ``scenes-aux``: motorcycle (left and right stereo views), clock, coins, hubble_deep_field,
  page, text
- ``textures``: brick, grass, gravel
- ``textures-aux``: moon, immunohistochemistry, cell

Crops are squares of 1/8 to 1/2 of the picture's shorter side, resized to ``size``
(the picture is scaled first, then a ``size`` square cropped).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .._progress import log
from .._validate import InputError
from . import transforms as T
from .datasets import load_dataset

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
NOISE_SETS = ("gaussian", "uniform", "rademacher")
CROP_FRACTIONS = (1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2)


def ood_set_names() -> list[str]:
    return sorted([*DATASET_SETS, *SKIMAGE_SETS, *NOISE_SETS])


def ood_sources(name: str) -> frozenset[str]:
    """Identifiers of the images a set draws from (two sets overlap if these intersect)."""
    if name in SKIMAGE_SETS:
        return frozenset(f"skimage:{i}" for i in SKIMAGE_SETS[name])
    if name in DATASET_SETS:
        ds, split, _ = DATASET_SETS[name]
        return frozenset({f"{ds}:{split}"})
    if name in NOISE_SETS:
        return frozenset({f"noise:{name}"})
    raise InputError(f"unknown OOD set {name!r}; choose from {', '.join(ood_set_names())}")


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


def _crops(names, n: int, size: int, g: torch.Generator) -> torch.Tensor:
    imgs = [im for im in map(_skimage, names) if im is not None]
    if not imgs:
        raise InputError(f"none of the scikit-image pictures {', '.join(names)} could be loaded")
    pick = torch.randint(len(imgs), (n,), generator=g)
    frac = torch.randint(len(CROP_FRACTIONS), (n,), generator=g)
    out = torch.empty(n, 3, size, size)
    for i, im in enumerate(imgs):
        h, w = im.shape[1:]
        for j, f in enumerate(CROP_FRACTIONS):
            sel = torch.nonzero((pick == i) & (frac == j)).flatten()
            if len(sel):  # a crop of side s resized to size == a size crop of the image scaled
                scale = size / min(min(h, w), max(size, int(f * min(h, w))))
                small = T.resize(
                    im[None], (max(size, round(h * scale)), max(size, round(w * scale)))
                )
                crops = T.random_crop(small.expand(len(sel), -1, -1, -1), size, generator=g)
                out[sel] = T.to_rgb(crops)
    return out


def ood_set_size(name: str, data_root=None, cache_dir=None) -> int | None:
    """How many images a set holds; None for the unlimited ones (crops, noise)."""
    if name not in DATASET_SETS:
        ood_sources(name)
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
) -> torch.Tensor:
    """``n`` images of OOD set ``name`` (:func:`ood_set_names`), deterministic given ``seed``.

    Returns float32 (n, channels, size, size) in [0, 1]. Data-set-backed sets draw ``n``
    distinct images; asking for more than the set holds is an error.
    """
    ood_sources(name)
    if int(n) < 1:
        raise InputError(f"{name}: need n >= 1 images, got {n}")
    n, g = int(n), torch.Generator().manual_seed(int(seed))
    if channels not in (1, 3) or int(size) < 1:
        raise InputError(f"{name}: need channels 1 or 3 and size >= 1, got {channels}, {size}")
    shape = (n, channels, size, size)
    if name == "gaussian":
        return (0.5 + 0.25 * torch.randn(shape, generator=g)).clamp_(0.0, 1.0)
    if name == "uniform":
        return torch.rand(shape, generator=g)
    if name == "rademacher":
        return (torch.rand(shape, generator=g) < 0.5).float()
    if name in SKIMAGE_SETS:
        return T.to_channels(_crops(SKIMAGE_SETS[name], n, size, g), channels)
    ds, split, grey = DATASET_SETS[name]
    data = load_dataset(ds, split, data_root=data_root, cache_dir=cache_dir)
    if n > len(data):
        raise InputError(f"{name}: asked for {n} images, the {ds} {split} set holds {len(data)}")
    x, _ = data.subset(torch.randperm(len(data), generator=g)[:n].numpy()).tensors()
    x = T.resize(T.to_grey(x) if grey else x, size)
    return T.to_channels(x, channels).contiguous()
