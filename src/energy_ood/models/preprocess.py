"""``Preprocess``: the input a model expects and the steps that get images there.

A typed, JSON-serialisable record (``to_dict`` / ``from_dict``) of the eval transform: channel
conversion, resize (shorter side to ``resize``, keeping the aspect ratio, or both sides:
``resize_mode="squash"``), centre crop to ``size``, then per-channel normalisation. It is what
timm's data config (``resize = floor(size / crop_pct)``) and torchvision's
``ImageClassification`` transforms describe. Calling it applies the steps to uint8 images
(H x W x C arrays, PIL images, lists of them of any size) or to float tensors in [0, 1]
((C, H, W) or (N, C, H, W)). Resampling is torch's antialiased ``interpolate``, as
torchvision's tensor path (PIL resampling differs in the last digits), except for
``interpolation="pil-bilinear"``: Pillow's bilinear on the uint8 image, shorter side to the
size then a centre crop, which is how this project's runs decode image files.

This is the one path from images to model inputs: data sets, OOD sets, detectors and
``load_model(...).preprocess`` all call :meth:`Preprocess.image` (one decoded image to its
geometry) and :func:`normalize_inputs` (a batch to model inputs), so the same images give
bit-identical inputs whichever way they come in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from .._validate import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "pil-bilinear")
PIL_BILINEAR = "pil-bilinear"  # Pillow on uint8, as energy-ood runs decode image files
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
        if self.interpolation == PIL_BILINEAR and self.size is not None:
            if self.size[0] != self.size[1] or self.resize not in (None, self.size[0]):
                raise InputError("preprocess: pil-bilinear takes a square size and no resize")
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
        out = []
        for x in _as_batches(images):
            if x.dtype == torch.uint8 and self._pil:
                out.append(torch.stack([self._pil_image(a.numpy()) for a in x.permute(0, 2, 3, 1)]))
            else:
                out.append(self._geometry(_to_channels(_unit(x), self.channels)))
        shapes = {tuple(x.shape[1:]) for x in out}
        if len(shapes) > 1:
            raise InputError(
                f"preprocess: images of different sizes {sorted(shapes)} and no target size"
            )
        x = torch.cat(out) if len(out) > 1 else out[0]
        return self.normalize(x).contiguous()

    @property
    def _pil(self) -> bool:
        return self.interpolation == PIL_BILINEAR and self.size is not None

    def image(self, a: np.ndarray) -> torch.Tensor:
        """One decoded image (uint8 H x W x C) at the model's geometry and channels, not yet
        normalised: uint8 (C, H, W) for ``pil-bilinear``, float32 in [0, 1] otherwise."""
        if self._pil:
            return self._pil_image(a)
        x = _to_channels(_unit(_from_array(a)), self.channels)
        return self._geometry(x)[0]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W), uint8 or float in [0, 1], to model inputs (this recipe's
        mean and std)."""
        return normalize_inputs(x, self.mean, self.std)

    def _pil_image(self, a: np.ndarray) -> torch.Tensor:
        """uint8 (H, W, C) -> uint8 (C, size, size): Pillow bilinear, shorter side to the size,
        centre crop (floor offsets)."""
        from PIL import Image

        size, a = self.size[0], np.ascontiguousarray(a)
        im = Image.fromarray(a[..., 0] if a.shape[2] == 1 else a[..., :3])
        im = im.convert("L" if self.channels == 1 else "RGB")
        w, h = im.size
        if (w, h) != (size, size):
            scale = size / min(w, h)
            nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
            im = im.resize((nw, nh), Image.BILINEAR, reducing_gap=None)
            left, top = (nw - size) // 2, (nh - size) // 2
            im = im.crop((left, top, left + size, top + size))
        out = np.asarray(im)
        out = out[..., None] if out.ndim == 2 else out
        return torch.from_numpy(out.transpose(2, 0, 1).copy())

    def _geometry(self, x: torch.Tensor) -> torch.Tensor:
        if self.size is None:
            return x
        h, w = (int(v) for v in x.shape[-2:])  # ints, also while traced for export
        if self._pil:  # a float image: torch's bilinear onto Pillow's box
            short, size = min(h, w), self.size[0]
            target = (max(size, round(h * size / short)), max(size, round(w * size / short)))
            x = _resize(x, target, "bilinear")
            top, left = (target[0] - size) // 2, (target[1] - size) // 2
            return x[..., top : top + size, left : left + size]
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
    h, w = (int(v) for v in x.shape[-2:])
    if ch > h or cw > w:
        pt, pl = (ch - h) // 2 if ch > h else 0, (cw - w) // 2 if cw > w else 0
        x = F.pad(x, (pl, max(cw - w, 0) - pl, pt, max(ch - h, 0) - pt))
        h, w = (int(v) for v in x.shape[-2:])  # ints, also while traced for export
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


