"""The scorer registry (timm style): ``register``, ``create_scorer``, ``available_scorers``.

Names are lower case with ``_``; ``SHAPING+SCORE`` composes a shaping with a logit score.
Scorers defined outside ``energy_ood.score`` (the vision-language ones) are listed in ``_LAZY``
and imported on first use, so no caller needs an extra import.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._validate import InputError, one_line

if TYPE_CHECKING:
    from .base import Scorer

_REGISTRY: dict[str, type[Scorer]] = {}
# Scorers defined outside energy_ood.score, registered when first asked for (no extra import
# needed by the caller): name -> (module, input kind).
_LAZY: dict[str, tuple[str, str]] = {
    name: ("energy_ood.vlm.scores", "similarity")
    for name in ("mcm", "clip_msp", "clip_energy", "clip_maxlogit", "delta_energy")
}


def register(name: str) -> Callable[[type[Scorer]], type[Scorer]]:
    def deco(cls: type[Scorer]) -> type[Scorer]:
        if name in _REGISTRY:
            raise ValueError(f"scorer {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _key(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"scorer name must be a non-empty string, got {name!r}")
    return name.strip().lower().replace("-", "_")


def available_scorers(kind: str | None = None) -> list[str]:
    """Registered names (optionally only those scoring ``kind``). Any ``SHAPING+LOGIT`` pair,
    e.g. ``react+msp``, is also a valid name (``composable`` scorers, see ``shaping``)."""
    names = {n: c.input_kind for n, c in _REGISTRY.items()}
    names.update({n: k for n, (_, k) in _LAZY.items() if n not in names})
    return sorted(n for n, k in names.items() if kind is None or k == kind)


def scorer_class(name: str) -> type[Scorer]:
    """The class registered under ``name`` (a lazily registered one is imported here)."""
    key = _key(name)
    if key not in _REGISTRY and key in _LAZY:
        importlib.import_module(_LAZY[key][0])
    if key not in _REGISTRY:
        raise InputError(f"unknown scorer {name!r}; available: {', '.join(available_scorers())}")
    return _REGISTRY[key]


def scorer_params(name: str) -> list[str]:
    """Constructor parameters a scorer accepts (for a ``A+B`` name, those of both parts)."""
    key = _key(name)
    base, _, inner = key.partition("+")
    out = [p for p in _signature_params(scorer_class(base)) if p != "score"]
    if inner or scorer_class(base).composable:
        out += _signature_params(scorer_class(inner or "energy"))
    return out


def _signature_params(cls) -> list[str]:
    sig = inspect.signature(cls.__init__)
    return [
        p.name
        for p in list(sig.parameters.values())[1:]
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def create_scorer(name: str, **params) -> Scorer:
    """Build a scorer by registry name, e.g. ``create_scorer("energy", T=1.0)`` or
    ``create_scorer("ash_s+msp", percentile=90)``; unknown names and parameters are refused."""
    key = _key(name)
    if "+" in key:
        base, _, inner = key.partition("+")
        cls = scorer_class(base)
        if not cls.composable:
            shapings = [n for n, c in _REGISTRY.items() if c.composable]
            raise InputError(
                f"scorer {base!r} takes no logit score after '+'; "
                f"composable: {', '.join(sorted(shapings))}"
            )
        if "score" in params and _key(params["score"]) != inner:
            raise InputError(f"{name!r} names score {inner!r} but score={params['score']!r}")
        params = {**params, "score": inner}
    else:
        cls = scorer_class(key)
    if not any(
        p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values()
    ):
        known = _signature_params(cls)
        bad = sorted(set(params) - set(known))
        if bad:
            raise InputError(
                f"scorer {cls.name!r} has no parameter {bad[0]!r} "
                f"(parameters: {', '.join(known) or 'none'})"
            )
    try:
        return cls(**params)
    except TypeError as e:  # a wrongly typed argument the constructor did not name itself
        raise InputError(f"scorer {cls.name!r}: {one_line(e)}") from e
