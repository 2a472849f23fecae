"""Readers of one array of numbers (logits, features, scores, labels, images as floats) from
.npy, .npz, .pt or .csv files, each ``reader(path, key, kind) -> array`` and failing with one
line naming the file; which reader reads a path is the source map's choice
(:func:`energy_ood.data.sources.load_array`).

In a bundle (.npz, .pt) ``key`` picks an array, else the array named after ``kind``
(:data:`KIND_KEYS`); a bundle holding several arrays with neither is an error that names its
keys, never a silent guess. Several arrays by name: :func:`npz_named`, :func:`pt_named`.
"""

from __future__ import annotations

import io
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import torch

from .._validate import InputError, one_line, real_array
from .npz import load_npz
from .regular_files import os_error, read_regular
from .size_limits import check_bytes, max_bytes
from .torch_load import load_failure

KIND_KEYS = {
    "logits": ("logits",),
    "features": ("features", "feats", "embeddings"),
    "scores": ("scores", "score"),
    "labels": ("labels", "y", "targets"),
    "similarity": ("similarity", "similarities", "sims"),
    "inputs": ("inputs", "images", "x"),
}


def choose_key(keys: list[str], path, key: str | None, kind: str | None) -> str:
    """The key to read from a bundle holding ``keys``, or an InputError naming them."""
    listed = ", ".join(keys[:8]) + (f", ... ({len(keys)} arrays)" if len(keys) > 8 else "")
    listed = listed or "no arrays"
    if key is not None:
        if key not in keys:
            raise InputError(f"{path}: no array named {key!r}; it holds {listed}")
        return key
    if kind is not None:
        if kind not in KIND_KEYS:
            raise InputError(f"unknown array kind {kind!r}; choose from {', '.join(KIND_KEYS)}")
        hits = [k for k in KIND_KEYS[kind] if k in keys]
        if hits:
            return hits[0]
    if len(keys) == 1:
        return keys[0]
    if not keys:
        raise InputError(f"{path}: holds no arrays")
    want = f" and none is named {kind!r}" if kind else ""
    raise InputError(f"{path}: holds several arrays ({listed}){want}; choose one as {path}:KEY")


def read_guarded(path: Path, reader):
    """Run a third-party reader; anything it raises on a bad file becomes one InputError."""
    try:
        return reader(path)
    except InputError:
        raise
    except pickle.UnpicklingError as e:
        raise InputError(
            f"{path}: refused to load, it holds objects other than tensors (read with "
            "weights_only=True; loading it fully could run code from an untrusted source)"
        ) from e
    except (PermissionError, FileNotFoundError) as e:
        raise os_error(path, e) from None
    except MemoryError:
        raise InputError(f"{path}: too large to load into memory") from None
    except Exception as e:  # a parser of untrusted bytes may raise anything
        raise InputError(f"{path}: unreadable or truncated file ({one_line(e)})") from None


def _npy(path: Path) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False, mmap_mode="c")
    except ValueError as e:
        if "Object arrays" in str(e):
            raise InputError(f"{path}: holds Python objects, refused (no pickles)") from None
        raise
    if not isinstance(a, np.ndarray):  # np.load opened a zip archive
        a.close()
        raise InputError(f"{path}: an .npz archive named .npy; rename it to .npz")
    return a


def _pt(path: Path, key: str | None, kind: str | None) -> np.ndarray:
    check_bytes(os.stat(path).st_size, str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's notes on odd pickle protocols
        obj = torch.load(path, weights_only=True, map_location="cpu")
    if isinstance(obj, dict):
        arrays = {str(k): v for k, v in obj.items() if isinstance(v, (torch.Tensor, np.ndarray))}
        obj = arrays[choose_key(list(arrays), path, key, kind)]
    elif key is not None:
        raise InputError(f"{path}:{key}: the file holds one {type(obj).__name__}, not a dict")
    if isinstance(obj, np.ndarray):
        return obj
    if not isinstance(obj, torch.Tensor):
        raise InputError(f"{path}: expected a tensor, found {type(obj).__name__}")
    t = real_array(obj, str(path)).detach()
    return (t.float() if t.dtype in (torch.float16, torch.bfloat16) else t).numpy()


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _read_csv(path: Path) -> np.ndarray:
    """Numbers separated by commas; a first row without any number is a header."""
    try:
        text = read_regular(path, limit=max_bytes()).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip() and not _comment(ln)), None)
    if first is None:
        raise InputError(f"{path}: no numbers found (empty file)")
    cells = [c.strip() for c in lines[first].split(",")]
    numeric = [_is_number(c) for c in cells]
    skip = 0
    if not any(numeric):
        skip = first + 1  # a header: no cell of the first row is a number
    elif not all(numeric):
        col = numeric.index(False)
        raise InputError(
            f"{path}: row {first + 1}, column {col + 1}: {cells[col]!r} is not a number "
            "(a header row must hold no numbers)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            arr = np.loadtxt(
                io.StringIO(text), delimiter=",", skiprows=skip, ndmin=2, dtype=np.float64
            )
    except ValueError:
        raise InputError(_csv_problem(path, lines, skip)) from None
    if arr.size == 0:
        raise InputError(f"{path}: a header but no rows of numbers")
    return arr[:, 0] if arr.shape[1] == 1 else arr


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _csv_problem(path: Path, lines: list[str], skip: int) -> str:
    """The first cell that is not a number, or the first row of another width."""
    width = None
    for i in range(skip, len(lines)):
        line = lines[i].split("#", 1)[0]
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        for j, c in enumerate(cells):
            if not _is_number(c):
                return f"{path}: row {i + 1}, column {j + 1}: {c!r} is not a number"
        if width is not None and len(cells) != width:
            return f"{path}: row {i + 1} has {len(cells)} columns, the rows above {width}"
        width = len(cells)
    return f"{path}: not a table of numbers"


def npy_array(path: Path, key=None, kind=None) -> np.ndarray:
    """An ``.npy`` file, memory-mapped copy-on-write (writable, nothing read up front)."""
    return read_guarded(path, _npy)


def npz_array(path: Path, key=None, kind=None) -> np.ndarray:
    """One member of an ``.npz`` file (``key``, else the one of ``kind``, else the only one)."""
    got = read_guarded(path, lambda p: load_npz(p, lambda keys: [choose_key(keys, p, key, kind)]))
    return next(iter(got.values()))


def pt_array(path: Path, key=None, kind=None) -> np.ndarray:
    """A tensor of a ``.pt`` file, or one of a dict of them (read with ``weights_only=True``)."""
    return read_guarded(path, lambda p: _pt(p, key, kind))


def csv_array(path: Path, key=None, kind=None) -> np.ndarray:
    """A table of numbers separated by commas (one column: a 1-D array)."""
    return _read_csv(path)


def npz_named(path: Path, names, what: str = "file") -> dict:
    """The members of an ``.npz`` file among ``names`` (others are not read)."""
    return load_npz(path, pick=lambda keys: [k for k in names if k in keys])


def pt_named(path: Path, names, what: str = "file"):
    """The object of a ``.pt`` file (a dict of arrays by name, when it is one), read with
    ``weights_only=True``; ``what`` names the file in a refusal."""
    check_bytes(path.stat().st_size, str(path))
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any failure of the restricted unpickler
        raise load_failure(path, e, what) from e
