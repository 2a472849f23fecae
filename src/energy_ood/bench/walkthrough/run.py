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
from pathlib import Path

from ...evaluate.model_eval import evaluate_run
from ...metrics import convention
from ...runtime.provenance import run_metadata
from ...train import TrainConfig
from ...train.runs import finetune, pretrain
from ..sections import TrainSection, check_config
from .config import WalkthroughConfig
from .results import WalkthroughResults


def _train_config(section: TrainSection, seed: int, **extra) -> TrainConfig:
    """TrainConfig exactly as the CLI builds it (batch 128, augment crop unless configured)."""
    return section.train_config(seed, **extra)


def run_walkthrough(
    cfg: WalkthroughConfig, out: str | Path, data_root=None, resume: bool = True, command=None
) -> WalkthroughResults:
    check_config(cfg, WalkthroughConfig, "run_walkthrough")
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
