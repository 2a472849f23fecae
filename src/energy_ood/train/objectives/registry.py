"""The objective registry: ``register_objective``, ``create_objective``, ``objective_class``,
``available_objectives``. Names are lower case with ``-`` (``single-margin``)."""

from __future__ import annotations

from collections.abc import Callable

from ..._validate import InputError
from .base import NEEDS, Objective

_REGISTRY: dict[str, type[Objective]] = {}


def register_objective(name: str) -> Callable[[type[Objective]], type[Objective]]:
    def deco(cls: type[Objective]) -> type[Objective]:
        if name in _REGISTRY:
            raise ValueError(f"objective {name!r} registered twice")
        bad = set(cls.needs) - set(NEEDS)
        if bad:
            raise ValueError(f"objective {name!r} declares unknown needs {sorted(bad)}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def available_objectives() -> list[str]:
    return list(_REGISTRY)


def objective_class(name) -> type[Objective]:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise InputError(
            f"unknown method {name!r}; choose from {', '.join(available_objectives())}"
        )
    return _REGISTRY[name]


def create_objective(name: str, **hparams) -> Objective:
    """The objective ``name`` with its hyperparameters checked (InputError naming each bad
    value, in one line)."""
    return objective_class(name)(**hparams)
