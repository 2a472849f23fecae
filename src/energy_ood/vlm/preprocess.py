"""CLIP image preprocessing without torchvision: resize the shorter side (bicubic), center
crop, scale to [0, 1], normalize per channel. Same steps as open_clip's eval transform
(``resize_mode="shortest"``); PIL does the resampling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .._validate import InputError
from ..data.images import decode_image
from ..data.streaming import ImageTransform

FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")  # what --images lists (apply.py)
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def _to_pil(img) -> Image.Image:
    if isinstance(img, Image.Image):
        return img.convert("RGB")
    if isinstance(img, (str, Path)):  # a regular file, under the pixel cap, decoded safely
        return Image.fromarray(decode_image(img, str(img), mode="RGB", formats=FORMATS))
    a = np.asarray(img)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] not in (1, 3):
        raise InputError(f"expected an H x W x 3 image array, got shape {a.shape}")
    if a.dtype != np.uint8:
        if a.size and (a.min() < 0 or a.max() > 1):
            raise InputError("float image arrays must hold values in [0, 1]")
        a = (a * 255).round().astype(np.uint8)
    return Image.fromarray(a if a.shape[-1] == 3 else a.repeat(3, -1))


def preprocess_image(img, size: int = 224, mean=OPENAI_MEAN, std=OPENAI_STD) -> torch.Tensor:
    """One image (PIL, path or H x W x 3 array) -> a normalized 3 x size x size tensor."""
    im = _to_pil(img)
    w, h = im.size
    where = str(img) if isinstance(img, (str, Path)) else "image"
    ImageTransform(size, 3).check_shape(h, w, where)  # the resize stays under the pixel cap
    scale = size / min(w, h)
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    im = im.crop((left, top, left + size, top + size))
    x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)
    m = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    s = torch.tensor(std, dtype=torch.float32)[:, None, None]
    return (x - m) / s


def preprocess_batch(images, size: int = 224, mean=OPENAI_MEAN, std=OPENAI_STD) -> torch.Tensor:
    """A list of images, or an already preprocessed n x 3 x size x size tensor (checked)."""
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[2:]) != (size, size):
            raise InputError(
                f"expected preprocessed images of shape (n, 3, {size}, {size}), "
                f"got {tuple(images.shape)}"
            )
        return images.float()
    images = list(images)
    if not images:
        raise InputError("no images given")
    return torch.stack([preprocess_image(im, size, mean, std) for im in images])
