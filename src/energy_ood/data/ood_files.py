"""OOD images from a user's files: a flat image folder (or one with sub-folders), a ``.tar``
shard or a folder of them, a file list (``.txt``, ``.lst``, ``.csv``), an IDX images file or a
``.npz`` (key ``x`` or ``images``).

Images follow the run's ID transform: shorter side resized to the ID size, centre crop, and
the ID channel count (grey <-> RGB by BT.601 luma / replication). Returns float32 (n, C, size,
size) in [0, 1]; with ``n`` smaller than the set, a seeded draw without replacement. Image
files that cannot be used stop the command, or are left out and recorded under the bad-images
policy ``skip``. A path that is none of these is refused, naming what it is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .._validate import InputError
from ..io.regular_files import open_regular
from . import transforms as T
from .arrays import check_held, read_npz
from .idx import idx_header, read_idx
from .images import what_bytes
from .sources import LIST_SUFFIXES
from .streaming import ImageTransform, image_source, materialize, screen, to_unit

ACCEPTED = (
    "an image folder, a .tar shard (or a folder of them), a file list (.txt, .lst, .csv), "
    "an IDX images file or an .npz"
)


def _is_images(path: Path) -> bool:
    """Image files (read through an ImageList) rather than an array file."""
    return path.is_dir() or path.suffix.lower() in (".tar", *LIST_SUFFIXES)


def _refuse_unknown(path: Path) -> None:
    """Refuse a file that is neither an .npz nor an IDX file, naming what it is."""
    with open_regular(path, "OOD file") as f:
        head = f.read(512)
    if head[:2] == b"\0\0" and len(head) >= 4:
        return  # an IDX magic number: read_idx checks the rest
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\0":
        if ".tar" in path.suffixes[-2:-1] or path.suffix.lower() in (".tgz", ".tbz2", ".txz"):
            raise InputError(
                f"{path}: a compressed tar archive; an OOD set takes an uncompressed .tar "
                f"shard (decompress it first), or {ACCEPTED.split(', ', 1)[0]}"
            )
        return  # a compressed IDX file, or not: read_idx says which from its magic number
    raise InputError(f"{path}: {what_bytes(head)}, not an OOD source (expected {ACCEPTED})")


def _arrays(path: Path) -> torch.Tensor:
    """uint8 (N, C, H, W) of an IDX images file or an npz."""
    if path.suffix.lower() == ".npz":
        x, _, _ = read_npz(path)
        check_held(x.nbytes, f"{path}: {len(x)} images")
    else:
        _refuse_unknown(path)
        dtype, dims = idx_header(path)
        if dtype != np.uint8 or len(dims) not in (3, 4):
            raise InputError(f"{path}: expected uint8 images (N, H, W[, C]) in the IDX file")
        check_held(int(np.prod(dims, dtype=object)), f"{path}: {'x'.join(map(str, dims))} images")
        x = read_idx(path)
        x = x[..., None] if x.ndim == 3 else x
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)


def ood_file_size(path) -> int:
    """How many images the source holds."""
    path = Path(path)
    if _is_images(path):
        return len(image_source(path, ImageTransform(1, 1), flat=_flat(path)))
    return len(_arrays(path))


def _flat(path: Path) -> bool:
    """Images of one OOD set, classes not needed: a folder without sub-folders (its images or
    its tar shards) or a tar shard (every image member)."""
    if path.is_dir():
        return not any(p.is_dir() for p in path.iterdir())
    return path.suffix.lower() == ".tar"


def load_ood_path(
    path, n: int | None, size: int, channels: int, seed: int = 0, transform=None
) -> torch.Tensor:
    """``n`` images (all when None) of the OOD source at ``path``, in the ID transform
    (``transform``, an ImageTransform, e.g. a model's; else shorter side to ``size``)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{path}: no such OOD file or folder")
    g = torch.Generator().manual_seed(int(seed))
    if _is_images(path):
        transform = transform or ImageTransform(int(size), int(channels))
        ds = screen(image_source(path, transform, flat=_flat(path)))
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
