"""Outputs written atomically (the checks made before any work are :mod:`.output_checks`).

- :func:`atomic_write_bytes` (and the JSON/text/torch variants): a temporary file beside the
  target, then a rename; a failed write (ENOSPC, EFBIG, EIO, ...) is one InputError and
  leaves the old file as it was. Temporary names end in :data:`TMP_SUFFIX`, so a clean-up
  removes only files this package made.
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import tempfile
from pathlib import Path

import numpy as np

from .._validate import InputError
from .output_checks import stat_or_none

TMP_SUFFIX = ".energy-ood.tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_error(path, e: OSError) -> InputError:
    return InputError(f"{path}: cannot write ({e.strerror or e}); nothing was written there")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """``data`` at ``path`` as a whole or not at all (a temporary file, fsync, rename)."""
    path = Path(path)
    st = stat_or_none(path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file, not replaced")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise write_error(path, e) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def json_default(o):
    """numpy and torch values as plain numbers and lists, paths as text (``json.dumps``)."""
    if isinstance(o, np.generic):
        return o.item()
    torch = sys.modules.get("torch")
    if isinstance(o, np.ndarray) or (torch is not None and isinstance(o, torch.Tensor)):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def atomic_write_json(path: str | os.PathLike, obj, default=json_default) -> None:
    """``obj`` as indented JSON (numpy and torch values as lists), written atomically."""
    text = json.dumps(obj, indent=2, default=default, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to memory, then :func:`atomic_write_bytes`."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def new_temp_folder(out: Path) -> Path:
    """A temporary folder beside ``out`` (removed by the caller on failure)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=TMP_SUFFIX))
    except OSError as e:
        raise write_error(out, e) from None


def replace_folder(tmp: Path, out: Path) -> None:
    """Put the finished folder ``tmp`` at ``out`` (beside it, same file system): the old
    folder is moved aside first and removed only once the new one is in place."""
    import shutil

    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}{TMP_SUFFIX}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
