"""Decoded-array cache: ``.npz`` files keyed by the source's path, size and mtime."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np

from ..runtime.progress import log


def cache_root(cache_dir=None) -> Path:
    """``cache_dir``, else env ``ENERGY_OOD_CACHE``, else ``~/.cache/energy_ood``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("ENERGY_OOD_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "energy_ood"


def fingerprint(path: Path, files=None) -> str:
    """Size and mtime of a file, of every file under a folder, or of the given ``files``."""
    path = Path(path)
    if files is None:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha1()
    for f in files:
        st = Path(f).stat()
        rel = Path(f).relative_to(path) if Path(f) != path else ""
        h.update(f"{rel}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def cache_file(source: Path, tag: str, cache_dir=None, files=None) -> Path:
    """Cache path for ``source`` (a file or folder) and ``tag``; changes when the source does
    (or when one of ``files``, the folder's members if given, does)."""
    fp = fingerprint(source, files)
    source = Path(source).resolve()
    where = hashlib.sha1(str(source).encode()).hexdigest()[:8]
    name = f"{source.name}-{tag}-{where}-{fp}.npz"
    return cache_root(cache_dir) / name


def load_cached(path: Path) -> dict | None:
    """The arrays in a cache file, or None when it is absent or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        log(f"ignoring unreadable cache file {path} ({e})")
        return None


def save_cached(path: Path, **arrays) -> None:
    """Write atomically and drop older entries for the same source and tag."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.name.rsplit("-", 1)[0]
    for old in path.parent.iterdir():
        if old != path and old.name.startswith(stem + "-") and old.suffix == ".npz":
            old.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
