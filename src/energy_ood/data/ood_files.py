"""OOD images from a user's files: a flat image folder (or one with sub-folders), a ``.tar``
shard, a file list, an IDX images file or a ``.npz`` (key ``x`` or ``images``).

Images follow the run's ID transform: shorter side resized to the ID size, centre crop, and
the ID channel count (grey <-> RGB by BT.601 luma / replication). Returns float32 (n, C, size,
size) in [0, 1]; with ``n`` smaller than the set, a seeded draw without replacement.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .._validate import InputError
from . import transforms as T
from .arrays import read_npz
from .idx import read_idx
from .streaming import ImageTransform, image_source, materialize, to_unit


def _arrays(path: Path) -> torch.Tensor:
    """uint8 (N, C, H, W) of an IDX images file or an npz."""
    if path.suffix.lower() == ".npz":
        x, _, _ = read_npz(path)
    else:
        x = read_idx(path)
        if x.dtype != np.uint8 or x.ndim not in (3, 4):
            raise InputError(f"{path}: expected uint8 images (N, H, W[, C]) in the IDX file")
        x = x[..., None] if x.ndim == 3 else x
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)


def ood_file_size(path) -> int:
    """How many images the source holds."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() in (".tar", ".txt", ".lst"):
        return len(image_source(path, ImageTransform(1, 1), flat=_flat(path)))
    return len(_arrays(path))


def _flat(path: Path) -> bool:
    return path.is_dir() and not any(p.is_dir() for p in path.iterdir())


def load_ood_path(
    path, n: int | None, size: int, channels: int, seed: int = 0, transform=None
) -> torch.Tensor:
    """``n`` images (all when None) of the OOD source at ``path``, in the ID transform
    (``transform``, an ImageTransform, e.g. a model's; else shorter side to ``size``)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{path}: no such OOD file or folder")
    g = torch.Generator().manual_seed(int(seed))
    if path.is_dir() or path.suffix.lower() in (".tar", ".txt", ".lst"):
        transform = transform or ImageTransform(int(size), int(channels))
        ds = image_source(path, transform, flat=_flat(path))
        x, _ = materialize(ds, _draw(len(ds), n, g, path))
        return to_unit(x)
    x = _arrays(path)
    x = x[torch.as_tensor(_draw(len(x), n, g, path))]
    if x.shape[1] not in (1, 3):
        raise InputError(f"{path}: images need 1 or 3 channels, got {x.shape[1]}")
    if transform is not None and transform.preprocess is not None:  # a model's recipe
        return to_unit(torch.stack([transform(a) for a in x.permute(0, 2, 3, 1).numpy()]))
    x = x.float().div_(255.0)
    x = T.to_channels(x, int(channels))
    h, w = x.shape[-2:]
    if (h, w) != (size, size):
        s = size / min(h, w)
        x = T.resize(x, (max(size, round(h * s)), max(size, round(w * s))))
        top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
        x = x[..., top : top + size, left : left + size]
    return x.contiguous()


def _draw(total: int, n: int | None, g: torch.Generator, path) -> np.ndarray:
    if total == 0:
        raise InputError(f"{path}: no images")
    if n is None or n >= total:
        if n is not None and n > total:
            raise InputError(f"{path}: asked for {n} images, it holds {total}")
        return np.arange(total)
    if n < 1:
        raise InputError(f"{path}: need n >= 1 images, got {n}")
    return np.sort(torch.randperm(total, generator=g)[:n].numpy())
