"""The scorer registry (timm style): ``register``, ``create_scorer``, ``available_scorers``.

Names are lower case with ``_``; ``SHAPING+SCORE`` composes a shaping with a logit score.
Scorers register themselves (``@register("name")``) when their module is imported: those of
this package by ``energy_ood.score``, those of other packages (the vision-language ones) by the
plugin list :data:`energy_ood.plugins.SCORERS`, imported the first time the registry is asked
for its names or for a name it does not hold, so no caller needs an extra import.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

from .._validate import InputError, one_line
from .base import Scorer

_REGISTRY: dict[str, type[Scorer]] = {}
_PLUGINS_LOADED = False


def _load_plugins() -> None:
    """Import the modules of :data:`energy_ood.plugins.SCORERS` (once)."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True  # a plugin that asks the registry while it registers finds it loading
    from .. import plugins

    try:
        for module in plugins.SCORERS:
            importlib.import_module(module)
    except BaseException:
        _PLUGINS_LOADED = False  # asked again, the failing import is tried (and raises) again
        raise


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
    _load_plugins()
    return sorted(n for n, c in _REGISTRY.items() if kind is None or c.input_kind == kind)


def scorer_class(name: str) -> type[Scorer]:
    """The class registered under ``name`` (a plugin's is imported here)."""
    key = _key(name)
    if key not in _REGISTRY:
        _load_plugins()
    if key not in _REGISTRY:
        raise InputError(f"unknown scorer {name!r}; available: {', '.join(available_scorers())}")
    return _REGISTRY[key]


def scorer_params(name: str) -> list[str]:
    """Constructor parameters a scorer accepts (for a ``A+B`` name, those of both parts)."""
    key = _key(name)
    base, _, inner = key.partition("+")
    out = [p for p in scorer_class(base).init_params() if p != "score"]
    if inner or scorer_class(base).composable:
        out += scorer_class(inner or "energy").init_params()
    return out


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
        known = cls.init_params()
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
