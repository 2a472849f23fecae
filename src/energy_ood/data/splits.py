"""Index splits (hold-out class, validation) and the auxiliary outlier pool."""

from __future__ import annotations

import numpy as np
import torch

from .._validate import InputError
from .ood_sets import id_family, load_ood_set, ood_family, ood_set_size


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


def _allocate(n: int, caps: list[int | None]) -> list[int]:
    """Split ``n`` evenly over sources, capped sources giving their excess to the others."""
    counts, open_ = [0] * len(caps), list(range(len(caps)))
    left = n
    while left and open_:
        share, extra = divmod(left, len(open_))
        for j, i in enumerate(list(open_)):
            want = share + (j < extra)
            room = want if caps[i] is None else min(want, caps[i] - counts[i])
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
    OOD test set or the ID data.

    ``cifar10-train-grey`` with a ``cifar10-grey`` test set is refused (one data set), and so is
    ``scenes-aux`` with ``scenes`` (one package's pictures); ``cifar10-train-grey`` with
    ``scenes`` is fine.
    """

    def __init__(self, source_names, test_set_names=(), id_dataset: str | None = None):
        self.sources = list(dict.fromkeys(source_names))
        self.test_sets = list(test_set_names)
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
        """``n`` outliers (float32 (n, C, size, size) in [0, 1]) spread evenly over the sources,
        shuffled, deterministic given ``seed``."""
        if int(n) < 1:
            raise InputError(f"need n >= 1 auxiliary outliers, got {n}")
        caps = [ood_set_size(s, data_root, cache_dir) for s in self.sources]
        counts = _allocate(int(n), caps)
        parts = [
            load_ood_set(s, k, size, channels, seed + 1009 * i, data_root, cache_dir, transform)
            for i, (s, k) in enumerate(zip(self.sources, counts))
            if k
        ]
        x = torch.cat(parts)
        return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))]
