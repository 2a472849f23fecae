"""Square crops of pictures, resized to the model's input size.

A crop is a square of 1/8 to 1/2 of the picture's shorter side (at least ``size`` pixels),
resized to ``size``: the picture is scaled once per fraction so that the crop side becomes
``size``, and the crop is taken there. :func:`random_crops` draws crops independently (OOD test
sets); :func:`distinct_crops` draws crops none of which is a pixel-for-pixel copy of another,
and counts the crops per picture (auxiliary and margin-validation outliers, whose pool size and
reuse a report states).
"""

from __future__ import annotations

import hashlib

import torch

from .._validate import InputError
from . import transforms as T

CROP_FRACTIONS = (1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2)
MAX_ROUNDS = 30


def scaled_shape(h: int, w: int, frac: float, size: int) -> tuple[int, int]:
    """The (h, w) a picture is resized to so that a crop of ``frac`` of its shorter side is
    ``size`` pixels (a crop is never smaller than ``size`` pixels of the picture)."""
    scale = size / min(min(h, w), max(size, int(frac * min(h, w))))
    return max(size, round(h * scale)), max(size, round(w * scale))


def random_crops(imgs, n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """``n`` crops (n, 3, size, size): picture, fraction and position drawn independently."""
    pick = torch.randint(len(imgs), (n,), generator=g)
    frac = torch.randint(len(CROP_FRACTIONS), (n,), generator=g)
    out = torch.empty(n, 3, size, size)
    for i, im in enumerate(imgs):
        h, w = im.shape[1:]
        for j, f in enumerate(CROP_FRACTIONS):
            sel = torch.nonzero((pick == i) & (frac == j)).flatten()
            if len(sel):
                small = T.resize(im[None], scaled_shape(h, w, f, size))
                crops = T.random_crop(small.expand(len(sel), -1, -1, -1), size, generator=g)
                out[sel] = T.to_rgb(crops)
    return out.clamp_(0.0, 1.0)  # resizing can leave float error just past 1


def _materialise(imgs, keys: list[tuple[int, int, int, int]], size: int) -> torch.Tensor:
    """The crops of ``keys`` = (picture, fraction, top, left), in order. Each picture is
    resized once for its smallest fraction (the largest scale); the other scales are resized
    from that one, which is much cheaper than from the full picture."""
    out = torch.empty(len(keys), 3, size, size)
    by_picture: dict[int, dict[int, list[int]]] = {}
    for k, (i, j, _, _) in enumerate(keys):
        by_picture.setdefault(i, {}).setdefault(j, []).append(k)
    for i, fracs in by_picture.items():
        small = imgs[i][None]
        for j in sorted(fracs):  # CROP_FRACTIONS ascend: the scales descend
            small = T.resize(small, scaled_shape(*imgs[i].shape[1:], CROP_FRACTIONS[j], size))
            for k in fracs[j]:
                y, x = keys[k][2:]
                out[k] = small[0, :, y : y + size, x : x + size]  # grey fills all three
    return out.clamp_(0.0, 1.0)


def _draw_keys(imgs, m: int, size: int, g: torch.Generator) -> list[tuple[int, int, int, int]]:
    pick = torch.randint(len(imgs), (m,), generator=g).tolist()
    frac = torch.randint(len(CROP_FRACTIONS), (m,), generator=g).tolist()
    u = torch.rand(m, 2, generator=g).tolist()
    keys = []
    for i, j, (a, b) in zip(pick, frac, u):
        hs, ws = scaled_shape(*imgs[i].shape[1:], CROP_FRACTIONS[j], size)
        keys.append((i, j, int(a * (hs - size + 1)), int(b * (ws - size + 1))))
    return keys


def distinct_crops(imgs, n: int, size: int, g: torch.Generator) -> tuple[torch.Tensor, list]:
    """``n`` crops no two of which are equal pixel for pixel (a crop that repeats an earlier
    one, e.g. two blank corners of a cut-out stamp, is drawn again), and the number of crops
    taken from each picture. Pictures are drawn uniformly; an InputError when the pictures do
    not hold ``n`` distinct crops."""
    kept: list[torch.Tensor] = []
    keys_seen: set = set()
    pixels_seen: set = set()
    per_picture = [0] * len(imgs)
    need = n
    for _ in range(MAX_ROUNDS):
        keys = [k for k in dict.fromkeys(_draw_keys(imgs, need, size, g)) if k not in keys_seen]
        keys_seen.update(keys)
        crops = _materialise(imgs, keys, size)
        for key, c in zip(keys, crops):
            digest = hashlib.sha1(c.numpy().tobytes()).digest()
            if digest in pixels_seen:
                continue
            pixels_seen.add(digest)
            kept.append(c)
            per_picture[key[0]] += 1
            if len(kept) == n:
                return torch.stack(kept), per_picture
        need = n - len(kept)
    raise InputError(
        f"could not draw {n} distinct crops of {size} px from {len(imgs)} picture(s) "
        f"({len(kept)} found); ask for fewer outliers or add pictures"
    )
