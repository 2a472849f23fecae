"""One registry of benchmark protocols, keyed by a config's ``kind``.

A protocol is a sub-package of ``energy_ood.bench`` with the same four parts: ``config``
(its typed config), ``run`` (runs it: ``run(cfg, out, data_root=..., resume=..., command=...)``
-> typed results), ``results`` (the typed results, as results.json holds them) and ``report``
(``render(results, out, command=...)`` -> report.md; ``results.from_plain`` reads a
results.json back, so a report is re-rendered without re-running). Its ``__init__`` registers
it with :func:`register_protocol`, naming only its own parts; the registry finds the sub-packages by
listing this package's folder, so it names none of them, and importing a protocol's
``__init__`` imports none of its parts (nor any optional dependency).

``energy-ood bench NAME`` reads the config, looks up its kind here and runs
``protocol.run_fn()(cfg, out, ...)`` then ``protocol.render_fn()(results, out, ...)``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

from .._validate import InputError


@dataclass(frozen=True)
class Protocol:
    kind: str
    summary: str
    package: str  # the protocol's sub-package (``__name__`` of its ``__init__``)
    config: str  # the typed config class in ``<package>.config``
    run: str  # in ``<package>.run``: (cfg, out, *, data_root, resume, command) -> results
    render: str  # in ``<package>.report``: (results, out, *, command) -> report.md path
    epochs_key: str  # the section whose ``epochs`` ``bench --epochs`` overrides
    trials_key: str | None  # where ``bench --trials N`` goes ("seeds" = the first N seeds)

    def _part(self, module: str, attr: str):
        return getattr(importlib.import_module(f"{self.package}.{module}"), attr)

    @property
    def config_cls(self):
        return self._part("config", self.config)

    def run_fn(self):
        return self._part("run", self.run)

    def render_fn(self):
        return self._part("report", self.render)

    def results_from_plain(self, d: dict):
        """The typed results of a results.json's content (``<package>.results.from_plain``)."""
        return self._part("results", "from_plain")(d)

    def cli_overrides(self, epochs: int | None, trials: int | None) -> dict:
        """``bench --epochs / --trials`` as config overrides."""
        over: dict = {}
        if epochs is not None:
            over[self.epochs_key] = {"epochs": epochs}
        if trials is not None:
            if self.trials_key is None:
                raise InputError(f"--trials: a {self.kind!r} benchmark has no trials")
            if trials < 1:
                raise InputError(f"--trials must be >= 1, got {trials}")
            if self.trials_key == "seeds":
                over["seeds"] = list(range(trials))
            else:
                *parents, last = self.trials_key.split(".")
                cur = over
                for p in parents:
                    cur = cur.setdefault(p, {})
                cur[last] = trials
        return over


PROTOCOLS: dict[str, Protocol] = {}
_FOUND = False


def register_protocol(p: Protocol) -> Protocol:
    if p.kind in PROTOCOLS:
        raise ValueError(f"protocol {p.kind!r} registered twice")
    PROTOCOLS[p.kind] = p
    return p


def protocols() -> dict[str, Protocol]:
    """Every protocol, kind -> :class:`Protocol` (the sub-packages are imported once)."""
    global _FOUND
    if not _FOUND:
        _FOUND = True
        for m in pkgutil.iter_modules([str(Path(__file__).parent)]):
            if m.ispkg:
                importlib.import_module(f"{__package__}.{m.name}")
    return PROTOCOLS


def get_protocol(kind) -> Protocol:
    known = protocols()
    if not isinstance(kind, str) or kind not in known:
        raise InputError(f"kind: unknown benchmark kind {kind!r}; one of {', '.join(known)}")
    return known[kind]


def run_protocol(cfg, out, *, data_root=None, resume: bool = True, command=None):
    """Run the protocol of ``cfg.kind`` into the folder ``out`` and render its report; the
    path of report.md (None in the other processes of a torchrun job)."""
    from ..runtime import dist

    proto = get_protocol(cfg.kind)
    res = proto.run_fn()(cfg, out, data_root=data_root, resume=resume, command=command)
    if res is None or not dist.is_main():
        return None
    return proto.render_fn()(res, out, command=command)
