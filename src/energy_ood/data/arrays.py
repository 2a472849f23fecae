"""Read an image data set stored as ``.npz`` (keys ``x``/``y`` or ``images``/``labels``)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .._validate import InputError

KEYS = (("x", "y"), ("images", "labels"))


def _as_uint8_nhwc(x: np.ndarray, name: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise InputError(f"{name}: images must be (N, H, W) or (N, H, W, C), got {x.shape}")
    if x.shape[3] not in (1, 3) and x.shape[1] in (1, 3):
        x = x.transpose(0, 2, 3, 1)
    if x.shape[3] not in (1, 3):
        raise InputError(f"{name}: images need 1 or 3 channels, got shape {x.shape}")
    if x.dtype == np.uint8:
        return x
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise InputError(f"{name}: images must be numeric, got dtype {x.dtype}")
    unit = x.dtype == bool or np.issubdtype(x.dtype, np.floating)
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise InputError(f"{name}: images contain NaN or inf")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 255:
        raise InputError(f"{name}: pixel values must lie in [0, 1] or [0, 255], got [{lo}, {hi}]")
    scale = 255.0 if unit and hi <= 1.0 else 1.0
    return np.rint(x * scale).astype(np.uint8)


def read_npz(path: str | Path):
    """Read ``(x uint8 (N, H, W, C), y int64 (N,), class names)`` from an ``.npz`` file.

    Float images in [0, 1] are scaled to 0-255; an optional ``classes`` key names the classes.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(f"{name}: not a readable .npz file ({e})") from None
    keys = next((k for k in KEYS if k[0] in d and k[1] in d), None)
    if keys is None:
        raise InputError(f"{name}: holds {sorted(d)}, expected keys x/y or images/labels")
    x, y = _as_uint8_nhwc(d[keys[0]], name), d[keys[1]]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"{name}: labels must be a 1-D integer array, got {y.dtype} {y.shape}")
    if len(y) != len(x):
        raise InputError(f"{name}: {len(x)} images but {len(y)} labels")
    if len(y) == 0:
        raise InputError(f"{name}: empty data set")
    if y.min() < 0:
        raise InputError(f"{name}: negative label {int(y.min())}")
    k = int(y.max()) + 1
    classes = [str(c) for c in d["classes"]] if "classes" in d else [str(i) for i in range(k)]
    if len(classes) < k:
        raise InputError(f"{name}: label {k - 1} but only {len(classes)} class names")
    return x, y.astype(np.int64), classes
