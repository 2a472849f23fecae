"""Benchmark configuration files (TOML) under ``configs/``: read, check, record."""

from __future__ import annotations

import copy
from pathlib import Path

import tomllib

from .._validate import InputError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def find_config(name_or_path: str) -> Path:
    """A path, or the name of a bundled config (``fmnist`` -> configs/fmnist.toml)."""
    p = Path(name_or_path)
    if p.suffix == ".toml" and p.exists():
        return p
    stem = p.stem if p.suffix == ".toml" else p.name  # "configs/fmnist.toml" -> bundled fmnist
    for cand in (CONFIG_DIR / f"{stem}.toml", Path("configs") / f"{stem}.toml"):
        if cand.exists():
            return cand
    names = sorted(q.stem for q in CONFIG_DIR.glob("*.toml"))
    raise InputError(f"no config {name_or_path!r}; bundled: {', '.join(names)}")


def load_config(name_or_path: str, overrides: dict | None = None) -> dict:
    path = find_config(name_or_path)
    try:
        cfg = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: invalid TOML ({e})") from e
    cfg = merge(cfg, overrides or {})
    cfg.setdefault("config_file", str(path))
    return cfg


def parse_overrides(items: list[str]) -> dict:
    """``["pretrain.epochs=1", "data.ood_sets=['mnist']"]`` -> nested dict. Values are read as
    TOML (numbers, booleans, lists, quoted strings); anything else is taken as a string."""
    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or not all(key.split(".")):
            raise InputError(f"--set {item!r}: expected KEY=VALUE, e.g. pretrain.epochs=2")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        cur = out
        *parents, last = key.strip().split(".")
        for k in parents:
            cur = cur.setdefault(k, {})
            if not isinstance(cur, dict):
                raise InputError(f"--set {item!r}: {k} is set twice")
        cur[last] = value
    return out


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        elif v is not None:
            out[k] = v
    return out


def require(cfg: dict, *keys: str):
    cur = cfg
    for k in keys:
        if not isinstance(cur, dict) or k not in cur:
            raise InputError(f"config {cfg.get('config_file', '')}: missing {'.'.join(keys)}")
        cur = cur[k]
    return cur
