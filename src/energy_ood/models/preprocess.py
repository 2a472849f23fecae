"""``Preprocess``: the input a model expects and the steps that get images there.

A typed, JSON-serialisable record (``to_dict`` / ``from_dict``) of the eval transform: channel
conversion, resize (shorter side to ``resize``, keeping the aspect ratio, or both sides:
``resize_mode="squash"``), centre crop to ``size``, then per-channel normalisation. It is what
timm's data config (``resize = floor(size / crop_pct)``) and torchvision's
``ImageClassification`` transforms describe. Calling it applies the steps to uint8 images
(H x W x C arrays, PIL images, lists of them of any size) or to float tensors in [0, 1]
((C, H, W) or (N, C, H, W)). Resampling is torch's antialiased ``interpolate``, as
torchvision's tensor path (PIL resampling differs in the last digits).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from .._validate import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
RESIZE_MODES = ("shorter", "squash")


@dataclass(frozen=True)
class Preprocess:
    """Eval transform of a model; ``None`` fields are steps that are skipped.

    ``size``: (H, W) the model sees; ``resize``: length the shorter side (``"shorter"``) or both
    sides (``"squash"``) are resized to before the centre crop (``None``: straight to ``size``);
    ``mean``/``std``: per-channel normalisation of [0, 1] values; ``channels``: 1 or 3 (grey
    and RGB images are converted); ``source``: where the recipe comes from.
    """

    size: tuple[int, int] | None = None
    resize: int | None = None
    resize_mode: str = "shorter"
    interpolation: str = "bilinear"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    channels: int = 3
    source: str = ""

    def __post_init__(self):
        if self.size is not None:
            size = (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)
            if len(size) != 2 or any(int(s) < 1 for s in size):
                raise InputError(f"preprocess: size must be one or two positive ints, got {size}")
            object.__setattr__(self, "size", (int(size[0]), int(size[1])))
        if self.resize is not None and int(self.resize) < 1:
            raise InputError(f"preprocess: resize must be positive, got {self.resize}")
        if self.resize_mode not in RESIZE_MODES:
            raise InputError(f"preprocess: resize_mode must be one of {RESIZE_MODES}")
        if self.interpolation not in INTERPOLATIONS:
            raise InputError(
                f"preprocess: interpolation {self.interpolation!r} not in {INTERPOLATIONS}"
            )
        if self.channels not in (1, 3):
            raise InputError(f"preprocess: channels must be 1 or 3, got {self.channels}")
        if (self.mean is None) != (self.std is None):
            raise InputError("preprocess: give both mean and std, or neither")
        if self.mean is not None:
            mean, std = tuple(map(float, self.mean)), tuple(map(float, self.std))
            if len(mean) != len(std) or len(mean) not in (1, self.channels):
                raise InputError(
                    f"preprocess: mean/std of length {len(mean)}/{len(std)} for "
                    f"{self.channels} channel(s)"
                )
            if min(std) <= 0:
                raise InputError("preprocess: std must be positive")
            object.__setattr__(self, "mean", mean)
            object.__setattr__(self, "std", std)

    @property
    def input_shape(self) -> tuple[int, int, int] | None:
        """(C, H, W) of the model input, or None when the size is the images' own."""
        return None if self.size is None else (self.channels, *self.size)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("size", "mean", "std"):
            if d[k] is not None:
                d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Preprocess:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"preprocess: unknown field(s) {', '.join(unknown)}")
        return cls(**d)

    def __call__(self, images) -> torch.Tensor:
        """Float32 tensor (N, C, H, W) ready for the model."""
        batches = _as_float_batches(images)
        out = [self._geometry(_to_channels(x, self.channels)) for x in batches]
        shapes = {tuple(x.shape[1:]) for x in out}
        if len(shapes) > 1:
            raise InputError(
                f"preprocess: images of different sizes {sorted(shapes)} and no target size"
            )
        x = torch.cat(out) if len(out) > 1 else out[0]
        if self.mean is not None:
            m = torch.tensor(self.mean, dtype=x.dtype).view(1, -1, 1, 1)
            s = torch.tensor(self.std, dtype=x.dtype).view(1, -1, 1, 1)
            x = (x - m) / s
        return x.contiguous()

    def _geometry(self, x: torch.Tensor) -> torch.Tensor:
        if self.size is None:
            return x
        h, w = x.shape[-2:]
        if self.resize is None:
            target = self.size
        elif self.resize_mode == "squash":
            target = (self.resize, self.resize)
        else:  # shorter side to `resize`, as torchvision's Resize(int)
            short, long = (h, w) if h <= w else (w, h)
            new_long = int(self.resize * long / short)
            target = (self.resize, new_long) if h <= w else (new_long, self.resize)
        x = _resize(x, target, self.interpolation)
        return _center_crop(x, self.size)


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)


