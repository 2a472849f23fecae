"""Batched image transforms on float tensors (N, C, H, W); randomness via an explicit Generator."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validate import InputError

GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma


def _check(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise InputError(f"{name}: expected a tensor of images (N, C, H, W), got {shape}")
    if not torch.is_floating_point(x):
        raise InputError(f"{name}: expected a float tensor, got {x.dtype}")
    return x


def _pair(size) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h < 1 or w < 1:
        raise InputError(f"size must be positive, got {size}")
    return int(h), int(w)


def normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    """``(x - mean) / std`` per channel."""
    _check(x, "normalize")
    m = torch.as_tensor(mean, dtype=x.dtype).reshape(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype).reshape(1, -1, 1, 1)
    if m.shape[1] not in (1, x.shape[1]) or s.shape[1] not in (1, x.shape[1]):
        raise InputError(f"normalize: {x.shape[1]} channels but mean/std of length {m.shape[1]}")
    if (s <= 0).any():
        raise InputError("normalize: std must be positive")
    return (x - m) / s


def random_crop(x: torch.Tensor, size, padding: int = 0, generator=None) -> torch.Tensor:
    """A random ``size`` crop of each image after zero-padding by ``padding`` on every side.

    Offsets come from ``generator`` (a CPU generator: the same draws on every device), and the
    crops are taken in one gather, so a batch on a GPU costs a handful of kernels."""
    _check(x, "random_crop")
    h, w = _pair(size)
    if padding:
        x = F.pad(x, (padding,) * 4)
    n, _, H, W = x.shape
    if h > H or w > W:
        raise InputError(f"random_crop: crop {h}x{w} larger than padded image {H}x{W}")
    oy = torch.randint(0, H - h + 1, (n,), generator=generator)
    ox = torch.randint(0, W - w + 1, (n,), generator=generator)
    return crop_at(x, oy, ox, (h, w))


def crop_at(x: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, size) -> torch.Tensor:
    """The ``size`` crop of image i whose top-left corner is (oy[i], ox[i]), in one gather."""
    h, w = _pair(size)
    n = x.shape[0]
    if n == 0:
        return x[:, :, :h, :w].clone()
    oy, ox = oy.to(x.device), ox.to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (n, h, 1)
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (n, 1, w)
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = x.permute(0, 2, 3, 1)[batch, rows, cols]  # (n, h, w, C)
    return out.permute(0, 3, 1, 2).contiguous()


def random_hflip(x: torch.Tensor, generator=None, p: float = 0.5) -> torch.Tensor:
    """Flip each image left-right with probability ``p``."""
    _check(x, "random_hflip")
    flip = (torch.rand(x.shape[0], generator=generator) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def resize(x: torch.Tensor, size) -> torch.Tensor:
    """Bilinear resize to ``size`` (int or (h, w)), antialiased when downsampling."""
    _check(x, "resize")
    h, w = _pair(size)
    if (h, w) == tuple(x.shape[-2:]):
        return x
    down = h < x.shape[-2] or w < x.shape[-1]
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=down)


def _has_channels(x: torch.Tensor, name: str, channels: int) -> bool:
    """Whether images ``x`` (checked) already have ``channels`` channels; other counts than 1
    and 3 are refused."""
    _check(x, name)
    if x.shape[1] not in (1, 3):
        raise InputError(f"{name}: expected 1 or 3 channels, got {x.shape[1]}")
    return x.shape[1] == channels


def to_grey(x: torch.Tensor) -> torch.Tensor:
    """RGB to one luma channel; grey input is returned as is."""
    if _has_channels(x, "to_grey", 1):
        return x
    wts = torch.tensor(GREY_WEIGHTS, dtype=x.dtype).reshape(1, 3, 1, 1)
    return (x * wts).sum(dim=1, keepdim=True)


def to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Grey to three equal channels; RGB input is returned as is."""
    if _has_channels(x, "to_rgb", 3):
        return x
    return x.repeat(1, 3, 1, 1)


def to_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """``to_grey`` for 1 channel, ``to_rgb`` for 3."""
    if channels not in (1, 3):
        raise InputError(f"channels must be 1 or 3, got {channels}")
    return to_grey(x) if channels == 1 else to_rgb(x)
