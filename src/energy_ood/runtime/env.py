"""Environment variables that size things (``ENERGY_OOD_WORKERS``, ``..._MEMORY_LIMIT_MB``,
``..._MAX_BYTES``, ``..._MAX_RATIO``, ``..._MAX_PIXELS``): read strictly, so a value that is no
number, or out of range, is one line naming the variable, never ignored and never a traceback
deep inside a DataLoader. ``energy_ood.data.environment.check_environment`` reads them all
(the CLI does, at start)."""

from __future__ import annotations

import math
import os

from .._validate import InputError


def env_number(name: str, default: float, low: float, high: float, integral: bool = False):
    """The value of ``name`` (``default`` when unset or empty) within ``[low, high]``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    kind = "an integer" if integral else "a number"
    try:
        v = float(raw)
    except ValueError:
        v = math.nan
    if not (low <= v <= high) or (integral and not v.is_integer()):
        raise InputError(f"{name} must be {kind} in [{low:g}, {high:g}], got {raw!r}")
    return int(v) if integral else v