def normalize_inputs(x: torch.Tensor, mean, std) -> torch.Tensor:
    """THE normalisation of model inputs: uint8 images to [0, 1] (divided by 255), then
    ``(x - mean) / std`` per channel (float32 statistics on x's device: lists, or (1, C, 1, 1)
    tensors already there); none when ``mean`` is None. Every path from images to a model ends
    here."""
    x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    if mean is None:
        return x
    if isinstance(mean, torch.Tensor):  # (1, C, 1, 1) already on x's device (cached)
        return (x - mean) / std
    m = torch.tensor(list(mean), dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(list(std), dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


def _check_unit(x: torch.Tensor) -> torch.Tensor:
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise InputError(
            f"preprocess: float images must hold values in [0, 1], got "
            f"[{float(x.min()):.3g}, {float(x.max()):.3g}] (already normalised?)"
        )
    return x


def _from_tensor(t: torch.Tensor) -> torch.Tensor:
    """(C, H, W) or (N, C, H, W) tensor, uint8 (kept) or float in [0, 1] (float32)."""
    if t.ndim == 3:
        t = t.unsqueeze(0)
    if t.ndim != 4:
        raise InputError(f"preprocess: expected a (N, C, H, W) tensor, got {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        return t
    if not torch.is_floating_point(t):
        raise InputError(f"preprocess: expected uint8 or float images, got {t.dtype}")
    return _check_unit(t.float())


def _from_array(a: np.ndarray) -> torch.Tensor:
    """H x W, H x W x C or N x H x W x C array, uint8 (kept) or float in [0, 1]: (N, C, H, W)."""
    if a.ndim == 2:
        a = a[None, :, :, None]
    elif a.ndim == 3:
        a = a[None] if a.shape[-1] in (1, 3, 4) else a[..., None]
    if a.ndim != 4 or a.shape[-1] not in (1, 3, 4):
        raise InputError(f"preprocess: expected H x W x C image arrays, got shape {a.shape}")
    if a.dtype == np.uint8:  # a copy: read-only arrays (PIL, mmap) are fine
        t = torch.from_numpy(np.array(a))
    elif np.issubdtype(a.dtype, np.floating):
        t = _check_unit(torch.from_numpy(a.astype(np.float32)))
    else:
        raise InputError(f"preprocess: expected uint8 or float images, got {a.dtype}")
    return t.permute(0, 3, 1, 2)


def _pil_array(im) -> np.ndarray:
    """A PIL image as uint8 H x W x C, converted as data sets decode files (grey modes to
    "L", everything else to "RGB")."""
    from ..data.images import GREY_MODES

    return np.asarray(im.convert("L" if im.mode in GREY_MODES else "RGB"))


def _as_batches(images) -> list[torch.Tensor]:
    """(N, C, H, W) tensors, uint8 kept as uint8, float in [0, 1] as float32."""
    if isinstance(images, torch.Tensor):
        return [_from_tensor(images)]
    if isinstance(images, np.ndarray):
        return [_from_array(images)]
    if hasattr(images, "getbands"):  # a PIL image
        return [_from_array(_pil_array(images))]
    if isinstance(images, (list, tuple)):
        if not images:
            raise InputError("preprocess: no images given")
        out = []
        for im in images:
            out.extend(_as_batches(im))
        return out
    raise InputError(f"preprocess: cannot read images from a {type(images).__name__}")
