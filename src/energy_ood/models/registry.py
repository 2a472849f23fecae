"""Name -> architecture registry: ``register_model``, ``create_model``, ``available_models``."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from .._validate import InputError
from .base import OODNet

_MODELS: dict[str, Callable[..., OODNet]] = {}


def register_model(name: str):
    """Decorator registering a class or factory ``f(num_classes, in_channels, rotation_head,
    **kwargs) -> OODNet`` under ``name``."""

    def deco(fn):
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = fn
        if isinstance(fn, type):
            fn.arch_name = name
        return fn

    return deco


def available_models() -> list[str]:
    return sorted(_MODELS)


def create_model(
    name: str, num_classes: int = 10, in_channels: int = 3, rotation_head: bool = False, **kwargs
) -> OODNet:
    """Build a registered architecture. Extra ``kwargs`` go to the architecture (e.g.
    ``dropout=0.0``); a nested ``kwargs={...}`` is accepted too, so that
    ``create_model(**model.arch_config())`` rebuilds a model."""
    nested = kwargs.pop("kwargs", None) or {}
    kwargs = {**nested, **kwargs}
    if name not in _MODELS:
        raise InputError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    fn = _MODELS[name]
    try:
        inspect.signature(fn).bind(
            num_classes=num_classes, in_channels=in_channels, rotation_head=rotation_head, **kwargs
        )
    except TypeError as e:
        raise InputError(f"model {name!r}: bad arguments {sorted(kwargs)}: {e}") from None
    model = fn(
        num_classes=num_classes, in_channels=in_channels, rotation_head=rotation_head, **kwargs
    )
    model._arch = {
        "name": name,
        "num_classes": num_classes,
        "in_channels": in_channels,
        "rotation_head": bool(rotation_head),
        "kwargs": dict(kwargs),
    }
    return model
