"""A choice measured once per machine and kept on disk (``index='auto'`` of KNN: which exhaustive
CPU search is faster here). The file is ``<cache root>/measured_choices.json`` (the cache root
of the decoded-data cache: ``ENERGY_OOD_CACHE``, else ``~/.cache/energy_ood``), one entry per
key; a file there that is not such a JSON object is left alone. The key names everything the
choice depends on (CPU model, thread count, library versions, shape), so a new machine, thread
count or library measures again. An unreadable or unwritable file only means measuring again:
the choice changes the time, never a number.
"""

from __future__ import annotations

import json

from .._validate import InputError
from ..data.cache import cache_root
from ..io.atomic_write import atomic_write_bytes
from ..runtime.provenance import cpu_model

FILE = "measured_choices.json"
MAX_BYTES = 1 << 20  # a larger file is not ours: measured again, the file left alone


def machine_key(*parts) -> str:
    """A key naming this CPU and ``parts`` (thread count, versions, shape, ...)."""
    return " | ".join([cpu_model(), *(str(p) for p in parts)])


def _read() -> dict | None:
    """The stored choices; {} when there is no file; None when a file is there that is not
    ours to read or replace (too large, not a JSON object of strings)."""
    path = cache_root() / FILE
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        d = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return None
    ok = isinstance(d, dict) and all(isinstance(v, str) for v in d.values())
    return d if ok else None


def load_choice(key: str, allowed) -> str | None:
    """The choice stored under ``key`` when it is one of ``allowed``, else None."""
    v = (_read() or {}).get(key)
    return v if isinstance(v, str) and v in allowed else None


def save_choice(key: str, value: str) -> None:
    """Store ``value`` under ``key``, atomically, in a file this module wrote (or none yet); a
    file that is not ours is left alone, and a failed write ignored (see the module's note)."""
    d = _read()
    if d is None:
        return
    d[key] = value
    try:
        path = cache_root() / FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(d, indent=1, sort_keys=True).encode())
    except (OSError, InputError):  # a cache: the next process measures again
        pass
