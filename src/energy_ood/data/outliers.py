"""Outliers drawn for training or validation (auxiliary and margin-validation outliers), with a
record of what they are made of.

Unlike an OOD test set, an outlier draw knows the in-distribution data set: pictures of its
classes are left out (:mod:`.id_classes`), and crops are distinct pixel for pixel, so the pool
size a report states is the number of different images the model sees. The record names, per
source, its family, the pictures it holds (after the ID-class pictures are left out), how many
of them gave a crop, the crops taken and the pictures left out with the reason.
"""

from __future__ import annotations

import torch

from . import transforms as T
from .crops import distinct_crops
from .id_classes import split_id_class_pictures
from .ood_sets import (
    DATASET_SETS,
    PACKAGED_SETS,
    SKIMAGE_SETS,
    load_ood_set,
    named_pictures,
    ood_set_size,
)
from .sources import is_path_source, ood_family, source_info


def is_crop_source(name: str) -> bool:
    """A source whose images are crops of a fixed list of pictures."""
    return not is_path_source(name) and (name in SKIMAGE_SETS or name in PACKAGED_SETS)


def kept_pictures(name: str, data_root=None, id_dataset: str | None = None) -> tuple:
    """``(kept, left_out)``: a crop source's ``[(name, picture)]`` without the pictures of
    ``id_dataset``'s classes, and ``{name: reason}`` of those."""
    return split_id_class_pictures(name, named_pictures(name, data_root), id_dataset)


def picture_count(name: str, data_root=None, cache_dir=None, id_dataset=None) -> int | None:
    """How many distinct pictures (or images) a source offers as outliers; None for noise."""
    if is_crop_source(name):
        return len(kept_pictures(name, data_root, id_dataset)[0])
    return ood_set_size(name, data_root, cache_dir)


def sample_outliers(
    name: str,
    n: int,
    size: int,
    channels: int,
    seed: int,
    data_root=None,
    cache_dir=None,
    transform=None,
    id_dataset: str | None = None,
) -> tuple[torch.Tensor, dict]:
    """``n`` outliers of source ``name`` (float32 (n, channels, size, size) in [0, 1]) and the
    record of the draw; deterministic given ``seed``."""
    info = source_info(name)
    rec = {"source": name, "family": info.family, "crops": int(n), "left_out": {}}
    if not is_crop_source(name):
        x = load_ood_set(name, n, size, channels, seed, data_root, cache_dir, transform)
        distinct = name in DATASET_SETS or is_path_source(name)  # each image drawn once
        rec.update(pictures=ood_set_size(name, data_root, cache_dir), distinct=distinct)
        rec["pictures_used"] = int(n) if distinct else None
        return x, rec
    kept, left_out = kept_pictures(name, data_root, id_dataset)
    if not kept:
        from .._validate import InputError

        raise InputError(f"{name}: every picture shows a class of {id_dataset}")
    g = torch.Generator().manual_seed(int(seed))
    crops, per_picture = distinct_crops([im for _, im in kept], int(n), int(size), g)
    rec.update(pictures=len(kept), pictures_used=sum(c > 0 for c in per_picture),
               distinct=True, left_out=left_out)  # fmt: skip
    return T.to_channels(crops, channels).clamp_(0.0, 1.0), rec


def pool_record(records: list[dict]) -> dict:
    """The summary of a pool drawn from several sources: totals and the per-source records."""
    used, held = [r["pictures_used"] for r in records], [r["pictures"] for r in records]
    return {
        "n": sum(r["crops"] for r in records),
        "families": sorted({ood_family(r["source"]) for r in records}),
        "pictures": None if None in held else sum(held),
        "pictures_used": None if None in used else sum(used),
        "distinct": all(r["distinct"] for r in records),
        "sources": records,
    }
