"""Read arrays of logits, features or scores from .npy, .npz, .pt (weights_only) or .csv."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from ._validate import InputError

PREFERRED_KEYS = ("logits", "scores", "features", "x", "arr_0")


def _pick(d: dict, path: Path):
    arrays = {k: v for k, v in d.items() if isinstance(v, (np.ndarray, torch.Tensor))}
    for k in PREFERRED_KEYS:
        if k in arrays:
            return arrays[k]
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    raise InputError(f"{path}: holds {sorted(arrays)}; name one of them 'logits' or 'scores'")


def load_array(path: str | Path) -> np.ndarray:
    """Load one numeric array; every failure is an InputError naming the file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a .npy/.npz/.pt/.csv file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False, mmap_mode="r")
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arr = _pick({k: z[k] for k in z.files}, path)
        elif suffix in (".pt", ".pth"):
            obj = torch.load(path, weights_only=True, map_location="cpu")
            arr = _pick(obj, path) if isinstance(obj, dict) else obj
            if not isinstance(arr, torch.Tensor):
                raise InputError(f"{path}: expected a tensor, found {type(arr).__name__}")
            arr = arr.detach().float().numpy()
        elif suffix in (".csv", ".txt"):
            arr = _read_csv(path)
        else:
            raise InputError(f"{path}: unknown file type {suffix!r} (use .npy, .npz, .pt, .csv)")
    except InputError:
        raise
    except pickle.UnpicklingError as e:
        raise InputError(
            f"{path}: refused to load, it holds objects other than tensors (read with "
            "weights_only=True; loading it fully could run code from an untrusted source)"
        ) from e
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, RuntimeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{path}: unreadable or truncated file ({msg})") from e
    arr = np.asarray(arr) if not isinstance(arr, np.ndarray) else arr
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"{path}: expected numbers, found dtype {arr.dtype}")
    return arr


def _read_csv(path: Path) -> np.ndarray:
    with open(path) as f:
        first = f.readline()
    skip = 0
    try:
        [float(v) for v in first.strip().split(",") if v.strip()]
    except ValueError:
        skip = 1  # a header line
    arr = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2, dtype=np.float64)
    if arr.shape[1] == 1:
        arr = arr[:, 0]
    return arr
