"""Progress bars with rate and ETA (tqdm), silenced by ``--quiet`` or when CI=true."""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm

_QUIET = False


def set_quiet(quiet: bool) -> None:
    global _QUIET
    _QUIET = bool(quiet)


def is_quiet() -> bool:
    return _QUIET


def progress(iterable=None, *, total=None, desc: str = "", unit: str = "it", leave: bool = False):
    """A tqdm bar showing count, rate and ETA on stderr; disabled when quiet."""
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        leave=leave,
        disable=_QUIET,
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5,
        smoothing=0.1,
    )


def log(msg: str) -> None:
    """A status line on stderr unless quiet."""
    if not _QUIET:
        print(msg, file=sys.stderr, flush=True)


def env_quiet_default() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
