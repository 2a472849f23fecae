"""Index splits (hold-out class, validation) and the auxiliary outlier pool."""

from __future__ import annotations

import numpy as np
import torch

from .._validate import InputError
from .outliers import is_crop_source, picture_count, pool_record, sample_outliers
from .sources import id_family, ood_family


def holdout_class_split(y, held_out_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of samples not in ``held_out_class`` and a label map to 0..K-2.

    Returns ``(idx, remap)``: ``remap[label]`` is the new label, -1 for the held-out class.
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise InputError(f"labels must be a non-empty 1-D array of labels >= 0, got {y.shape}")
    k = int(y.max()) + 1
    c = int(held_out_class)
    if not 0 <= c < k or not (y == c).any():
        raise InputError(
            f"held-out class {held_out_class} does not occur in the labels (0..{k - 1})"
        )
    remap = np.full(k, -1, dtype=np.int64)
    keep = np.arange(k) != c
    remap[keep] = np.arange(k - 1)
    return np.flatnonzero(y != c), remap


def validation_split(n: int, frac: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, val_idx)``: a random ``frac`` of ``range(n)`` (at least one) held out."""
    if not 0.0 < float(frac) < 1.0:
        raise InputError(f"validation fraction must be in (0, 1), got {frac}")
    if int(n) < 2:
        raise InputError(f"need at least 2 samples to split off a validation part, got {n}")
    perm = np.random.default_rng(seed).permutation(int(n))
    n_val = min(int(n) - 1, max(1, round(frac * int(n))))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _allocate(n: int, caps: list[int | None], weights: list[int] | None = None) -> list[int]:
    """Split ``n`` over sources in proportion to ``weights`` (evenly without), largest
    remainders first; capped sources give their excess to the others."""
    weights = weights or [1] * len(caps)
    counts, open_ = [0] * len(caps), [i for i in range(len(caps)) if weights[i] > 0]
    left = n
    while left and open_:
        total = sum(weights[i] for i in open_)
        raw = [left * weights[i] / total for i in open_]
        share = [int(r) for r in raw]
        for k in sorted(range(len(open_)), key=lambda k: share[k] - raw[k])[: left - sum(share)]:
            share[k] += 1  # sorted() is stable: among equal remainders, the first sources
        for k, i in enumerate(list(open_)):
            room = share[k] if caps[i] is None else min(share[k], caps[i] - counts[i])
            counts[i] += room
            left -= room
            if caps[i] is not None and counts[i] >= caps[i]:
                open_.remove(i)
    if left:
        raise InputError(f"auxiliary sources hold {n - left} images, {n} requested")
    return counts


def check_families(aux, test_sets=(), id_dataset: str | None = None) -> None:
    """Refuse an auxiliary source whose family (:func:`~.ood_sets.ood_family`) is an OOD test
    set's or the in-distribution data's: one line naming both."""
    for s in aux:
        fam = ood_family(s)
        if id_dataset is not None and fam == id_family(id_dataset):
            raise InputError(f"auxiliary source {s!r} is the in-distribution data's family ({fam})")
        for t in test_sets:
            if ood_family(t) == fam:
                raise InputError(
                    f"auxiliary source {s!r} and OOD test set {t!r} are one family ({fam}): "
                    "outliers must come from another distribution than every test set"
                )


class AuxiliaryPool:
    """Auxiliary outliers from ``source_names``, refused if any shares a *family* (the same
    distribution: crops of one photo or package, splits of one data set, pixel noise) with an
    OOD test set or the ID data; pictures of the ID data's classes are left out
    (:mod:`.id_classes`) and crops are distinct (:mod:`.outliers`).

    ``cifar10-train-grey`` with a ``cifar10-grey`` test set is refused (one data set), and so is
    ``scenes-aux`` with ``scenes`` (one package's pictures); ``cifar10-train-grey`` with
    ``scenes`` is fine. After :meth:`sample`, ``record`` says what the pool is made of.
    """

    def __init__(self, source_names, test_set_names=(), id_dataset: str | None = None):
        self.sources = list(dict.fromkeys(source_names))
        self.test_sets = list(test_set_names)
        self.id_dataset = id_dataset
        self.record: dict | None = None
        if not self.sources:
            raise InputError("the auxiliary pool needs at least one source")
        check_families(self.sources, self.test_sets, id_dataset)

    def sample(
        self,
        n: int,
        size: int,
        channels: int,
        seed: int = 0,
        data_root=None,
        cache_dir=None,
        transform=None,
    ) -> torch.Tensor:
        """``n`` outliers (float32 (n, C, size, size) in [0, 1]) spread over the sources in
        proportion to the distinct pictures (or images) each holds, so every source picture is
        equally likely (evenly when a source has no count, e.g. noise); shuffled,
        deterministic given ``seed``."""
        if int(n) < 1:
            raise InputError(f"need n >= 1 auxiliary outliers, got {n}")
        counts_ = [picture_count(s, data_root, cache_dir, self.id_dataset) for s in self.sources]
        for s, c in zip(self.sources, counts_):
            if c == 0:
                raise InputError(f"auxiliary source {s!r}: no picture left (every one shows a "
                                 f"class of {self.id_dataset})")  # fmt: skip
        caps = [None if is_crop_source(s) else c for s, c in zip(self.sources, counts_)]
        weights = None if None in counts_ else counts_
        counts = _allocate(int(n), caps, weights)
        parts, records = [], []
        for i, (s, k) in enumerate(zip(self.sources, counts)):
            if k:
                x, rec = sample_outliers(s, k, size, channels, seed + 1009 * i, data_root,
                                         cache_dir, transform, self.id_dataset)  # fmt: skip
                parts.append(x)
                records.append(rec)
        self.record = pool_record(records)
        x = torch.cat(parts)
        return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))]
