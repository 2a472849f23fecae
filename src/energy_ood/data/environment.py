"""The environment variables that size reading (``ENERGY_OOD_WORKERS``,
``..._MEMORY_LIMIT_MB``, ``..._MAX_BYTES``, ``..._MAX_RATIO``, ``..._MAX_PIXELS``), checked
together: the command line calls :func:`check_environment` at start, so a bad value is one line
at once, not a traceback later inside a DataLoader."""

from __future__ import annotations

from ..io.size_limits import max_bytes, max_ratio
from .images import max_pixels
from .streaming import default_workers, memory_limit_bytes


def check_environment() -> None:
    """Read every sizing variable once; the first bad one is an InputError."""
    for read in (default_workers, memory_limit_bytes, max_bytes, max_ratio, max_pixels):
        read()
