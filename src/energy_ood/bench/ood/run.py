"""The dataset-vs-dataset benchmark (``energy-ood bench fmnist`` and the demo).

For every seed of the config: pretrain (or resume) the classifier; score every post-hoc method
on the ID test set and each OOD test set (``n_draws`` seeded draws of len(ID)//5); fine-tune
with Outlier Exposure, the energy objective and the single-margin ablation (auxiliary outliers
of no test set's family, without pictures of the ID classes); the temperature sweep; the noise
diagnostics. The margin sweep trains energy fine-tuning at offsets from the data-chosen margins
on one seed and keeps the offset with the lowest VALIDATION FPR95: ID validation vs outliers of
``data.margin_val``, a family used neither for training outliers nor for tests (ties and their
tie-break are recorded, :mod:`.margin_choice`), never a test number; every seed's energy
fine-tuning then uses it. Results are typed (:mod:`.results`), per seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ...data import bad_images
from ...data.sources import source_info
from ...evaluate.scoring import method_label
from ...metrics import convention
from ...runtime import dist
from ...runtime.progress import log
from ...runtime.provenance import run_metadata
from ...train.margins import choose_margins
from ...train.timing import run_speed
from ..evaluation import Evaluation
from ..sections import ScorerSpec, bench_runtime, check_config
from .claims import ood_claims
from .config import OODConfig
from .disclosure import departures
from .results import MarginSweep, OODResults, TemperatureSweep
from .seed import Seed, finetune_copy, median_epoch
from .sweeps import FT_SCORES, margin_sweep, noise_stats, score_draws, temperature_points


def _record(evals: dict, model: str, spec: ScorerSpec, dv: dict, sets: list[str]) -> None:
    label = method_label(spec.as_method())
    e = evals.setdefault((model, label), Evaluation(model, spec, label))
    e.per_seed.append({s: dv[s]["mean"] for s in sets})
    e.draw_std.append({s: dv[s]["std"] for s in sets})


def _sources(sets: list[str], cfg: OODConfig, aux_pool, sweep) -> dict:
    """Family, kind, content, origin and licence of every source the run used, with the
    pictures left out of each outlier source (pictures of the ID classes) and why."""
    out = {s: dict(source_info(s).__dict__) for s in [*sets, *cfg.data.aux, *cfg.data.margin_val]}
    pools = [p for p in (aux_pool, sweep.val_pool if sweep else None) if p]
    for rec in (r for p in pools for r in p["sources"]):
        out[rec["source"]]["left_out"] = rec["left_out"]
    return out


@dataclass
class _Run:
    """What the seeds of a run share: the OOD sets (the first seed's, kept for the others),
    the margin sweep (made on the sweep seed, which comes first), the first seed's raw scores
    (for plots), the gate's warning, and each seed's numbers."""

    sets: list[str] | None = None
    headline: list[str] = field(default_factory=list)
    noise_sets: list[str] = field(default_factory=list)
    sweep: MarginSweep | None = None
    raw: dict | None = None
    warning: str | None = None
    seed: Seed | None = None  # the last seed (its data describes the run)
    per_seed: dict = field(default_factory=dict)


def _posthoc(cfg: OODConfig, sd: Seed, run: _Run, rec: dict, rt) -> None:
    """Every post-hoc method on the pretrained model, the temperature sweep and the noise
    diagnostics (numbers on rank 0; the other processes of a torchrun job only extract)."""
    draws, scored = score_draws(sd.model, sd.data, sd.oods, cfg.posthoc.methods, cfg, sd.seed,
                                cfg.eval.fit_samples, rt)  # fmt: skip
    if not dist.is_main():
        return
    for spec in cfg.posthoc.methods:
        rec["evals"].append(("pretrained", spec, draws[method_label(spec.as_method())][0]))
    if sd.seed == cfg.seeds[0]:
        run.raw = {"posthoc": {lab: r for lab, (_, r) in draws.items()}, "finetune": {}}
    if cfg.sweeps.temperatures:
        rec["temps"] = temperature_points(scored, run.sets, run.headline, cfg.sweeps.temperatures,
                                          cfg.eval.n_draws, sd.seed)  # fmt: skip
    if run.noise_sets:
        stats, arrays = noise_stats(sd.model, sd.data, sd.oods, run.noise_sets)
        rec["noise"] = stats
        if sd.seed == cfg.seeds[0]:
            run.raw["noise"] = arrays


def _margins_of(cfg: OODConfig, sd: Seed, run: _Run, data_root, resume, rt):
    """(data-chosen margins, the margins fine-tuning uses, the sweep's chosen energy run or
    None): the data-chosen ones plus the sweep's offset, unless the config fixes them."""
    ft = cfg.finetune
    base = choose_margins(sd.model, sd.data.x_val, sd.aux_val(cfg, data_root))
    offset, chosen_run = (0.0, 0.0), None
    if cfg.sweeps.margins is not None and sd.seed == cfg.sweep_seed:
        run.sweep, chosen_run = margin_sweep(cfg, sd, base, run.headline, data_root, resume, rt)
    if run.sweep is not None:
        offset = tuple(run.sweep.points[run.sweep.chosen].offset)
    offset = dist.broadcast_object(offset)  # every process trains the same margins
    m_in = ft.m_in if ft.m_in is not None else round(base["m_in"] + offset[0], 3)
    m_out = ft.m_out if ft.m_out is not None else round(base["m_out"] + offset[1], 3)
    return base, (m_in, m_out), chosen_run


def _finetuning(cfg: OODConfig, sd: Seed, run: _Run, rec: dict, stages: dict, data_root,
                resume, rt) -> None:  # fmt: skip
    """Every fine-tuning method of the config on a copy of the seed's model, scored with the
    softmax and energy scores."""
    ft = cfg.finetune
    base, (m_in, m_out), chosen_run = _margins_of(cfg, sd, run, data_root, resume, rt)
    for method in ft.methods:
        extra = {"m_in": m_in, "m_out": m_out} if method == "energy" else {}
        if method == "single-margin":
            extra = {"margin": round(m_out - m_in, 3)}
        tcfg = ft.train_config(sd.seed, method=method, **extra)
        t1 = time.perf_counter()
        if method == "energy" and chosen_run is not None:
            res = chosen_run
        else:
            res = finetune_copy(cfg, sd, tcfg, sd.dir / method, data_root, resume, rt)
        stages[f"finetune_{method}_s"] = time.perf_counter() - t1
        stages[f"finetune_{method}_epoch_s"] = median_epoch(res["metrics"])
        sd.speed[f"finetune {method}"] = run_speed(res["metrics"])
        d2, _ = score_draws(res["model"], sd.data, sd.oods, FT_SCORES, cfg, sd.seed, 1, rt)
        rec["id_error"][method] = res["metrics"]["test_error"]
        rec.setdefault("aux_pool", res["metrics"].get("aux_pool"))
        chosen = {k: base[k] for k in ("m_in", "m_out", "margin")}
        rec["margins"][method] = {**extra, "base": chosen} if extra else None
        if not dist.is_main():
            continue
        for spec in FT_SCORES:
            rec["evals"].append((method, spec, d2[method_label(spec.as_method())][0]))
        if sd.seed == cfg.seeds[0]:
            run.raw["finetune"][method] = {lab: r for lab, (_, r) in d2.items()}


def _one_seed(cfg: OODConfig, seed: int, run: _Run, out: Path, data_root, resume, rt) -> dict:
    """Pretrain, score and fine-tune one seed into ``run``; its stage timings."""
    t0 = time.perf_counter()
    sd = run.seed = Seed(cfg, seed, out, data_root, resume, run.sets, rt)
    run.warning = run.warning or sd.warning
    stages = {"pretrain_s": time.perf_counter() - t0, "pretrain_epoch_s": sd.epoch_s}
    t1 = time.perf_counter()
    run.sets = list(sd.oods)
    run.headline = [s for s in run.sets if source_info(s).kind == "natural"]
    run.noise_sets = [s for s in run.sets if source_info(s).kind == "noise"]
    rec = run.per_seed[seed] = {"evals": [], "id_error": {"pretrained": sd.id_error},
                                "margins": {}, "budget": sd.budget}  # fmt: skip
    _posthoc(cfg, sd, run, rec, rt)
    stages["posthoc_s"] = time.perf_counter() - t1
    if cfg.finetune is not None:
        _finetuning(cfg, sd, run, rec, stages, data_root, resume, rt)
    return stages


def _assemble(cfg: OODConfig, run: _Run) -> dict:
    """The per-seed numbers gathered in the config's seed order: evaluations, ID errors,
    margins, the temperature sweep's and the noise diagnostics' series."""
    evals: dict = {}
    out = {
        "id_error": {"pretrained": []},
        "margins": {},
        "noise": None,
        "temps": {k: [] for k in ("energy_fpr95", "msp_fpr95", "energy_auroc", "msp_auroc")},
    }
    for seed in cfg.seeds:
        rec = run.per_seed[seed]
        for model, spec, dv in rec["evals"]:
            _record(evals, model, spec, dv, run.sets)
        for k, v in rec["id_error"].items():
            out["id_error"].setdefault(k, []).append(v)
        for k, v in rec["margins"].items():
            out["margins"].setdefault(k, []).append(v)
        for name in ("energy", "msp"):
            pairs = rec.get("temps", {}).get(name, [])
            out["temps"][f"{name}_fpr95"].append([p[0] for p in pairs])
            out["temps"][f"{name}_auroc"].append([p[1] for p in pairs])
        if "noise" in rec:
            out["noise"] = out["noise"] or {"sets": run.noise_sets, "per_seed": []}
            out["noise"]["per_seed"].append(rec["noise"])
    out["evaluations"] = list(evals.values())
    return out


def _results(cfg: OODConfig, run: _Run, command) -> OODResults:
    """The typed results of a finished run (claims and timings added by the caller)."""
    sd, a = run.seed, _assemble(cfg, run)
    aux_pool = run.per_seed[cfg.seeds[0]].get("aux_pool")
    ts = cfg.sweeps.temperatures
    res = OODResults(
        title=cfg.title, convention=convention(),
        protocol={"ood_num": f"len(ID test) // 5 = {len(sd.data.x_test) // 5}",
                  "ood_pool": {n: len(x) for n, x in sd.oods.items()},
                  "n_draws": cfg.eval.n_draws, "fit_samples": cfg.eval.fit_samples,
                  "id_dataset": sd.data.name, "n_train": len(sd.data.x_train),
                  "n_val": len(sd.data.x_val), "n_test": len(sd.data.x_test)},
        seeds=list(cfg.seeds), ood_sets=run.sets, headline_sets=run.headline,
        noise_sets=run.noise_sets, sources=_sources(run.sets, cfg, aux_pool, run.sweep),
        aux=list(cfg.data.aux), id_error=a["id_error"], margins=a["margins"],
        evaluations=a["evaluations"], margin_sweep=run.sweep, noise=a["noise"], aux_pool=aux_pool,
        temperature_sweep=TemperatureSweep(list(map(float, ts)), **a["temps"]) if ts else None,
        run=run_metadata(seed=cfg.seeds[0], config=cfg.to_dict(), data=sd.data.describe(),
                         command=command),
        raw=run.raw, warning=run.warning,
    )  # fmt: skip
    if bad_images.skipped():  # ID, OOD and auxiliary image files left out, with reasons
        res.run["skipped_images"] = bad_images.skipped()
    return res


def run_ood_benchmark(
    cfg: OODConfig, out: str | Path, data_root=None, resume: bool = True, command=None
) -> OODResults:
    """Run the benchmark described by ``cfg`` into ``out``; the typed results (None in the
    other processes of a torchrun job)."""
    check_config(cfg, OODConfig, "run_ood_benchmark")
    out, t_start = Path(out), time.perf_counter()
    rt, run, timings = bench_runtime(cfg), _Run(), {"per_seed_s": []}
    order = [cfg.sweep_seed, *[s for s in cfg.seeds if s != cfg.sweep_seed]]
    for seed in order:
        t0 = time.perf_counter()
        log(f"seed {seed} ({order.index(seed) + 1}/{len(order)})")
        stages = _one_seed(cfg, seed, run, out, data_root, resume, rt)
        timings["per_seed_s"].append(time.perf_counter() - t0)
        timings.setdefault("stages", []).append(stages)
        timings.setdefault("speed", []).append(run.seed.speed)
    if not dist.is_main():
        return None
    res = _results(cfg, run, command)
    timings["total_s"] = time.perf_counter() - t_start
    budgets = {seed: run.per_seed[seed]["budget"] for seed in cfg.seeds}
    if any(b is not None for b in budgets.values()):
        timings["pretrain_time_budget"] = budgets
    timings["runtime"] = rt.describe()
    res.timings = timings
    res.claims = ood_claims(res)
    res.departures = departures(res)
    return res
