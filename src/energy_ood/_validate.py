"""Input checks shared by every layer: one clear message naming the problem."""

from __future__ import annotations

import numpy as np
import torch


class InputError(ValueError):
    """Bad user input (NaN scores, empty arrays, shape mismatch, unreadable file, ...)."""


def as_numpy_1d(x, name: str) -> np.ndarray:
    """Return ``x`` (array-like or tensor) as a finite, non-empty 1-D float numpy array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype == torch.bfloat16 or x.dtype == torch.float16:
            x = x.float()
        x = x.numpy()
    a = np.asarray(x)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise InputError(f"{name}: expected numeric scores, got dtype {a.dtype}")
    if a.ndim == 2 and 1 in a.shape:
        a = a.reshape(-1)
    if a.ndim != 1:
        raise InputError(f"{name}: expected a 1-D array of scores, got shape {tuple(a.shape)}")
    if a.size == 0:
        raise InputError(f"{name}: empty array, need at least one score")
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    if not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise InputError(f"{name}: {bad} non-finite value(s) (NaN or inf) among {a.size} scores")
    return a


def as_tensor_2d(x, name: str, dtype=None) -> torch.Tensor:
    """Return ``x`` as a finite 2-D float tensor (rows = samples)."""
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 2:
        raise InputError(
            f"{name}: expected a 2-D array (samples x classes/features), got shape {tuple(t.shape)}"
        )
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise InputError(f"{name}: empty array of shape {tuple(t.shape)}")
    if not torch.is_floating_point(t):
        t = t.float()
    if dtype is not None:
        t = t.to(dtype)
    if not torch.isfinite(t).all():
        bad = int((~torch.isfinite(t)).sum())
        raise InputError(f"{name}: {bad} non-finite value(s) (NaN or inf)")
    return t


def check_fraction(value: float, name: str, *, open_low: bool = True) -> float:
    v = float(value)
    if not (0.0 < v <= 1.0 if open_low else 0.0 <= v <= 1.0):
        raise InputError(f"{name} must be in (0, 1], got {value}")
    return v
