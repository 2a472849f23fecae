"""Progress output: tqdm bars with rate and ETA, and status lines, both on stderr.

One switch governs every bar and status line energy-ood draws, from Python and from the CLI:
``energy_ood.set_progress(False)`` (the CLI's ``--quiet``) silences them, and
``energy_ood.progress_enabled()`` tells the current state. It starts off when the environment
says CI (``CI=true``/``1``/``yes``) and on otherwise. This module imports nothing heavy (tqdm is
imported by the first bar).
"""

from __future__ import annotations

import os
import sys


def env_quiet_default() -> bool:
    """True when the environment asks for quiet output (``CI=true``, ``1`` or ``yes``)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


_ENABLED = not env_quiet_default()


def set_progress(enabled: bool) -> None:
    """Turn energy-ood's progress bars and status lines on or off (process-wide)."""
    global _ENABLED
    _ENABLED = bool(enabled)


def progress_enabled() -> bool:
    return _ENABLED


def set_quiet(quiet: bool) -> None:
    """``set_progress(not quiet)`` (the CLI's ``--quiet``)."""
    set_progress(not quiet)


def is_quiet() -> bool:
    return not _ENABLED


def _other_rank() -> bool:
    """A torchrun process other than rank 0: its bars and lines would repeat rank 0's."""
    return os.environ.get("RANK", "0").strip() not in ("", "0")


def progress(iterable=None, *, total=None, desc: str = "", unit: str = "it", leave: bool = False):
    """A tqdm bar showing count, rate and ETA on stderr; disabled by the switch."""
    from tqdm.auto import tqdm

    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        leave=leave,
        disable=not _ENABLED or _other_rank(),
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5,
        smoothing=0.1,
    )


def log(msg: str) -> None:
    """A status line on stderr unless progress output is off (and on torchrun's rank 0 only)."""
    if _ENABLED and not _other_rank():
        print(msg, file=sys.stderr, flush=True)
