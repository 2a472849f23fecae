"""Benchmark configuration files (TOML) under ``configs/``: find, read, override, type-check.

``load_config(name, overrides)`` returns the typed config of the file's ``kind`` (see
:mod:`.registry`); every problem (a file that is not UTF-8 or not TOML, an unknown key, a wrong
type, a missing section, a value out of range) is one InputError line naming the key.
"""

from __future__ import annotations

import copy
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .._validate import InputError
from ..runtime.progress import log

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def bundled_configs() -> list[str]:
    return sorted(q.stem for q in CONFIG_DIR.glob("*.toml"))


def find_config(name_or_path: str) -> Path:
    """A path, or the name of a bundled config (``fmnist`` -> configs/fmnist.toml)."""
    p = Path(name_or_path)
    if p.suffix == ".toml" and p.exists():
        if not p.is_file():
            raise InputError(f"{p}: not a file")
        return p
    stem = p.stem if p.suffix == ".toml" else p.name  # "configs/fmnist.toml" -> bundled fmnist
    for cand in (CONFIG_DIR / f"{stem}.toml", Path("configs") / f"{stem}.toml"):
        if cand.is_file():
            return cand
    raise InputError(f"no config {name_or_path!r}; bundled: {', '.join(bundled_configs())}")


MAX_DEPTH = 16  # tables and arrays within each other: no config goes past 4
INT64 = (-(2**63), 2**63 - 1)  # TOML's integers


def _loads(text: str, where: str) -> dict:
    """``tomllib.loads`` with every failure one line, and the values bounded: integers within
    64 bits (as TOML defines them), nesting within :data:`MAX_DEPTH`."""
    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{where}: invalid TOML ({e})") from None
    except RecursionError:
        raise InputError(f"{where}: tables or arrays nested too deeply") from None
    except ValueError as e:  # an integer of thousands of digits
        raise InputError(f"{where}: invalid TOML ({str(e).split(':')[0]})") from None
    return value


def _check_values(value, where: str) -> None:
    """Integers within 64 bits, nesting within :data:`MAX_DEPTH` (an InputError naming the
    key otherwise)."""
    stack = [(value, 0, "")]
    while stack:
        v, depth, key = stack.pop()
        at = f"{where}: {key}" if key else where
        if depth > MAX_DEPTH:
            raise InputError(f"{at}: nested more than {MAX_DEPTH} deep")
        if isinstance(v, int) and not isinstance(v, bool) and not INT64[0] <= v <= INT64[1]:
            raise InputError(f"{at}: the integer {str(v)[:20]}... is beyond 64 bits")
        items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else ()
        for k, x in items:
            stack.append((x, depth + 1, f"{key}[{k}]" if isinstance(k, int) else _join(key, k)))


def _join(key: str, k: str) -> str:
    return f"{key}.{k}" if key else str(k)


def read_toml(path: Path) -> dict:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start}); TOML files are UTF-8") from None
    value = _loads(text, str(path))
    _check_values(value, str(path))
    return value


def load_raw(name_or_path: str, overrides: dict | None = None) -> tuple[dict, Path]:
    """The config's table with ``overrides`` merged in, and its path (no type checks)."""
    path = find_config(name_or_path)
    return merge(read_toml(path), overrides or {}), path


def load_config(name_or_path: str, overrides: dict | None = None, kind: str | None = None):
    """The typed config (``OODConfig``, ``HoldoutConfig``, ``VLMConfig``, ...) of a file.
    ``kind`` refuses a config of another kind (e.g. ``vlm bench`` given an OOD config)."""
    from .registry import get_protocol

    raw, path = load_raw(name_or_path, overrides)
    raw.setdefault("config_file", str(path))
    found = raw.get("kind", "ood")
    if kind is not None and found != kind:
        raise InputError(f"{path.name}: a {found!r} config; this command runs {kind!r} configs")
    try:
        cfg = get_protocol(found).config_cls.from_dict(raw)
    except InputError as e:
        raise InputError(f"config {path.name}: {e}") from None
    model = getattr(cfg, "model", None)
    if "model" not in raw and hasattr(model, "name"):  # said, not silently assumed
        log(f"config {path.name}: no [model] section; the default model {model.name!r} is used")
    return cfg


def parse_overrides(items: list[str]) -> dict:
    """``["pretrain.epochs=1", "data.ood_sets=['mnist']"]`` -> nested dict. Values are read as
    TOML (numbers, booleans, lists, quoted strings); anything else is taken as a string."""
    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or not all(k.strip() for k in key.split(".")):
            raise InputError(f"--set {item!r}: expected KEY=VALUE, e.g. pretrain.epochs=2")
        try:
            tomllib.loads(f"v = {raw}")
            parsed = True
        except tomllib.TOMLDecodeError:
            parsed = False  # not a TOML value: the text itself, as a string
        except (RecursionError, ValueError):
            parsed = True  # a TOML value, too deep or too large: refused below, by name
        value = raw
        if parsed:
            value = _loads(f"v = {raw}", f"--set {key.strip()}")["v"]
            _check_values(value, f"--set {key.strip()}")
        cur = out
        *parents, last = [k.strip() for k in key.split(".")]
        for k in parents:
            cur = cur.setdefault(k, {})
            if not isinstance(cur, dict):
                raise InputError(f"--set {item!r}: {k} is set twice")
        if isinstance(cur.get(last), dict):
            raise InputError(f"--set {item!r}: {last} is set twice")
        cur[last] = value
    return out


def merge(base: dict, over: dict) -> dict:
    """``over`` merged into a copy of ``base`` (tables merge; any other value replaces; None
    leaves the base value). A scalar over a table replaces it, so the type check sees it."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        elif v is not None:
            out[k] = copy.deepcopy(v)
    return out
