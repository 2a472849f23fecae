"""Typed config sections every protocol shares: how a benchmark runs (:class:`RunOptions`,
started by :func:`bench_runtime`), a post-hoc method (:class:`ScorerSpec`), the model
(:class:`ModelSection`) and a training stage (:class:`TrainSection`). A protocol's own config
(``bench/<protocol>/config.py``) builds on these with the checks of
:mod:`energy_ood.io.typed_schema`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from .._validate import InputError
from ..data import bad_images
from ..io.typed_schema import Section, describe, key_of, option
from ..train import TrainConfig


@dataclass(frozen=True)
class ScorerSpec:
    """One post-hoc method of a config: ``{ name = "odin", T = 1000.0, eps = 0.0, label = ... }``
    (a bare ``"energy"`` is accepted too). The scorer is built once on load, so a misspelt name
    or parameter is refused before anything trains."""

    name: str
    params: dict = field(default_factory=dict)
    label: str | None = None

    @classmethod
    def from_toml(cls, v, key: str) -> ScorerSpec:
        if isinstance(v, str):
            v = {"name": v}
        if not isinstance(v, dict):
            raise InputError(f"{key}: expected a table {{ name = ..., params }}, got {describe(v)}")
        if not isinstance(v.get("name"), str):
            raise InputError(f"{key}.name: missing (the scorer's registry name)")
        label = v.get("label")
        if label is not None and not isinstance(label, str):
            raise InputError(f"{key}.label: expected a string, got {describe(label)}")
        params = {k: x for k, x in v.items() if k not in ("name", "label")}
        for k, x in params.items():
            items = x if isinstance(x, list) else [x]
            if not all(isinstance(i, bool | int | float | str) for i in items):
                raise InputError(f"{key}.{k}: expected a number, string or boolean")
            if any(isinstance(i, float) and not math.isfinite(i) for i in items):
                raise InputError(f"{key}.{k}: must be finite, got {x}")
        spec = cls(v["name"], params, label)
        spec.validate(key)
        return spec

    def validate(self, key: str = "scorer") -> None:
        """Build the scorer once (scorers that run a model get it later, at fit)."""
        from ..score import create_scorer

        try:
            create_scorer(self.name, **self.params)
        except InputError as e:
            raise InputError(f"{key}: {e}") from None
        except (TypeError, ValueError) as e:
            msg = f"{key}: scorer {self.name!r} refuses these parameters ({e})"
            raise InputError(msg) from None

    def as_method(self) -> dict:
        """The ``{"name": ..., **params[, "label"]}`` dict that scoring functions take."""
        out = {"name": self.name, **self.params}
        if self.label is not None:
            out["label"] = self.label
        return out

    def matches(self, name: str, **params) -> bool:
        """Same scorer and, for every given parameter, the same value (absent = default)."""
        if self.name != name:
            return False
        return all(self.params.get(k, v) == v for k, v in params.items())

    def to_plain(self) -> dict:
        return self.as_method()

    @classmethod
    def from_plain(cls, d: dict) -> ScorerSpec:
        """The spec :meth:`to_plain` wrote (no check: it was checked when the run began)."""
        params = dict(d)
        name, label = params.pop("name"), params.pop("label", None)
        return cls(name, params, label)


@dataclass(kw_only=True)
class RunOptions(Section):
    """Options of how a benchmark runs (not what it measures). ``device``: auto | cpu | cuda |
    cuda:N | mps; ``amp``: auto | bf16 | fp16 | off; ``threads``: intra-op threads (default:
    torch's choice)."""

    device: str = "auto"
    amp: Literal["auto", "bf16", "fp16", "off"] = "auto"
    threads: int | None = option(None, min=1, max=1024)

    def check(self, where: str) -> None:
        from ..runtime.device import check_device_spec

        try:
            check_device_spec(self.device)
        except InputError as e:
            raise InputError(f"{key_of(where, 'device')}: {e}") from None


@dataclass(kw_only=True)
class ModelSection(Section):
    name: str = "cnn"

    def check(self, where: str) -> None:
        from ..models import available_models

        if self.name not in available_models():
            raise InputError(
                f"{where}.name: unknown model {self.name!r}; one of {', '.join(available_models())}"
            )


@dataclass(kw_only=True)
class TrainSection(Section):
    """Training settings; an absent optional one keeps TrainConfig's default."""

    epochs: int = option(5, min=1)
    lr: float = option(0.1, gt=0)
    batch_size: int | None = option(None, min=2)
    augment: Literal["none", "crop", "crop-flip"] | None = None
    weight_decay: float | None = option(None, min=0)
    # pretraining only: as many epochs as fit in this many seconds (measured; overrides epochs)
    time_budget_s: float | None = option(None, gt=0)

    _TRAIN_KEYS = ("epochs", "lr", "batch_size", "augment", "weight_decay", "aux_batch_size",
                   "lam", "m_in", "m_out")  # fmt: skip

    def train_config(self, seed: int, **extra) -> TrainConfig:
        kw = {k: getattr(self, k) for k in self._TRAIN_KEYS if getattr(self, k, None) is not None}
        return TrainConfig(seed=seed, **{**kw, **extra})


def check_distinct(values: list, key: str) -> None:
    """Refuse a list that names a value twice (``key`` names the list in the error)."""
    seen = set()
    for v in values:
        if v in seen:
            raise InputError(f"{key}: {v!r} is listed twice")
        seen.add(v)


def check_config(cfg, cls, runner: str) -> None:
    """Refuse a config that is not the typed config ``cls`` a protocol's ``runner`` takes."""
    if not isinstance(cfg, cls):
        article = "an" if cls.__name__[0] in "AEIOU" else "a"
        raise InputError(
            f"{runner} needs {article} {cls.__name__} (bench.config_files.load_config)"
        )


def bench_runtime(cfg):
    """The config's device / amp / threads as a Runtime, and its bad-images policy (the CLI's
    flags override the config's keys before this); joins the torchrun process group when
    launched by torchrun."""
    from ..runtime.device import start_runtime

    bad_images.set_policy(getattr(cfg, "bad_images", "error"))  # a key of ood configs
    return start_runtime(device=cfg.device, amp=cfg.amp, threads=cfg.threads)


def on_runtime(rt, tcfg):
    """A TrainConfig in the runtime's precision."""
    tcfg.amp = rt.amp
    return tcfg
