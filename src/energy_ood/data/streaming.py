"""Image data larger than memory: decoded on demand by ``DataLoader`` workers.

Sources, each a list of ``(reference, label)`` items behind one map-style data set
(:class:`ImageList`):

* an image folder, ``root/<class>/<image>`` (ID data) or flat ``root/<image>`` (an OOD set);
* uncompressed tar shards (``*.tar``, members ``[...]/<class>/<image>``, as webdataset writes
  them), read by seeking to each member (a ``.tar.gz`` cannot be read that way: it is decoded
  into memory by ``read_image_tar`` instead);
* a file list: a text file of ``path[,label]`` lines (paths relative to the list's folder;
  the label an integer or a class name).

Every image passes through one :class:`ImageTransform` (the run's ID transform: shorter side
resized to ``size`` then a centre crop, and 1 or 3 channels), recorded in run.json. A
:class:`StreamSplit` is a subset of such a data set with normalisation statistics; it yields
normalised batches on the training device (pinned memory, persistent workers) and is what the
training loop and the extraction of logits/features consume in streaming mode.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from .._validate import InputError
from ..io.regular_files import open_regular, os_error, read_regular
from ..runtime.env import env_number
from ..runtime.threads import available_cpus
from .checked import Checked, checked_batches
from .images import decode_image, max_pixels
from .sources import image_items

MEMORY_LIMIT_MB = 4096  # auto mode: decoded sets up to this size are held in memory


@dataclass(frozen=True)
class ImageTransform:
    """Decoded image -> (C, size, size): shorter side to ``size`` and a centre crop, as uint8
    (Pillow, bilinear); or, with ``preprocess`` (a model's eval transform, e.g. timm's data
    config: resize to ``resize`` then a ``size`` crop), that recipe's geometry as float32 in
    [0, 1] (normalisation is applied later, on the device)."""

    size: int
    channels: int
    preprocess: tuple | None = None  # (resize, resize_mode, interpolation) of a Preprocess

    def __post_init__(self):
        if self.size < 1 or self.channels not in (1, 3):
            raise InputError(f"image transform needs size >= 1 and 1 or 3 channels, got {self}")

    @classmethod
    def from_preprocess(cls, pp) -> ImageTransform:
        """The geometry of a model's ``energy_ood.models.Preprocess`` (square input)."""
        if pp.size is None or pp.size[0] != pp.size[1]:
            raise InputError(f"model input size {pp.size}: only square inputs are supported")
        if pp.interpolation == "pil-bilinear":
            return cls(pp.size[0], pp.channels)
        return cls(pp.size[0], pp.channels, (pp.resize, pp.resize_mode, pp.interpolation))

    def recipe(self):
        """This transform as a :class:`~energy_ood.models.Preprocess` without normalisation:
        the one function that takes a decoded image to the model's geometry."""
        from ..models.preprocess import PIL_BILINEAR, Preprocess

        if self.preprocess is None:
            return Preprocess(self.size, None, "shorter", PIL_BILINEAR, channels=self.channels)
        r, mode, interp = self.preprocess
        return Preprocess(self.size, r, mode, interp, channels=self.channels)

    def describe(self) -> dict:
        if self.preprocess is None:
            how = "shorter side to size (bilinear), centre crop"
        else:
            r, mode, interp = self.preprocess
            how = f"{mode} side(s) to {r} ({interp}), centre crop, as the model's recipe"
        return {"size": self.size, "channels": self.channels, "resize": how}

    @property
    def bytes_per_image(self) -> int:
        return self.size * self.size * self.channels * (1 if self.preprocess is None else 4)

    def blank(self) -> torch.Tensor:
        """What a transformed image looks like, all zeros (stands in for a bad image)."""
        dtype = torch.uint8 if self.preprocess is None else torch.float32
        return torch.zeros((self.channels, self.size, self.size), dtype=dtype)

    def resized_pixels(self, h: int, w: int) -> int:
        """Pixels of the resized image this transform makes of an h x w image before its crop."""
        if self.preprocess is None:
            if (w, h) == (self.size, self.size):
                return h * w
            s = self.size / min(w, h)
            return max(self.size, round(w * s)) * max(self.size, round(h * s))
        r, mode, _ = self.preprocess
        if r is None or mode == "squash":
            return (r or self.size) ** 2
        return int(r) * int(r * max(h, w) / min(h, w))

    def check_shape(self, h: int, w: int, where: str) -> None:
        """Refuse an image whose resize would exceed the pixel cap (a 1 x 60,000,000 image
        resized to a shorter side of 32 would be 1.9 G pixels): the resize work is bounded."""
        n, cap = self.resized_pixels(h, w), max_pixels()
        if n > cap:
            raise InputError(
                f"{where}: a {w}x{h} image would be resized to {n} pixels before its centre "
                f"crop, above the limit of {cap} (aspect ratio {max(h, w) / min(h, w):.0f}:1; "
                "raise ENERGY_OOD_MAX_PIXELS if this is intended)"
            )

    def __call__(self, a: np.ndarray) -> torch.Tensor:
        return self.recipe().image(a)


