"""One registry of benchmark protocols, keyed by a config's ``kind``.

``energy-ood bench NAME`` reads the config, looks up its kind here and runs
``protocol.run(cfg, out, data_root=..., resume=..., command=...)`` then
``protocol.render(results, out, command=...)``. Entries name their modules as strings so that
importing the registry imports no protocol (and no optional dependency).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .._validate import InputError


def _resolve(ref: str):
    mod, _, attr = ref.partition(":")
    return getattr(importlib.import_module(mod), attr)


@dataclass(frozen=True)
class Protocol:
    kind: str
    summary: str
    config: str  # "module:Class" of the typed config
    run: str  # "module:function" (cfg, out, *, data_root, resume, command) -> results
    render: str  # "module:function" (results, out, *, command) -> report.md path
    epochs_key: str  # the section whose ``epochs`` ``bench --epochs`` overrides
    trials_key: str | None  # where ``bench --trials N`` goes ("seeds" = the first N seeds)

    @property
    def config_cls(self):
        return _resolve(self.config)

    def run_fn(self):
        return _resolve(self.run)

    def render_fn(self):
        return _resolve(self.render)

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


def register_protocol(p: Protocol) -> Protocol:
    if p.kind in PROTOCOLS:
        raise ValueError(f"protocol {p.kind!r} registered twice")
    PROTOCOLS[p.kind] = p
    return p


def get_protocol(kind) -> Protocol:
    if not isinstance(kind, str) or kind not in PROTOCOLS:
        raise InputError(f"kind: unknown benchmark kind {kind!r}; one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[kind]


_E = "energy_ood.evaluate"
register_protocol(
    Protocol(
        "ood",
        "dataset-vs-dataset: post-hoc scores, OE vs energy fine-tuning, sweeps, ablations",
        f"{_E}.ood_config:OODConfig",
        f"{_E}.ood_bench:run_ood_benchmark",
        f"{_E}.ood_report:render",
        "pretrain",
        "seeds",
    )
)
register_protocol(
    Protocol(
        "holdout",
        "hold-out-class AP with and without the rotation head (and the masking ablation)",
        f"{_E}.holdout_config:HoldoutConfig",
        f"{_E}.holdout:run_holdout",
        f"{_E}.holdout_report:render",
        "train",
        "trials",
    )
)
register_protocol(
    Protocol(
        "vlm",
        "WordNet gloss benchmark: zero-shot scores, CoOp prompt tuning (CE, CE+EBM)",
        "energy_ood.vlm.bench_config:VLMConfig",
        "energy_ood.vlm.bench:run_vlm_bench",
        "energy_ood.vlm.bench_report:render",
        "tune",
        "data.splits",
    )
)
register_protocol(
    Protocol(
        "methods",
        "training methods compared: CE, energy, OE, LogitNorm, VOS, MixOE, energy from scratch",
        f"{_E}.methods_config:MethodsConfig",
        f"{_E}.methods_bench:run_methods_benchmark",
        f"{_E}.methods_report:render",
        "scratch",
        "seeds",
    )
)
register_protocol(
    Protocol(
        "walkthrough",
        "README's train / finetune / evaluate commands, their numbers per seed",
        f"{_E}.walkthrough:WalkthroughConfig",
        f"{_E}.walkthrough:run_walkthrough",
        f"{_E}.walkthrough:render",
        "pretrain",
        "seeds",
    )
)
