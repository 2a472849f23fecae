"""README's walk-through as a benchmark (``energy-ood bench walkthrough``): for every seed, the
same calls as the three commands

    energy-ood train --dataset D --model M --epochs E --seed S --out RUN/base
    energy-ood finetune --method energy --from RUN/base --aux A --test-sets T --seed S ...
    energy-ood evaluate --run-dir RUN/<base|energy> --ood-set O --score msp,energy

make (same defaults, same seeds), so README's table is this report's, and anyone can re-run
either and compare. Writes results.json and report.md (with the command lines per seed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .._validate import InputError
from ..metrics import convention
from ..runtime.provenance import run_metadata
from ..train import TrainConfig
from ..train.runs import finetune, pretrain
from .ood_config import ModelSection, TrainSection
from .report import command_section, departures_table, seed_cell, write_report
from .run_eval import evaluate_run
from .schema import RunOptions, Section, option, to_plain
from .stats import RULE, paired_verdict
from .tables import markdown_table


@dataclass(kw_only=True)
class WalkData(Section):
    dataset: str = "fashion-mnist"
    aux: list[str] = option(factory=lambda: ["cifar10-train-grey"], min_len=1)
    test_sets: list[str] = option(factory=list)  # finetune --test-sets (families refused)
    evaluate_sets: list[str] = option(factory=lambda: ["mnist"], min_len=1)

    def check(self, where: str) -> None:
        from ..data.ood_sets import ood_set_names
        from ..data.splits import check_families

        for key in ("aux", "test_sets", "evaluate_sets"):
            for n in getattr(self, key):
                if n not in ood_set_names():
                    raise InputError(f"{where}.{key}: unknown set {n!r}")
        try:
            check_families(self.aux, [*self.test_sets, *self.evaluate_sets], self.dataset)
        except InputError as e:
            raise InputError(f"{where}.aux: {e}") from None


@dataclass(kw_only=True)
class WalkFinetune(TrainSection):
    method: Literal["energy", "oe", "single-margin"] = "energy"
    epochs: int = option(10, min=1)
    lr: float = option(0.001, gt=0)
    n_aux: int = option(20000, min=1)


@dataclass(kw_only=True)
class WalkthroughConfig(RunOptions):
    kind: Literal["walkthrough"] = "walkthrough"
    title: str = "README walk-through: train, fine-tune, evaluate"
    config_file: str = ""
    seeds: list[int] = option(factory=lambda: [0, 1, 2], min_len=1, min=0, max=2**64 - 1)
    scores: list[str] = option(factory=lambda: ["msp", "energy"], min_len=1)
    data: WalkData
    model: ModelSection = option(factory=ModelSection)
    pretrain: TrainSection = option(factory=TrainSection)
    finetune: WalkFinetune = option(factory=WalkFinetune)

    def commands(self, seed: int, out: str = "runs", data_root=None) -> list[str]:
        """The CLI commands that give seed ``seed``'s numbers (train, finetune, evaluate the
        pretrained and the fine-tuned run)."""
        d, ft, pre = self.data, self.finetune, self.pretrain
        base, tuned = f"{out}/base_s{seed}", f"{out}/{ft.method}_s{seed}"
        root = f" --data-root {data_root}" if data_root else ""
        return [
            f"energy-ood train --dataset {d.dataset} --model {self.model.name} --epochs "
            f"{pre.epochs} --lr {pre.lr:g} --seed {seed} --out {base}",
            f"energy-ood finetune --method {ft.method} --from {base} --aux {','.join(d.aux)} "
            + (f"--test-sets {','.join(d.test_sets)} " if d.test_sets else "")
            + f"--n-aux {ft.n_aux} --epochs {ft.epochs} --lr {ft.lr:g} --seed {seed}{root} "
            f"--out {tuned}",
            *(f"energy-ood evaluate --run-dir {r} --ood-set {','.join(d.evaluate_sets)} --score "
              f"{','.join(self.scores)}{root}" for r in (base, tuned)),
        ]  # fmt: skip


@dataclass
class WalkthroughResults:
    title: str
    convention: dict
    seeds: list[int]
    sets: list[str]
    scores: list[str]
    commands: dict[str, list[str]]  # seed -> command lines
    accuracy: dict[str, list[float]]  # "pretrained" | method -> per seed
    metrics: dict[str, dict]  # model -> score -> set -> metric -> per-seed list
    margins: list[dict]
    seconds: dict[str, list[float]]
    run: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    kind: str = "walkthrough"

    def to_plain(self) -> dict:
        return {k: to_plain(getattr(self, k)) for k in self.__dataclass_fields__}


def _train_config(section: TrainSection, seed: int, **extra) -> TrainConfig:
    """TrainConfig exactly as the CLI builds it (batch 128, augment crop unless configured)."""
    return section.train_config(seed, **extra)


def run_walkthrough(
    cfg: WalkthroughConfig, out: str | Path, data_root=None, resume: bool = True, command=None
) -> WalkthroughResults:
    if not isinstance(cfg, WalkthroughConfig):
        raise InputError("run_walkthrough needs a WalkthroughConfig")
    out, t_start = Path(out), time.perf_counter()
    d, ft = cfg.data, cfg.finetune
    methods = [{"name": s} for s in cfg.scores]
    models = ["pretrained", ft.method]
    acc = {m: [] for m in models}
    metrics = {m: {s: {o: {} for o in d.evaluate_sets} for s in cfg.scores} for m in models}
    seconds, margins = {m: [] for m in models}, []
    for seed in cfg.seeds:
        base, tuned = out / f"base_s{seed}", out / f"{ft.method}_s{seed}"
        t0 = time.perf_counter()
        pretrain(d.dataset, cfg.model.name, base, _train_config(cfg.pretrain, seed),
                 data_root=data_root, resume=resume)  # fmt: skip
        seconds["pretrained"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        tcfg = _train_config(ft, seed, method=ft.method)
        finetune(base, ft.method, d.aux, tuned, tcfg, test_sets=d.test_sets,
                       data_root=data_root, n_aux=ft.n_aux, resume=resume)  # fmt: skip
        seconds[ft.method].append(time.perf_counter() - t0)
        margins.append({k: tcfg.to_dict()[k] for k in ("m_in", "m_out")})
        for model, run in zip(models, (base, tuned)):
            ev = evaluate_run(run, d.evaluate_sets, methods, data_root=data_root)
            acc[model].append(1 - ev["id_test_error"])
            for s in cfg.scores:
                for o in d.evaluate_sets:
                    for k, v in ev["results"][s][o].items():
                        metrics[model][s][o].setdefault(k, []).append(v)
    return WalkthroughResults(
        title=cfg.title, convention=convention(), seeds=list(cfg.seeds), sets=d.evaluate_sets,
        scores=list(cfg.scores),
        commands={str(s): cfg.commands(s, "runs", data_root) for s in cfg.seeds},
        accuracy=acc, metrics=metrics, margins=margins, seconds=seconds,
        run=run_metadata(seed=cfg.seeds[0], config=cfg.to_dict(), command=command),
        timings={"total_s": time.perf_counter() - t_start},
    )  # fmt: skip


def readme_table(res: WalkthroughResults, ood_set: str, seed_index: int | None = 0) -> str:
    """README's table: per model, 'FPR95 / AUROC' of each score on ``ood_set``; one seed's
    numbers (what the commands print for it) or, with ``seed_index=None``, mean ± std."""
    rows = []
    for model in res.metrics:
        cells = []
        for s in res.scores:
            m = res.metrics[model][s][ood_set]
            if seed_index is None:
                cells.append(f"{seed_cell(m['fpr95'])} / {seed_cell(m['auroc'])}")
            else:
                cells.append(f"{100 * m['fpr95'][seed_index]:.2f} / "
                             f"{100 * m['auroc'][seed_index]:.2f}")  # fmt: skip
        acc = res.accuracy[model]
        acc_cell = seed_cell(acc) if seed_index is None else f"{100 * acc[seed_index]:.2f}"
        rows.append([model, *cells, acc_cell])
    return markdown_table(["model", *(f"{s} FPR95 / AUROC" for s in res.scores),
                           "ID test accuracy"], rows)  # fmt: skip


def render(res: WalkthroughResults, out: str | Path, command: str = "") -> Path:
    out = Path(out)
    secs = [
        ("What differs from the paper", departures_table([
            ["purpose", "-", "README's example commands, re-run per seed"],
            ["model / data", "WRN-40-2, CIFAR-10", f"{res.run['config']['model']['name']}, "
             f"{res.run['config']['data']['dataset']}"],
            ["seeds", "one", ", ".join(map(str, res.seeds))]])),
        ("Convention", "FPR95 / AUROC in percent on the WHOLE OOD set (no draws), as "
         "`energy-ood evaluate --run` prints them. " + RULE),
        command_section(command, res.timings.get("total_s"), res.run.get("machine")),
    ]  # fmt: skip
    for o in res.sets:
        secs.append((f"{o}: seed {res.seeds[0]} (README's table)", readme_table(res, o, 0)))
        secs.append((f"{o}: mean ± std over {len(res.seeds)} seeds", readme_table(res, o, None)))
        tuned = list(res.metrics)[1]
        if "energy" in res.scores and len(res.seeds) > 1:
            a = res.metrics[tuned]["energy"][o]["fpr95"]
            b = res.metrics["pretrained"]["energy"][o]["fpr95"]
            v = paired_verdict(a, b, lower_is_better=True)
            secs.append(
                (
                    f"{o}: {tuned} fine-tuning lowers the energy score's FPR95",
                    f"{v.interval_text()}; seeds won {v.wins}/{v.n}: **{v.verdict}**",
                )
            )
    secs.append(
        (
            "Commands per seed",
            "\n\n".join(
                f"seed {s}:\n```bash\n" + "\n".join(c) + "\n```" for s, c in res.commands.items()
            ),
        )
    )
    rows = [[m, ", ".join(f"{t:.0f}" for t in ts)] for m, ts in res.seconds.items()]
    rows.append(["margins (m_in, m_out)", ", ".join(f"({m['m_in']}, {m['m_out']})"
                                                    for m in res.margins)])  # fmt: skip
    secs.append(("Seconds per seed, margins", markdown_table(["step", "per seed"], rows)))
    return write_report(out, res.title, secs, res.to_plain(), [])
