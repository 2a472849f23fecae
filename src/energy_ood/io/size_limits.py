"""The limits every reader checks before it allocates anything.

- :func:`max_bytes`: the ceiling for any one array or decompressed stream, from env
  ``ENERGY_OOD_MAX_BYTES`` (bytes, or with a K/M/G/T suffix), else :data:`MAX_BYTES`.
- :func:`max_ratio`: the decompression ratio limit, env ``ENERGY_OOD_MAX_RATIO``, else
  :data:`MAX_RATIO`.
"""

from __future__ import annotations

import os

from .._validate import InputError

MAX_BYTES = 16 << 30  # 16 GiB
# Decompressed / compressed size. Deflate (gzip, zip) reaches about 1032 at most, on long runs
# of one byte value, so the limit lies below it and stops zip and gzip bombs as well as bzip2/xz
# ones (whose ratios are unbounded); real data stays far below (sorted label arrays reach
# several hundred, MNIST's files under 10). Memory is bounded by the ceiling and the headers'
# sizes, which are checked before anything is allocated.
MAX_RATIO = 1000


def max_bytes() -> int:
    """The byte ceiling: env ``ENERGY_OOD_MAX_BYTES`` (e.g. ``4G``), else :data:`MAX_BYTES`."""
    env = os.environ.get("ENERGY_OOD_MAX_BYTES", "").strip()
    if not env:
        return MAX_BYTES
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    unit = mult.get(env[-1].upper(), 1)
    try:
        v = int(float(env[:-1] if unit > 1 else env) * unit)
    except ValueError:
        v = 0
    if v < 1:
        raise InputError(f"ENERGY_OOD_MAX_BYTES must be a positive size like 4G, got {env!r}")
    return v


def max_ratio() -> float:
    """Decompression ratio limit: env ``ENERGY_OOD_MAX_RATIO``, else :data:`MAX_RATIO`."""
    env = os.environ.get("ENERGY_OOD_MAX_RATIO", "").strip()
    try:
        v = float(env) if env else float(MAX_RATIO)
    except ValueError:
        v = 0.0
    if not v >= 1:
        raise InputError(f"ENERGY_OOD_MAX_RATIO must be a number >= 1, got {env!r}")
    return v


def size_text(n: int) -> str:
    for unit, k in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << k:
            return f"{n / (1 << k):.3g} {unit}"
    return f"{n} bytes"


def check_bytes(n: int, what: str) -> int:
    """Refuse ``n`` bytes for ``what`` when above :func:`max_bytes`."""
    cap = max_bytes()
    if n > cap:
        raise InputError(
            f"{what}: needs {size_text(n)}, above the limit of {size_text(cap)} "
            "(raise ENERGY_OOD_MAX_BYTES if this is intended)"
        )
    return n