def _read(ref) -> tuple[bytes, str]:
    """The bytes of an item: a file path, or (tar path, offset, size, member name)."""
    if isinstance(ref, tuple):
        tar, offset, size, name = ref
        with open_regular(tar, "tar shard") as f:
            try:
                f.seek(offset)
                data = f.read(size)
            except OSError as e:  # an I/O error of the disk, a shard replaced meanwhile
                raise os_error(f"{tar}:{name}", e) from None
        if len(data) != size:
            raise InputError(f"{tar}:{name}: truncated shard, the member is cut short")
        return data, f"{tar}:{name}"
    return read_regular(ref, "image"), str(ref)


class ImageList(torch.utils.data.Dataset):
    """Map-style data set of ``(uint8 (C, H, W) tensor, label)`` over ``items``. ``skipped``
    records the images left out of it under the bad-images policy ``skip``."""

    from_files = True

    def __init__(self, items, classes, transform: ImageTransform, source: str):
        if not items:
            raise InputError(f"{source}: no images found")
        self.refs = [r for r, _ in items]
        self.labels = np.asarray([lab for _, lab in items], dtype=np.int64)
        self.classes, self.transform, self.source = list(classes), transform, source
        self.skipped: list[dict] = []
        self.positions = None  # after a subset: each item's position in the source

    def __len__(self) -> int:
        return len(self.refs)

    def name(self, i: int) -> str:
        """The file of item ``i`` (``shard.tar:member`` for a tar member)."""
        ref = self.refs[i]
        return f"{ref[0]}:{ref[3]}" if isinstance(ref, tuple) else str(ref)

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` decoded (uint8 H, W, C), its size checked against the transform."""
        data, where = _read(self.refs[i])
        a = decode_image(data, where)
        self.transform.check_shape(a.shape[0], a.shape[1], where)
        return a

    def __getitem__(self, i: int):
        return self.transform(self.image(i)), int(self.labels[i])

    def decoded_bytes(self) -> int:
        return len(self) * self.transform.bytes_per_image

    def subset(self, keep) -> ImageList:
        """The same list holding only the items at positions ``keep``."""
        out = copy.copy(self)
        out.refs = [self.refs[i] for i in keep]
        out.labels = self.labels[np.asarray(keep, dtype=np.int64)]
        out.skipped = list(self.skipped)
        base = np.arange(len(self)) if self.positions is None else self.positions
        out.positions = base[np.asarray(keep, dtype=np.int64)]
        return out


class ArrayList(ImageList):
    """The same interface over images already in memory (uint8 (N, H, W, C)): a named data
    set taken through a model's transform."""

    from_files = False

    def __init__(self, x: np.ndarray, y, classes, transform: ImageTransform, source: str):
        if len(x) == 0:
            raise InputError(f"{source}: no images")
        self.x, self.labels = x, np.asarray(y, dtype=np.int64)
        self.refs = range(len(x))
        self.classes, self.transform, self.source = list(classes), transform, source
        self.skipped, self.positions = [], None

    def name(self, i: int) -> str:
        return f"{self.source}[{i}]"

    def image(self, i: int) -> np.ndarray:
        return self.x[i]


def image_source(path, transform: ImageTransform, flat: bool = False) -> ImageList:
    """An :class:`ImageList` for a folder, a tar shard (or a folder of them), or a file list
    (the source map's image files, :func:`energy_ood.data.sources.image_items`). ``flat``: the
    images of an OOD set (classes do not matter): a flat folder, and every image member of tar
    shards."""
    items, classes = image_items(path, flat)
    return ImageList(items, classes, transform, str(path))


def default_workers() -> int:
    """DataLoader workers: env ``ENERGY_OOD_WORKERS`` (0 to 256), else up to 8."""
    return env_number("ENERGY_OOD_WORKERS", min(8, available_cpus()), 0, 256, integral=True)


def memory_limit_bytes() -> int:
    mb = env_number("ENERGY_OOD_MEMORY_LIMIT_MB", MEMORY_LIMIT_MB, 0, 2**40)
    return int(mb * 2**20)


def screen(ds: ImageList, workers: int | None = None) -> ImageList:
    """``ds`` without the images that cannot be used when the bad-images policy is ``skip``
    (each recorded in ``.skipped``); ``ds`` itself under ``error``."""
    from .checked import screen as _screen

    return _screen(ds, default_workers() if workers is None else workers)


def fits_in_memory(ds: ImageList, mode: str = "auto") -> bool:
    """``mode`` "memory" / "stream" as asked; "auto" holds sets up to the memory limit."""
    if mode not in ("auto", "memory", "stream"):
        raise InputError(f"data mode must be auto, memory or stream, got {mode!r}")
    return mode == "memory" or (mode == "auto" and ds.decoded_bytes() <= memory_limit_bytes())


def _loader(ds, batch_sampler, device: torch.device, workers: int, persistent: bool = True):
    """A DataLoader of ``(x, label, problem)`` items (``Checked``): iterate it through
    ``checked_batches``."""
    return torch.utils.data.DataLoader(
        Checked(ds),
        batch_sampler=batch_sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=persistent and workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        generator=torch.Generator(),  # worker seeds must not consume the global RNG (dropout)
    )


def materialize(ds: ImageList, indices=None, workers: int | None = None):
    """Decode ``ds`` (or its ``indices``) in parallel: (uint8 (N, C, H, W), labels)."""
    idx = np.arange(len(ds)) if indices is None else np.asarray(indices)
    batches = [idx[i : i + 256].tolist() for i in range(0, len(idx), 256)]
    workers = default_workers() if workers is None else workers
    xs, ys = [], []
    loader = _loader(ds, batches, torch.device("cpu"), min(workers, len(batches)), False)
    for xb, yb in checked_batches(loader, ds.source):
        xs.append(xb)
        ys.append(yb)
    if not xs:
        raise InputError(f"{ds.source}: no images selected")
    return torch.cat(xs), torch.cat(ys)


class _Lists(torch.utils.data.Sampler):
    """A batch sampler whose index lists are replaced before every pass."""

    def __init__(self):
        self.lists: list[list[int]] = []

    def __iter__(self):
        return iter(self.lists)

    def __len__(self) -> int:
        return len(self.lists)


class StreamSplit:
    """A subset of an :class:`ImageList` served as normalised batches on a device.

    ``len``, ``split[idx]`` (a lazy subset), ``labels``, ``to(device)`` and ``batches(lists)``
    (positions within this subset) are what the training loop and the extraction use."""

    def __init__(self, ds: ImageList, indices, mean, std, device=None, workers=None):
        self.ds = ds
        self.indices = np.arange(len(ds)) if indices is None else np.asarray(indices, np.int64)
        self.mean, self.std = list(map(float, mean)), list(map(float, std))
        self.device = device or torch.device("cpu")
        self.workers = default_workers() if workers is None else workers
        self._sampler, self._loader = None, None
        self._stats: dict = {}  # device -> (mean, std) tensors: copied there once

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, idx) -> StreamSplit:
        if isinstance(idx, torch.Tensor):
            idx = idx.cpu().numpy()
        sub = self.indices[idx]
        return StreamSplit(self.ds, sub, self.mean, self.std, self.device, self.workers)

    @property
    def labels(self) -> torch.Tensor:
        return torch.from_numpy(self.ds.labels[self.indices])

    @property
    def shape(self) -> tuple[int, ...]:
        t = self.ds.transform
        return (len(self), t.channels, t.size, t.size)

    def to(self, device) -> StreamSplit:
        return StreamSplit(self.ds, self.indices, self.mean, self.std, device, self.workers)

    def normalize(self, xb: torch.Tensor) -> torch.Tensor:
        """uint8 images to normalised floats on the device; the per-channel mean and std are
        copied to the device once (not one blocking copy per batch)."""
        from ..models.preprocess import normalize_inputs

        xb = xb.to(self.device, non_blocking=True)
        key = str(xb.device)
        if key not in self._stats:
            self._stats[key] = tuple(
                torch.tensor(v, dtype=torch.float32, device=xb.device).view(1, -1, 1, 1)
                for v in (self.mean, self.std)
            )
        return normalize_inputs(xb, *self._stats[key])

    def batches(self, index_lists):
        """Normalised ``(x, y)`` batches on the device for lists of positions in this split."""
        if self._loader is None:
            self._sampler = _Lists()
            self._loader = _loader(self.ds, self._sampler, self.device, self.workers)
        self._sampler.lists = [self.indices[np.asarray(i)].tolist() for i in index_lists]
        for xb, yb in checked_batches(self._loader, self.ds.source):
            yield self.normalize(xb), yb.to(self.device, non_blocking=True)

    def __iter__(self):
        """``(x, y)`` batches of 256 in order (what scorers that take model inputs iterate)."""
        lists = [torch.arange(a, min(len(self), a + 256)) for a in range(0, len(self), 256)]
        return self.batches(lists)

    def tensor(self) -> torch.Tensor:
        """Every image, decoded and normalised, as one CPU tensor (for small subsets)."""
        x, _ = materialize(self.ds, self.indices, self.workers)
        return self.to(torch.device("cpu")).normalize(x)


def image_stats(ds: ImageList, indices, n: int = 2000, seed: int = 0):
    """Per-channel mean and std of [0, 1] pixels over a seeded sample of up to ``n`` images."""
    rng = np.random.default_rng(seed)
    idx = np.asarray(indices)
    pick = idx if len(idx) <= n else rng.choice(idx, n, replace=False)
    x, _ = materialize(ds, np.sort(pick))
    return channel_stats(to_unit(x))


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] as float32: uint8 divided by 255, float as it is."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std (float64 sums) of images (N, C, H, W) in [0, 1]."""
    x = x.double()
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()
