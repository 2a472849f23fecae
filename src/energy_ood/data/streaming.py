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

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from .._device import available_cpus
from .._env import env_number
from .._files import open_regular, read_regular
from .._validate import InputError
from .images import EXTENSIONS, decode_image, image_files

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
        return cls(pp.size[0], pp.channels, (pp.resize, pp.resize_mode, pp.interpolation))

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

    def __call__(self, a: np.ndarray) -> torch.Tensor:
        if self.preprocess is not None:
            from ..models.preprocess import Preprocess

            r, mode, interp = self.preprocess
            pp = Preprocess(self.size, r, mode, interp, channels=self.channels)
            return pp(a)[0]
        im = Image.fromarray(a[..., 0] if a.shape[2] == 1 else a)
        im = im.convert("L" if self.channels == 1 else "RGB")
        w, h = im.size
        if (w, h) != (self.size, self.size):
            scale = self.size / min(w, h)
            nw, nh = max(self.size, round(w * scale)), max(self.size, round(h * scale))
            im = im.resize((nw, nh), Image.BILINEAR, reducing_gap=None)
            left, top = (nw - self.size) // 2, (nh - self.size) // 2
            im = im.crop((left, top, left + self.size, top + self.size))
        out = np.asarray(im)
        out = out[..., None] if out.ndim == 2 else out
        return torch.from_numpy(out.transpose(2, 0, 1).copy())


def _read(ref) -> tuple[bytes, str]:
    """The bytes of an item: a file path, or (tar path, offset, size, member name)."""
    if isinstance(ref, tuple):
        tar, offset, size, name = ref
        with open_regular(tar, "tar shard") as f:
            f.seek(offset)
            data = f.read(size)
        if len(data) != size:
            raise InputError(f"{tar}: truncated shard, member {name} is cut short")
        return data, f"{Path(tar).name}:{name}"
    return read_regular(ref, "image"), str(ref)


class ImageList(torch.utils.data.Dataset):
    """Map-style data set of ``(uint8 (C, H, W) tensor, label)`` over ``items``."""

    def __init__(self, items, classes, transform: ImageTransform, source: str):
        if not items:
            raise InputError(f"{source}: no images found")
        self.refs = [r for r, _ in items]
        self.labels = np.asarray([lab for _, lab in items], dtype=np.int64)
        self.classes, self.transform, self.source = list(classes), transform, source

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int):
        data, where = _read(self.refs[i])
        return self.transform(decode_image(data, where)), int(self.labels[i])

    def decoded_bytes(self) -> int:
        return len(self) * self.transform.bytes_per_image


class ArrayList(ImageList):
    """The same interface over images already in memory (uint8 (N, H, W, C)): a named data
    set taken through a model's transform."""

    def __init__(self, x: np.ndarray, y, classes, transform: ImageTransform, source: str):
        if len(x) == 0:
            raise InputError(f"{source}: no images")
        self.x, self.labels = x, np.asarray(y, dtype=np.int64)
        self.refs = range(len(x))
        self.classes, self.transform, self.source = list(classes), transform, source

    def __getitem__(self, i: int):
        return self.transform(self.x[i]), int(self.labels[i])


def folder_items(root, flat: bool = False):
    """Items and class names of an image folder (flat: one class, label 0)."""
    files = image_files(root, flat=flat)
    if flat:
        return [(p, 0) for _, p in files], ["ood"]
    classes = sorted({c for c, _ in files})
    index = {c: i for i, c in enumerate(classes)}
    return [(p, index[c]) for c, p in files], classes


def tar_items(shards):
    """Items of uncompressed tar shards ``[...]/<class>/<image>`` (read by seeking)."""
    found = []
    for shard in map(Path, shards):
        try:
            with tarfile.open(shard, "r:") as tar:
                for m in tar:
                    name = PurePosixPath(m.name)
                    if m.isfile() and len(name.parts) >= 2 and name.suffix.lower() in EXTENSIONS:
                        found.append((name.parts[-2], (str(shard), m.offset_data, m.size, m.name)))
        except tarfile.ReadError as e:
            raise InputError(f"{shard}: not an uncompressed tar shard ({e})") from None
    classes = sorted({c for c, _ in found})
    index = {c: i for i, c in enumerate(classes)}
    return [(ref, index[c]) for c, ref in found], classes


