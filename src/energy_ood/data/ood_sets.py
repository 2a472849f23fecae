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
resized to ``size``. The data table of every source, with its licence, is :data:`SOURCES`
(rendered by :func:`data_table`).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._validate import InputError
from ..runtime.progress import log
from . import transforms as T
from .crops import CROP_FRACTIONS, random_crops  # noqa: F401  (CROP_FRACTIONS re-exported)
from .datasets import load_dataset
from .packaged import PACKAGES, load_named_pictures

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


@dataclass(frozen=True)
class Source:
    """One OOD test set or outlier source: its family, kind, origin and licence."""

    family: str
    kind: str  # "natural" (real images: photos, textures, handwriting) or "noise" (synthetic)
    content: str
    origin: str
    licence: str


_SKI = ("scikit-image", "natural", "PyPI scikit-image (skimage.data)", "CC0 / public domain")
SOURCES: dict[str, Source] = {
    "mnist": Source("mnist", "natural", "MNIST test digits (10,000)",
                    "yann.lecun.com / --data-root", "CC BY-SA 3.0"),
    "cifar10-grey": Source("cifar10", "natural", "CIFAR-10 test photos, grey (10,000)",
                           "cs.toronto.edu / --data-root (JPEG copy)", "no licence stated"),
    "cifar10-train-grey": Source("cifar10", "natural", "CIFAR-10 train photos, grey (50,000)",
                                 "cs.toronto.edu / --data-root (JPEG copy)", "no licence stated"),
    "scenes": Source(_SKI[0], _SKI[1], "crops of 5 photos (astronaut, camera, cat, coffee, "
                     "rocket)", _SKI[2], _SKI[3]),
    "scenes-aux": Source(_SKI[0], _SKI[1], "crops of 7 other pictures (motorcycle pair, clock, "
                         "coins, Hubble deep field, page, text)", _SKI[2], _SKI[3]),
    "textures": Source(_SKI[0], _SKI[1], "crops of 3 texture photos (brick, grass, gravel)",
                       _SKI[2], _SKI[3]),
    "textures-aux": Source(_SKI[0], _SKI[1], "crops of moon, immunohistochemistry, cell",
                           _SKI[2], _SKI[3]),
    "mate-nature": Source("mate-backgrounds", "natural", "crops of 12 nature photographs "
                          "(flowers, dune, storm, wood, rain drops, ...)",
                          "Debian mate-backgrounds (/usr/share/backgrounds/mate/nature)",
                          "GPL-2+"),
    "gimp-textures": Source("gimp-data", "natural", "crops of 43 photographed surface patterns "
                            "(bark, leather, marble, sky, water, ...; 'Legacy' drawings left out)",
                            "Debian gimp-data (/usr/share/gimp/2.0/patterns)",
                            "GPL-3+ (package's Files: * stanza)"),
    "sklearn-photos": Source("scikit-learn-images", "natural", "crops of 2 photos (china "
                             "temple, flower)", "PyPI scikit-learn (load_sample_images)",
                             "CC BY 2.0"),
    "lomiri-photos": Source("lomiri-wallpapers", "natural", "crops of 12 photographs "
                            "(mountains, a river, a sunset, dandelions, brushes, a fig, wine, "
                            "a dragonfly, ...; two with dogs or a bird and one rendered "
                            "gradient left out)", "Debian lomiri-wallpapers-16.04 "
                            "(/usr/share/backgrounds)", "CC BY 4.0, CC BY-SA 4.0, CC0 1.0 "
                            "(per file)"),
    "lxqt-photos": Source("lxqt-themes", "natural", "crops of 11 nature photographs (clouds, "
                          "mountains, fog, a meadow, butterflies, blossoms, a water drop; the "
                          "rendered wallpapers left out)", "Debian lxqt-themes "
                          "(/usr/share/lxqt/wallpapers)", "CC BY-SA 3.0 (wallpapers/License)"),
    "tuxtype-space": Source("tuxtype-data", "natural", "crops of 5 space photographs (a "
                            "barred spiral galaxy, the Helix nebula, the Sombrero galaxy, "
                            "Saturn, a sunset on Mars)", "Debian tuxtype-data "
                            "(/usr/share/tuxtype/images/backgrounds)", "GPL-2 (package)"),
    "tuxpaint-stamps": Source("tuxpaint", "natural", "crops of 626 stamps: photos and "
                              "drawings of animals, plants, food, tools, buildings, signs, "
                              "coins (cut out, on white; alphabet glyphs and mirrored copies "
                              "left out)", "Debian tuxpaint-stamps-default "
                              "(/usr/share/tuxpaint/stamps)", "GPL-2"),
    "ukui-wallpapers": Source("ukui-wallpapers", "natural", "crops of 12 rendered wallpapers "
                              "(abstract shapes and gradients, a goldfish, a mouse)",
                              "Debian ukui-wallpapers (/usr/share/backgrounds)", "CC BY-SA 3.0"),
    "mypaint-paper": Source("mypaint", "natural", "crops of 17 scanned paper and canvas "
                            "textures", "Debian mypaint-data-extras "
                            "(/usr/share/mypaint/backgrounds)", "CC0 1.0"),
    "gaussian": Source("pixel-noise", "noise", "N(0.5, 0.25^2) per pixel, clipped", "generated",
                       "-"),
    "uniform": Source("pixel-noise", "noise", "U(0, 1) per pixel", "generated", "-"),
    "rademacher": Source("pixel-noise", "noise", "0 or 1 per pixel", "generated", "-"),
}  # fmt: skip
ID_FAMILIES = {  # in-distribution data sets (load_dataset names) and their families
    "fashion-mnist": "fashion-mnist",
    "mnist": "mnist",
    "cifar10": "cifar10",
    "digits": "sklearn-digits",
}


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
