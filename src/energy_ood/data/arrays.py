"""Read an image data set stored as ``.npz`` (keys ``x``/``y`` or ``images``/``labels``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validate import InputError, real_array
from ..io.npz import load_npz
from ..io.size_limits import check_bytes

KEYS = (("x", "y"), ("images", "labels"))
# what a byte of uint8 images costs once held as float32 images (4) plus their normalised copy
# (4), beside the uint8 original: the ceiling bounds this, not only the file's array
HELD_PER_BYTE = 9
MAX_CLASSES = 100_000  # labels without a "classes" key must stay below this


def check_held(n: int, what: str) -> None:
    """Refuse ``n`` bytes of uint8 images whose float copies would pass the byte ceiling."""
    check_bytes(n * HELD_PER_BYTE, f"{what} as float32 with a normalised copy")


def _as_uint8_nhwc(x: np.ndarray, name: str) -> np.ndarray:
    x = real_array(x, f"{name} images")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise InputError(f"{name}: images must be (N, H, W) or (N, H, W, C), got {x.shape}")
    if x.shape[3] not in (1, 3) and x.shape[1] in (1, 3):
        x = x.transpose(0, 2, 3, 1)
    if x.shape[3] not in (1, 3):
        raise InputError(f"{name}: images need 1 or 3 channels, got shape {x.shape}")
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if x.size == 0:
        return np.zeros(x.shape, np.uint8)
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise InputError(f"{name}: images contain NaN or inf")
    lo, hi = x.min().item(), x.max().item()
    if lo < 0 or hi > 255:
        raise InputError(f"{name}: pixel values must lie in [0, 1] or [0, 255], got [{lo}, {hi}]")
    if x.dtype.kind in "fb" and hi <= 1.0:
        x = x * np.float32(255.0)  # float or bool images in [0, 1]
    if x.dtype.kind == "f":
        x = np.rint(x)
    return np.ascontiguousarray(x.astype(np.uint8))


def _labels(y: np.ndarray, n: int, classes, name: str) -> tuple[np.ndarray, list[str]]:
    y = real_array(y, f"{name} labels")
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise InputError(f"{name}: labels must be a 1-D integer array, got {y.dtype} {y.shape}")
    if len(y) != n:
        raise InputError(f"{name}: {n} images but {len(y)} labels")
    if n == 0:
        raise InputError(f"{name}: empty data set")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0:
        raise InputError(f"{name}: negative label {lo}")
    if classes is not None:
        classes = _class_names(classes, name)
        if hi >= len(classes):
            raise InputError(f"{name}: label {hi} but only {len(classes)} class names")
    elif hi >= MAX_CLASSES:
        raise InputError(
            f"{name}: label {hi} without class names; labels above {MAX_CLASSES - 1} need a "
            "'classes' key naming every class"
        )
    else:
        classes = [str(i) for i in range(hi + 1)]
    return y.astype(np.int64), classes


def _class_names(classes: np.ndarray, name: str) -> list[str]:
    """The ``classes`` member as a list of names (text or numbers, 1-D)."""
    if classes.ndim != 1 or classes.dtype.kind not in "USiu":
        raise InputError(f"{name}: 'classes' must be a 1-D array of names, got {classes.dtype}")
    return [c.decode() if isinstance(c, bytes) else str(c) for c in classes.tolist()]


def read_npz(path: str | Path):
    """Read ``(x uint8 (N, H, W, C), y int64 (N,), class names)`` from an ``.npz`` file.

    Float images in [0, 1] are scaled to 0-255; an optional ``classes`` key names the classes
    (needed when a label reaches :data:`MAX_CLASSES`). Only these members are read, each
    checked against the file's size and the byte ceiling first.
    """
    path = Path(path)
    name = path.name
    found: list[tuple[str, str]] = []

    def pick(keys):
        hit = next((k for k in KEYS if k[0] in keys and k[1] in keys), None)
        if hit is None:
            raise InputError(f"{name}: holds {sorted(keys)}, expected keys x/y or images/labels")
        found.append(hit)
        return [*hit, *(["classes"] if "classes" in keys else [])]

    d = load_npz(path, pick=pick)
    kx, ky = found[0]
    x = _as_uint8_nhwc(d[kx], name)
    y, classes = _labels(d[ky], len(x), d.get("classes"), name)
    return x, y, classes


def npz_images(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """:func:`read_npz`, refused when its float copies would pass the byte ceiling."""
    x, y, classes = read_npz(path)
    check_held(x.nbytes, f"{path}: {len(x)} images")
    return x, y, classes


def npz_dataset(path: Path):
    """``(x, y, classes, x_test, y_test)`` of an ``.npz`` data set: it has no test part."""
    return (*npz_images(path), None, None)
