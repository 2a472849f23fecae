"""Typed configuration sections: dataclasses checked field by field when a config is loaded.

``Section.from_dict(data, where)`` builds a section from a TOML table and refuses, with one
line naming the key, an unknown key, a value of the wrong type, a missing required key and a
value out of range (``option(min=..., max=..., gt=..., min_len=...)``). Nested sections,
``list[X]``, ``X | None``, ``Literal[...]`` and types with a ``from_toml(value, key)`` class
method are understood. A subclass adds cross-field checks in ``check(where)``.

To add an option to a config kind, add a field with a default to its dataclass; nothing else.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import MISSING, dataclass, field
from typing import Any, Literal

from .._validate import InputError


def option(default=MISSING, *, factory=None, min=None, max=None, gt=None, min_len=None):
    """A dataclass field with range metadata (``min``/``max`` inclusive, ``gt`` exclusive;
    ``min_len`` for lists). Ranges apply to each element of a list."""
    md = {"min": min, "max": max, "gt": gt, "min_len": min_len}
    if factory is not None:
        return field(default_factory=factory, metadata=md)
    return field(default=default, metadata=md)


def key_of(where: str, name) -> str:
    if isinstance(name, int):
        return f"{where}[{name}]"
    return f"{where}.{name}" if where else str(name)


def describe(v) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a table"}  # fmt: skip
    text = repr(v) if not isinstance(v, dict | list) else ""
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{kinds.get(type(v), type(v).__name__)} {text}".strip()


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        inner = _type_name(typing.get_args(tp)[0]).removeprefix("a ").removeprefix("an ")
        return f"a list of {inner}s"
    if origin is dict:
        return "a table"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return "a table"
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def convert(tp, v, key: str):
    """``v`` checked (and lightly converted: int -> float) against the type ``tp``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return v
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:  # X | None: TOML has no null, so the value must be an X
            return convert(args[0], v, key)
        errors = []
        for arg in args:
            try:
                return convert(arg, v, key)
            except InputError as e:
                errors.append((arg, e))
        for arg, e in errors:  # a table or list that failed inside: that error names the key
            shaped = (isinstance(v, dict) and dataclasses.is_dataclass(arg)) or (
                isinstance(v, list) and typing.get_origin(arg) is list
            )
            if shaped:
                raise e
        raise InputError(f"{key}: expected {_type_name(tp)}, got {describe(v)}")
    if origin is Literal:
        if v not in typing.get_args(tp) or isinstance(v, bool) != any(
            isinstance(a, bool) for a in typing.get_args(tp)
        ):
            raise InputError(f"{key}: expected {_type_name(tp)}, got {describe(v)}")
        return v
    if origin is list:
        if not isinstance(v, list):
            raise InputError(f"{key}: expected {_type_name(tp)}, got {describe(v)}")
        (arg,) = typing.get_args(tp)
        return [convert(arg, x, key_of(key, i)) for i, x in enumerate(v)]
    if origin is dict:
        if not isinstance(v, dict):
            raise InputError(f"{key}: expected a table, got {describe(v)}")
        arg = typing.get_args(tp)[1]
        return {k: convert(arg, x, key_of(key, k)) for k, x in v.items()}
    if hasattr(tp, "from_toml"):
        return tp.from_toml(v, key)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return build(tp, v, key)
    if tp is bool:
        ok = isinstance(v, bool)
    elif tp is int:
        ok = isinstance(v, int) and not isinstance(v, bool)
    elif tp is float:
        ok = isinstance(v, int | float) and not isinstance(v, bool)
        if ok and not math.isfinite(v):
            raise InputError(f"{key}: must be a finite number, got {v}")
        v = float(v) if ok else v
    elif tp is str:
        ok = isinstance(v, str)
    else:  # pragma: no cover - a schema bug, not user input
        raise TypeError(f"{key}: unsupported schema type {tp!r}")
    if not ok:
        raise InputError(f"{key}: expected {_type_name(tp)}, got {describe(v)}")
    return v


def _check_range(v, md, key: str) -> None:
    if v is None:
        return
    if isinstance(v, list):
        if md.get("min_len") is not None and len(v) < md["min_len"]:
            n = md["min_len"]
            raise InputError(f"{key}: needs at least {n} value{'s' * (n > 1)}, got {len(v)}")
        for i, x in enumerate(v):
            _check_range(x, {**md, "min_len": None}, key_of(key, i))
        return
    if not isinstance(v, int | float) or isinstance(v, bool):
        return
    lo, hi, gt = md.get("min"), md.get("max"), md.get("gt")
    if lo is not None and v < lo:
        raise InputError(f"{key}: must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        raise InputError(f"{key}: must be <= {hi}, got {v}")
    if gt is not None and not v > gt:
        raise InputError(f"{key}: must be > {gt}, got {v}")


def build(cls, data, where: str = ""):
    """An instance of dataclass ``cls`` from the table ``data``, every field checked."""
    if not isinstance(data, dict):
        raise InputError(f"{where or 'config'}: expected a table, got {describe(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for k in data:
        if k not in fields:
            raise InputError(
                f"{key_of(where, k)}: unknown key; {where or 'the top level'} takes "
                + ", ".join(fields)
            )
    kwargs = {}
    for name, f in fields.items():
        key = key_of(where, name)
        if name in data:
            kwargs[name] = convert(hints[name], data[name], key)
            _check_range(kwargs[name], f.metadata, key)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise InputError(f"{key}: missing (required)")
    obj = cls(**kwargs)
    if hasattr(obj, "check"):
        obj.check(where)
    return obj


@dataclass(kw_only=True)
class Section:
    """Base of config sections: ``from_dict`` with checks, ``to_dict`` back to plain values."""

    @classmethod
    def from_dict(cls, data, where: str = ""):
        return build(cls, data, where)

    def to_dict(self) -> dict:
        return to_plain(self)

    def check(self, where: str) -> None:
        """Cross-field checks of a section (override)."""


def to_plain(obj):
    """Dataclasses, lists and dicts as plain JSON/TOML values."""
    if hasattr(obj, "to_plain"):
        return obj.to_plain()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [to_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj
