"""Data taken through a loaded model's recipe: an ID data set (``prepare_for_model(lm,
dataset)``) and new images for a detector that holds a model (:func:`model_inputs`).

The one place where a model from outside (``--model SPEC``, a ``[model]`` config, finetune's
``Pretrained``) meets its data: the normalisation is resolved (``--normalize``), the data set is
split and decoded through the model's geometry with that normalisation, and the model's
``preprocess`` is set to exactly what the data went through, so that
``lm.model(lm.preprocess(images))`` and every command give the same inputs for the same images.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .._validate import InputError
from ..io.regular_files import read_regular
from ..models.normalization import resolve_normalization
from ..models.preprocess import normalize_inputs
from .prepare import IDData, is_path, prepare_id
from .sources import format_of, is_flat, load_array
from .streaming import ImageTransform, StreamSplit, image_source, screen


def prepare_for_model(
    lm, dataset: str, data_root=None, seed: int = 0, *, normalize=None, class_names=None,
    **prepare_kw,
) -> IDData:  # fmt: skip
    """The ID data of ``dataset`` as model inputs of ``lm`` (a ``LoadedModel``, whose
    ``preprocess`` and ``arch`` record are updated to the resolved normalisation); ``normalize``
    as ``--normalize`` (None: the default of ``energy_ood.models.normalization``);
    ``class_names`` (a file, one name per line, or a list) the model's classes in the order of
    its outputs: the data set's labels are renumbered to match (:func:`align_classes`)."""
    norm = resolve_normalization(normalize, lm.preprocess)
    data = prepare_id(dataset, data_root, seed, preprocess=norm.preprocess,
                      dataset_stats=norm.dataset, **prepare_kw)  # fmt: skip
    if norm.dataset:
        norm = norm.with_stats(data.mean, data.std)
    pp = norm.preprocess
    if pp.size is None and data.transform is not None:  # the geometry the data went through
        pp = replace(data.transform.recipe(), mean=pp.mean, std=pp.std, source=pp.source)
    norm = replace(norm, preprocess=pp)
    lm.preprocess = pp
    if "preprocess" in lm.arch:
        lm.arch["preprocess"] = pp.to_dict()
    lm.normalization = norm.record()
    data.extra["normalize"], data.extra["normalization"] = norm.mode, norm.note
    if not norm.dataset:
        data.extra.pop("stats", None)
    if class_names is not None:
        names = class_names if isinstance(class_names, list) else read_class_names(class_names)
        align_classes(data, names, str(class_names) if not isinstance(class_names, list) else "")
    elif is_path(dataset) and not all(c.isdigit() for c in data.classes):
        data.extra["class_order"] = (
            "a guess: the sorted folder (class) names; if the model's outputs are in another "
            "order, give --class-names FILE"
        )
    return data


def read_class_names(path) -> list[str]:
    """One class name per line (blank lines and '#' comments skipped), in output order."""
    try:
        text = read_regular(path, "class names file").decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file of class names") from None
    names = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not names:
        raise InputError(f"{path}: no class names in it (one per line)")
    return names


def align_classes(data: IDData, names: list[str], where: str = "") -> None:
    """Renumber ``data``'s labels so that class ``names[i]`` is label i (the model's output
    i). The names must be the data set's classes, each once, in any order."""
    where = where or "class names"
    if len(names) != len(data.classes):
        raise InputError(
            f"{where}: {len(names)} class names, the data set has {len(data.classes)} classes "
            f"({', '.join(data.classes[:10])}{', ...' if len(data.classes) > 10 else ''})"
        )
    dup = sorted({n for n in names if names.count(n) > 1})
    unknown = [n for n in names if n not in data.classes]
    if dup or unknown:
        what = f"{dup[0]!r} is listed twice" if dup else f"{unknown[0]!r} is not a class of it"
        raise InputError(f"{where}: {what} (the data set's classes: {', '.join(data.classes)})")
    perm = np.array([names.index(c) for c in data.classes], dtype=np.int64)
    lists = {}
    for x in (data.x_train, data.x_val, data.x_test):
        if hasattr(x, "ds"):  # streamed: the image lists hold the labels
            lists[id(x.ds)] = x.ds
    for ds in lists.values():
        ds.labels = perm[ds.labels]
    t = torch.from_numpy(perm)
    data.y_train, data.y_val, data.y_test = t[data.y_train], t[data.y_val], t[data.y_test]
    data.classes = list(names)
    data.extra["class_order"] = f"from {where} (the model's output order)"


def _unit_images(a: np.ndarray, p: Path, channels: int, size: int) -> torch.Tensor:
    """Images (N, C, size, size) with values in [0, 1], as the model's recipe expects; other
    sizes, channel counts and value ranges (0..255, a pixel of 7.0, NaN) are one line."""
    want = f"images (N, {channels}, {size}, {size}) in [0, 1]"
    if a.ndim != 4 or a.shape[1] != channels or a.shape[2:] != (size, size):
        raise InputError(f"{p}: expected {want}, got shape {tuple(a.shape)}")
    if a.size == 0:
        raise InputError(f"{p}: no images")
    if a.dtype.kind in "biu":
        hint = "; divide by 255 first" if a.dtype == np.uint8 else ""
        raise InputError(f"{p}: expected {want} as floats, got {a.dtype}{hint}")
    x = torch.as_tensor(np.asarray(a, dtype=np.float32))
    lo, hi = (float(v) for v in torch.aminmax(x))  # one pass; NaN propagates to both
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError(f"{p}: {int((~torch.isfinite(x)).sum())} NaN or inf pixel value(s)")
    if lo < 0 or hi > 1:
        hint = "; divide by 255 first" if hi <= 255 and lo >= 0 else ""
        raise InputError(f"{p}: expected {want}, got values in [{lo:g}, {hi:g}]{hint}")
    return x


def model_inputs(path, transform: ImageTransform, mean, std, device):
    """Normalised model inputs from ``path`` (what a detector that holds a model takes): an
    array of images (N, C, H, W) in [0, 1] (.npy, .npz, .pt), or image files (a folder, .tar
    shard or file list) through ``transform``, streamed."""
    p = Path(path)
    if format_of(p, ("image arrays",)) is not None:
        x = _unit_images(load_array(p), p, len(mean), transform.size)
        return normalize_inputs(x, mean, std)
    if not p.exists():
        raise InputError(f"{p}: no such image folder or file")
    ds = screen(image_source(p, transform, flat=is_flat(p)))
    return StreamSplit(ds, None, mean, std, device)
