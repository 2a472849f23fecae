"""Checks for scorer parameters: plain JSON numbers in range, else one-line InputError.

Detector files are read back into constructors, so every parameter is checked here: booleans,
strings, None and non-finite numbers are refused where a number is expected.
"""

from __future__ import annotations

import math
import numbers

from .._validate import InputError


def real(
    value,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise InputError(f"{name} must be finite, got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        raise InputError(f"{name} must be {'>' if low_open else '>='} {low:g}, got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise InputError(f"{name} must be {'<' if high_open else '<='} {high:g}, got {value!r}")
    return v


def positive(value, name: str) -> float:
    """A finite number > 0 (temperatures, scales)."""
    return real(value, name, low=0.0, low_open=True)


T_RANGE = (1e-3, 1e6)


def temperature(value, name: str) -> float:
    """A temperature in :data:`T_RANGE`: below it logits / T overflow or every softmax is
    one-hot (all scores tie), above it every softmax is flat; neither gives a number."""
    v = positive(value, name)
    if not T_RANGE[0] <= v <= T_RANGE[1]:
        raise InputError(
            f"{name} must be within [{T_RANGE[0]:g}, {T_RANGE[1]:g}], got {value!r} (logits / T "
            "would overflow or tie every score)"
        )
    return v


def integer(value, name: str, *, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise InputError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if low is not None and v < low:
        raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
    return v


def percent(value, name: str, *, allow_100: bool = False, allow_0: bool = True) -> float:
    """A percentage in [0, 100) (or (0, 100] / [0, 100] as asked)."""
    return real(value, name, low=0.0, high=100.0, low_open=not allow_0, high_open=not allow_100)


def choice(value, name: str, allowed: tuple) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")
    return value


def optional_name(value, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InputError(f"{name} must be a module name (string) or None, got {value!r}")
    return value


def channel_std(value, name: str = "std") -> list[float] | None:
    """Per-channel standard deviations of the input normalisation (None: model-input units)."""
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise InputError(f"{name} must be a list of per-channel numbers, got {value!r}")
    return [positive(v, f"{name}[{i}]") for i, v in enumerate(value)]
