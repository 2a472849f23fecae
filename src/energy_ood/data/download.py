"""Fetch a file over HTTP(S) and check its sha256; fail fast and clearly without a network."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from .._validate import InputError
from ..runtime.progress import log, progress

TIMEOUT_S = 15.0


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(url: str, dest: Path, sha: str, timeout: float = TIMEOUT_S) -> Path:
    """Download ``url`` to ``dest`` unless a copy with the right sha256 is already there."""
    dest = Path(dest)
    if dest.is_file() and sha256(dest) == sha:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    log(f"downloading {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
            total = int(r.headers.get("Content-Length") or 0) or None
            with progress(total=total, desc=dest.name, unit="B") as bar:
                for block in iter(lambda: r.read(1 << 16), b""):
                    f.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError, ValueError) as e:
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise InputError(f"{url}: download failed ({reason})") from None
    got = sha256(tmp)
    if got != sha:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{url}: sha256 mismatch, expected {sha}, got {got}")
    os.replace(tmp, dest)
    return dest
