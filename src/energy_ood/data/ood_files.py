"""OOD images from a user's files: a flat image folder (or one with sub-folders), a ``.tar``
shard or a folder of them, a file list (``.txt``, ``.lst``, ``.csv``), an IDX images file or a
``.npz`` (key ``x`` or ``images``).

Images follow the run's ID transform: shorter side resized to the ID size, centre crop, and
the ID channel count (grey <-> RGB by BT.601 luma / replication). Returns float32 (n, C, size,
size) in [0, 1]; with ``n`` smaller than the set, a seeded draw without replacement. Image
files that cannot be used stop the command, or are left out and recorded under the bad-images
policy ``skip``. Which reader reads a path is the source map's choice
(:func:`energy_ood.data.sources.format_of`); a path that none reads is refused, naming what it
is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .._validate import InputError
from ..io.regular_files import open_regular
from . import transforms as T
from .idx import compressed_head, compressed_tar_name
from .images import what_bytes
from .sources import format_of, is_flat
from .streaming import ImageTransform, image_source, materialize, screen, to_unit

ACCEPTED = (
    "an image folder, a .tar shard (or a folder of them), a file list (.txt, .lst, .csv), "
    "an IDX images file or an .npz"
)


def _refuse_unknown(path: Path) -> None:
    """Refuse a file that no format of the source map reads as OOD images, naming what it is."""
    with open_regular(path, "OOD file") as f:
        head = f.read(512)
    if compressed_head(head) and compressed_tar_name(path):
        raise InputError(
            f"{path}: a compressed tar archive; an OOD set takes an uncompressed .tar "
            f"shard (decompress it first), or {ACCEPTED.split(', ', 1)[0]}"
        )
    raise InputError(f"{path}: {what_bytes(head)}, not an OOD source (expected {ACCEPTED})")


def _format(path: Path):
    """The source map's format of an OOD source and what it gives: ``"image files"`` or
    ``"images"`` (in memory)."""
    found = format_of(path, ("image files", "images"), what="OOD file")
    if found is None:
        _refuse_unknown(path)
    return found


def _images(fmt, path: Path) -> torch.Tensor:
    """uint8 (N, C, H, W) of an OOD source held in memory (an npz, an IDX file)."""
    return torch.from_numpy(np.ascontiguousarray(fmt.read_images(path))).permute(0, 3, 1, 2)


def ood_file_size(path) -> int:
    """How many images the source holds."""
    path = Path(path)
    fmt, kind = _format(path)
    if kind == "image files":
        return len(image_source(path, ImageTransform(1, 1), flat=is_flat(path)))
    return len(_images(fmt, path))


def load_ood_path(
    path, n: int | None, size: int, channels: int, seed: int = 0, transform=None
) -> torch.Tensor:
    """``n`` images (all when None) of the OOD source at ``path``, in the ID transform
    (``transform``, an ImageTransform, e.g. a model's; else shorter side to ``size``)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{path}: no such OOD file or folder")
    g = torch.Generator().manual_seed(int(seed))
    fmt, kind = _format(path)
    if kind == "image files":
        transform = transform or ImageTransform(int(size), int(channels))
        ds = screen(image_source(path, transform, flat=is_flat(path)))
        x, _ = materialize(ds, _draw(len(ds), n, g, path))
        return to_unit(x)
    x = _images(fmt, path)
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