def _center_crop(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Torchvision's ``center_crop``: zero-pad when the image is smaller than the crop."""
    ch, cw = size
    h, w = x.shape[-2:]
    if ch > h or cw > w:
        pt, pl = (ch - h) // 2 if ch > h else 0, (cw - w) // 2 if cw > w else 0
        x = F.pad(x, (pl, max(cw - w, 0) - pl, pt, max(ch - h, 0) - pt))
        h, w = x.shape[-2:]
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    return x[..., top : top + ch, left : left + cw]


def _to_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    c = x.shape[1]
    if c == 4:  # RGBA: drop alpha
        x, c = x[:, :3], 3
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1)
    if c == 3 and channels == 1:
        w = torch.tensor((0.299, 0.587, 0.114), dtype=x.dtype).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)
    raise InputError(f"preprocess: cannot turn {c}-channel images into {channels} channels")


def _check_unit(x: torch.Tensor) -> torch.Tensor:
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise InputError(
            f"preprocess: float images must hold values in [0, 1], got "
            f"[{float(x.min()):.3g}, {float(x.max()):.3g}] (already normalised?)"
        )
    return x


def _from_tensor(t: torch.Tensor) -> torch.Tensor:
    """(C, H, W) or (N, C, H, W) tensor, uint8 (0..255) or float in [0, 1]."""
    if t.ndim == 3:
        t = t.unsqueeze(0)
    if t.ndim != 4:
        raise InputError(f"preprocess: expected a (N, C, H, W) tensor, got {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        return t.float().div_(255.0)
    if not torch.is_floating_point(t):
        raise InputError(f"preprocess: expected uint8 or float images, got {t.dtype}")
    return _check_unit(t.float())


def _from_array(a: np.ndarray) -> torch.Tensor:
    """H x W, H x W x C or N x H x W x C array, uint8 or float in [0, 1]."""
    if a.ndim == 2:
        a = a[None, :, :, None]
    elif a.ndim == 3:
        a = a[None] if a.shape[-1] in (1, 3, 4) else a[..., None]
    if a.ndim != 4 or a.shape[-1] not in (1, 3, 4):
        raise InputError(f"preprocess: expected H x W x C image arrays, got shape {a.shape}")
    if a.dtype == np.uint8:  # astype copies: read-only arrays (PIL, mmap) are fine
        t = torch.from_numpy(a.astype(np.float32)).div_(255.0)
    elif np.issubdtype(a.dtype, np.floating):
        t = _check_unit(torch.from_numpy(a.astype(np.float32)))
    else:
        raise InputError(f"preprocess: expected uint8 or float images, got {a.dtype}")
    return t.permute(0, 3, 1, 2)


def _as_float_batches(images) -> list[torch.Tensor]:
    if isinstance(images, torch.Tensor):
        return [_from_tensor(images)]
    if isinstance(images, np.ndarray):
        return [_from_array(images)]
    if hasattr(images, "getbands"):  # a PIL image
        im = images if images.mode in ("L", "RGB", "RGBA") else images.convert("RGB")
        return [_from_array(np.asarray(im))]
    if isinstance(images, (list, tuple)):
        if not images:
            raise InputError("preprocess: no images given")
        out = []
        for im in images:
            out.extend(_as_float_batches(im))
        return out
    raise InputError(f"preprocess: cannot read images from a {type(images).__name__}")