def list_items(list_file):
    """Items of a file list: ``path[,label]`` per line, '#' comments and blank lines skipped."""
    list_file = Path(list_file)
    rows = []
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{list_file}: unreadable file list ({type(e).__name__})") from None
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path, _, label = (p.strip() for p in line.partition(","))
        p = Path(path) if os.path.isabs(path) else list_file.parent / path
        rows.append((p, label or "0", n))
    names = sorted({lab for _, lab, _ in rows if not lab.lstrip("-").isdigit()})
    if names and len(names) != len({lab for _, lab, _ in rows}):
        raise InputError(f"{list_file}: mixes integer labels and class names")
    if names:
        index = {c: i for i, c in enumerate(names)}
        return [(p, index[lab]) for p, lab, _ in rows], names
    items = [(p, int(lab)) for p, lab, _ in rows]
    bad = next(((p, n) for p, lab, n in rows if int(lab) < 0), None)
    if bad:
        raise InputError(f"{list_file}: line {bad[1]}: negative label")
    k = max((lab for _, lab in items), default=0) + 1
    return items, [str(i) for i in range(k)]


def image_source(path, transform: ImageTransform, flat: bool = False) -> ImageList:
    """An :class:`ImageList` for a folder, a tar shard (or a folder of them), or a file list."""
    path = Path(path)
    if path.is_dir() and any(path.glob("*.tar")) and not flat:
        items, classes = tar_items(sorted(path.glob("*.tar")))
    elif path.is_dir():
        items, classes = folder_items(path, flat)
    elif path.suffix.lower() == ".tar":
        items, classes = tar_items([path])
    elif path.suffix.lower() in (".txt", ".lst", ".csv"):
        items, classes = list_items(path)
    else:
        raise InputError(f"{path}: expected an image folder, a .tar shard or a file list")
    return ImageList(items, classes, transform, str(path))


def default_workers() -> int:
    """DataLoader workers: env ``ENERGY_OOD_WORKERS`` (0 to 256), else up to 8."""
    return env_number("ENERGY_OOD_WORKERS", min(8, available_cpus()), 0, 256, integral=True)


def memory_limit_bytes() -> int:
    mb = env_number("ENERGY_OOD_MEMORY_LIMIT_MB", MEMORY_LIMIT_MB, 0, 2**40)
    return int(mb * 2**20)


def fits_in_memory(ds: ImageList, mode: str = "auto") -> bool:
    """``mode`` "memory" / "stream" as asked; "auto" holds sets up to the memory limit."""
    if mode not in ("auto", "memory", "stream"):
        raise InputError(f"data mode must be auto, memory or stream, got {mode!r}")
    return mode == "memory" or (mode == "auto" and ds.decoded_bytes() <= memory_limit_bytes())


def _loader(ds, batch_sampler, device: torch.device, workers: int):
    return torch.utils.data.DataLoader(
        ds,
        batch_sampler=batch_sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        generator=torch.Generator(),  # worker seeds must not consume the global RNG (dropout)
    )


def materialize(ds: ImageList, indices=None, workers: int | None = None):
    """Decode ``ds`` (or its ``indices``) in parallel: (uint8 (N, C, H, W), labels)."""
    idx = np.arange(len(ds)) if indices is None else np.asarray(indices)
    batches = [idx[i : i + 256].tolist() for i in range(0, len(idx), 256)]
    workers = default_workers() if workers is None else workers
    xs, ys = [], []
    for xb, yb in _loader(ds, batches, torch.device("cpu"), min(workers, len(batches))):
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
        m = torch.tensor(self.mean, device=self.device).view(1, -1, 1, 1)
        s = torch.tensor(self.std, device=self.device).view(1, -1, 1, 1)
        return (to_unit(xb.to(self.device, non_blocking=True)) - m) / s

    def batches(self, index_lists):
        """Normalised ``(x, y)`` batches on the device for lists of positions in this split."""
        if self._loader is None:
            self._sampler = _Lists()
            self._loader = _loader(self.ds, self._sampler, self.device, self.workers)
        self._sampler.lists = [self.indices[np.asarray(i)].tolist() for i in index_lists]
        for xb, yb in self._loader:
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
