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

import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from .. import _dist
from .._progress import log
from .._runinfo import atomic_write_json, run_metadata
from .._validate import InputError
from ..data import bad_images, load_ood_set
from ..data.ood_sets import source_info
from ..metrics import convention, ood_metrics
from ..score.functional import free_energy
from ..train.loop import accuracy, predict_logits
from ..train.margins import choose_margins
from ..train.runs import aux_outliers, finetune, load_run, prepare_id, pretrain
from .gate import GateResult, enforce
from .margin_choice import RULE as SWEEP_RULE
from .margin_choice import choose
from .ood_claims import departures, ood_claims
from .ood_config import OODConfig
from .protocols import dataset_vs_dataset
from .results import METRICS, Evaluation, MarginPoint, MarginSweep, OODResults, TemperatureSweep
from .schema import ScorerSpec
from .scoring import method_label, score_on_sets

FT_SCORES = (ScorerSpec("msp"), ScorerSpec("energy"))


def bench_runtime(cfg):
    """The config's device / amp / threads as a Runtime, and its bad-images policy (the CLI's
    flags override the config's keys before this); joins the torchrun process group when
    launched by torchrun."""
    from .. import _dist
    from .._device import Runtime

    bad_images.set_policy(getattr(cfg, "bad_images", "error"))  # a key of ood configs
    rt = Runtime.create(device=cfg.device, amp=cfg.amp, threads=cfg.threads)
    dev = _dist.init(rt.device)
    return rt if dev == rt.device else Runtime(dev, rt.amp, rt.threads, rt.compile, rt.data_mode)


def _median_epoch(metrics: dict) -> float:
    """Median seconds of a run's epochs (its history), NaN when it has none."""
    secs = [h["seconds"] for h in metrics.get("history", []) if "seconds" in h]
    return float(np.median(secs)) if secs else float("nan")


SPEED_KEYS = ("images_per_s", "step_ms_p50", "step_ms_p90", "step_ms_p99")


def speed(metrics: dict) -> dict:
    """Training speed of a run: the median over its epochs of images/s and of the step-time
    percentiles (milliseconds; device-event times on CUDA)."""
    hist = metrics.get("history", [])
    return {k: float(np.median([h[k] for h in hist])) for k in SPEED_KEYS
            if hist and all(k in h for h in hist)}  # fmt: skip


def _on(rt, tcfg):
    """A TrainConfig in the runtime's precision."""
    tcfg.amp = rt.amp
    return tcfg


def load_ood_tensors(
    names: list[str], n: int, data, seed: int, data_root=None, skip_missing: bool = False
) -> dict:
    """Each OOD test set at the ID size and channel count, normalised like the ID data.
    With ``skip_missing`` a set whose files are absent is left out with a note."""
    out = {}
    for i, name in enumerate(names):
        try:
            x = load_ood_set(
                name, n, size=data.size, channels=data.channels, seed=seed + 7 * i,
                data_root=data_root, transform=data.transform,
            )  # fmt: skip
        except InputError as e:
            if not skip_missing:
                raise
            log(f"OOD set {name} skipped: {e}")
            continue
        out[name] = data.normalize(x)
    return out


def _draws(raw: dict, cfg: OODConfig, seed: int) -> dict:
    return dataset_vs_dataset(raw["id"], raw["ood"], n_draws=cfg.eval.n_draws, seed=seed)


def _record(evals: dict, model: str, spec: ScorerSpec, dv: dict, sets: list[str]) -> None:
    label = method_label(spec.as_method())
    e = evals.setdefault((model, label), Evaluation(model, spec, label))
    e.per_seed.append({s: dv[s]["mean"] for s in sets})
    e.draw_std.append({s: dv[s]["std"] for s in sets})


def _score(model, data, oods, specs, cfg, seed, fit_n, rt=None) -> tuple[dict | None, object]:
    """{label: draws result} and the ScoredModel of one model on every set (None for the
    results on the other processes of a torchrun job: rank 0 scores)."""
    methods = [s.as_method() for s in specs]
    raw, scored = score_on_sets(model, data, oods, methods, fit_n, seed, rt)
    if raw is None:
        return None, scored
    return {lab: (_draws(r, cfg, seed), r) for lab, r in raw.items()}, scored


def _noise_stats(model, data, oods: dict, noise_sets: list[str]) -> tuple[dict, dict]:
    """Logit norms and negative energies of ID test vs each noise set (medians, and the rank
    correlation of -E with ||f|| over all of them): why energy calls noise ID when it does."""
    from scipy.stats import spearmanr

    arrays, stats = {}, {}
    for name, x in [("id", data.x_test), *((s, oods[s]) for s in noise_sets)]:
        f = predict_logits(model, x)
        norm, neg_e = f.norm(dim=1).numpy(), (-free_energy(f)).numpy()
        arrays[name] = (norm, neg_e)
        stats[name] = {"median_logit_norm": float(np.median(norm)),
                       "median_neg_energy": float(np.median(neg_e)),
                       "median_max_logit": float(f.max(1).values.median())}  # fmt: skip
    pooled_n = np.concatenate([a[0] for a in arrays.values()])
    pooled_e = np.concatenate([a[1] for a in arrays.values()])
    stats["spearman_norm_vs_neg_energy"] = float(spearmanr(pooled_n, pooled_e).statistic)
    return stats, arrays


def _start_model(m, d, data_root, seed: int, rt) -> tuple:
    """(model, arch record, ID data through the model's preprocessing) of a torchvision/timm
    model or a checkpoint: the starting point of the pretraining stage."""
    from ..train.runs import Pretrained, load_pretrained

    torch.manual_seed(seed)  # a new head is drawn from the seed
    p = Pretrained(m.name, m.checkpoint, d.dataset, m.new_head, d.train_limit, m.input_size,
                   d.test_limit, m.normalize, m.class_names)  # fmt: skip
    model, data, record = load_pretrained(p, data_root, seed, rt)
    return model, record["arch"], data


def _read_budget(path: Path) -> dict:
    try:
        budget = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: unreadable ({e}); resume with --fresh") from None
    epochs = budget.get("epochs") if isinstance(budget, dict) else None
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise InputError(f"{path}: no epoch count >= 1 in it; resume with --fresh")
    return budget


class _Seed:
    """Everything one seed needs: data, pretrained model, OOD tensors, auxiliary data."""

    def __init__(self, cfg: OODConfig, seed: int, out: Path, data_root, resume, sets, rt):
        self.seed, self.dir = seed, out / f"seed{seed}"
        d, m = cfg.data, cfg.model
        start = None
        if m.pretrained:
            *start, self.data = _start_model(m, d, data_root, seed, rt)
        else:
            self.data = prepare_id(d.dataset, data_root, seed, train_limit=d.train_limit,
                                   test_limit=d.test_limit)  # fmt: skip
        self.base_dir = self.dir / "base"
        tcfg = _on(rt, cfg.pretrain.train_config(seed))
        self.budget = None
        if cfg.pretrain.time_budget_s is not None:  # as many epochs as fit in the budget
            self.budget = self._budget(cfg, tcfg, start, rt, resume)
            tcfg.epochs = self.budget["epochs"]
        pre = pretrain(
            self.data.name, cfg.model.name, self.base_dir, tcfg, resume=resume, data=self.data,
            train_limit=d.train_limit, runtime=rt, overwrite=not resume,
            start=tuple(start) if start else None,
        )  # fmt: skip
        self.model, self.id_error = pre["model"], pre["metrics"]["test_error"]
        gate = GateResult(1 - self.id_error, len(self.data.x_test), len(self.data.classes),
                          cfg.accuracy_gate, f"ID test (seed {seed}, pretrained model)",
                          self.data.extra.get("normalize", ""))  # fmt: skip
        self.warning = enforce(gate, cfg.strict) if gate.n_classes > 1 else None
        self.epoch_s = _median_epoch(pre["metrics"])
        self.speed = {"pretrain": speed(pre["metrics"])}
        n = d.n_ood or len(self.data.x_test)  # a pool of 5x the draw size (len(ID) // 5)
        self.oods = load_ood_tensors(sets or d.ood_sets, n, self.data, seed + 1, data_root,
                                     skip_missing=cfg.skip_missing and not sets)  # fmt: skip
        self._aux_val = None

    def _budget(self, cfg: OODConfig, tcfg, start, rt, resume: bool) -> dict:
        """The epoch count for the time budget: measured once per seed and kept in
        budget.json, so a resumed run trains the epochs it started with (a new measurement
        would differ and break the run's identity); rank 0 measures, every rank trains it."""
        from ..models import create_model
        from ..train.budget import epochs_for_budget

        path = self.dir / "budget.json"
        budget = None
        if _dist.is_main():
            if resume and path.is_file():
                budget = _read_budget(path)
            else:
                probe = start[0] if start else create_model(
                    cfg.model.name, num_classes=len(self.data.classes),
                    in_channels=self.data.channels)  # fmt: skip
                budget = epochs_for_budget(probe, self.data.x_train, self.data.y_train, tcfg,
                                           rt, cfg.pretrain.time_budget_s)  # fmt: skip
                atomic_write_json(path, budget)
        return _dist.broadcast_object(budget)

    def margin_val(self, cfg: OODConfig, data_root) -> tuple[torch.Tensor, dict]:
        """As many margin-validation outliers as ID validation images (distinct crops, no
        picture of an ID class), normalised like the ID data, and their record."""
        from ..data.splits import AuxiliaryPool

        d = cfg.data
        pool = AuxiliaryPool(d.margin_val, [*self.oods, *d.aux], id_dataset=self.data.name)
        x = pool.sample(len(self.data.x_val), size=self.data.size, channels=self.data.channels,
                        seed=self.seed + 4099, data_root=data_root,
                        transform=self.data.transform)  # fmt: skip
        return self.data.normalize(x), pool.record

    def aux_val(self, cfg: OODConfig, data_root) -> torch.Tensor:
        if self._aux_val is None:
            ft = cfg.finetune
            self._aux_val = aux_outliers(cfg.data.aux, list(self.oods), ft.n_aux, self.data,
                                         self.seed, data_root)[1]  # fmt: skip
        return self._aux_val


def _finetune(cfg: OODConfig, sd: _Seed, tcfg, dest: Path, data_root, resume, rt) -> dict:
    """Fine-tune a copy of the seed's pretrained model with ``tcfg`` into ``dest``."""
    return finetune(
        sd.base_dir, tcfg.method, cfg.data.aux, dest, _on(rt, tcfg), test_sets=list(sd.oods),
        data_root=data_root, n_aux=cfg.finetune.n_aux, resume=resume, data=sd.data,
        model=copy.deepcopy(sd.model), runtime=rt, overwrite=not resume,
    )  # fmt: skip


def _margin_sweep(cfg, sd: _Seed, base: dict, headline, data_root, resume, rt) -> tuple:
    """Energy fine-tuning at every offset; the choice on validation figures only (ID
    validation vs the margin-validation outliers)."""
    ms, points, runs = cfg.sweeps.margins, [], []
    x_val = sd.data.x_val
    out_val, val_pool = sd.margin_val(cfg, data_root) if _dist.is_main() else (None, None)
    for i, (d_in, d_out) in enumerate(ms.offsets):
        m_in, m_out = round(base["m_in"] + d_in, 3), round(base["m_out"] + d_out, 3)
        if not m_in < m_out:
            raise InputError(f"sweeps.margins.offsets[{i}]: gives m_in {m_in} >= m_out {m_out}")
        log(f"margin sweep {i + 1}/{len(ms.offsets)}: m_in={m_in}, m_out={m_out}")
        tcfg = cfg.finetune.train_config(sd.seed, method="energy", m_in=m_in, m_out=m_out)
        res = _finetune(cfg, sd, tcfg, sd.dir / "margins" / f"p{i}", data_root, resume, rt)
        model = res["model"]
        draws, _ = _score(model, sd.data, {s: sd.oods[s] for s in headline},
                          [ScorerSpec("energy")], cfg, sd.seed, 1, rt)  # fmt: skip
        runs.append(res)
        if draws is None:  # another process of a torchrun job
            continue
        val = ood_metrics(-free_energy(predict_logits(model, x_val)).numpy(),
                          -free_energy(predict_logits(model, out_val)).numpy())  # fmt: skip
        (dv, _), = draws.values()  # fmt: skip
        points.append(MarginPoint(
            [d_in, d_out], m_in, m_out, val["fpr95"],
            1 - accuracy(model, x_val, sd.data.y_val),
            float(np.mean([dv[s]["mean"]["fpr95"] for s in headline])),
            res["metrics"]["test_error"], val["auroc"],
        ))  # fmt: skip
    if not points:  # another process: rank 0 decides and tells
        best = _dist.broadcast_object(None)
        return None, runs[best]
    best, choice = choose(points)
    sweep = MarginSweep(sd.seed, {k: base[k] for k in ("m_in", "m_out", "margin", "rule")},
                        points, best, SWEEP_RULE, cfg.finetune.epochs, list(cfg.data.margin_val),
                        choice, val_pool)  # fmt: skip
    log(f"margin sweep: {sweep.choice_text()}")
    _dist.broadcast_object(best)
    return sweep, runs[best]


def _sources(sets: list[str], cfg: OODConfig, aux_pool, sweep) -> dict:
    """Family, kind, content, origin and licence of every source the run used, with the
    pictures left out of each outlier source (pictures of the ID classes) and why."""
    out = {s: dict(source_info(s).__dict__) for s in [*sets, *cfg.data.aux, *cfg.data.margin_val]}
    pools = [p for p in (aux_pool, sweep.val_pool if sweep else None) if p]
    for rec in (r for p in pools for r in p["sources"]):
        out[rec["source"]]["left_out"] = rec["left_out"]
    return out


def run_ood_benchmark(
    cfg: OODConfig, out: str | Path, data_root=None, resume: bool = True, command=None
) -> OODResults:
    """Run the benchmark described by ``cfg`` into ``out``; the typed results."""
    if not isinstance(cfg, OODConfig):
        raise InputError("run_ood_benchmark needs an OODConfig (evaluate.config.load_config)")
    out, t_start = Path(out), time.perf_counter()
    ft, timings = cfg.finetune, {"per_seed_s": []}
    evals: dict = {}
    id_error: dict[str, list] = {"pretrained": []}
    margins_used: dict[str, list] = {}
    temps = {k: [] for k in ("energy_fpr95", "msp_fpr95", "energy_auroc", "msp_auroc")}
    noise, sweep, raw, sets, warning = None, None, None, None, None
    order = [cfg.sweep_seed, *[s for s in cfg.seeds if s != cfg.sweep_seed]]
    per_seed_out = {}
    rt = bench_runtime(cfg)
    main = _dist.is_main()
    for seed in order:
        t0 = time.perf_counter()
        log(f"seed {seed} ({order.index(seed) + 1}/{len(order)})")
        sd = _Seed(cfg, seed, out, data_root, resume, sets, rt)
        warning = warning or sd.warning
        stages = {"pretrain_s": time.perf_counter() - t0, "pretrain_epoch_s": sd.epoch_s}
        t1 = time.perf_counter()
        sets = list(sd.oods)
        headline = [s for s in sets if source_info(s).kind == "natural"]
        noise_sets = [s for s in sets if source_info(s).kind == "noise"]
        rec = per_seed_out[seed] = {"evals": [], "id_error": {"pretrained": sd.id_error},
                                    "margins": {}, "budget": sd.budget}  # fmt: skip
        draws, scored = _score(sd.model, sd.data, sd.oods, cfg.posthoc.methods, cfg, seed,
                               cfg.eval.fit_samples, rt)  # fmt: skip
        stages["posthoc_s"] = time.perf_counter() - t1
        if main:  # rank 0 scores; the other processes of a torchrun job only train
            for spec in cfg.posthoc.methods:
                label = method_label(spec.as_method())
                rec["evals"].append(("pretrained", spec, draws[label][0]))
            if seed == cfg.seeds[0]:
                raw = {"posthoc": {lab: r for lab, (_, r) in draws.items()}, "finetune": {}}
            for T in cfg.sweeps.temperatures:
                for name in ("energy", "msp"):
                    sc = scored.scores({"name": name, "T": float(T)}, ["id", *sets])
                    dv = dataset_vs_dataset(sc["id"], {n: sc[n] for n in sets},
                                            cfg.eval.n_draws, seed)  # fmt: skip
                    rec.setdefault("temps", {}).setdefault(name, []).append(
                        [float(np.mean([dv[h]["mean"][m] for h in headline]))
                         for m in ("fpr95", "auroc")])  # fmt: skip
            if noise_sets:
                stats, arrays = _noise_stats(sd.model, sd.data, sd.oods, noise_sets)
                rec["noise"] = stats
                if seed == cfg.seeds[0]:
                    raw["noise"] = arrays
        if ft is not None:
            base = choose_margins(sd.model, sd.data.x_val, sd.aux_val(cfg, data_root))
            offset, chosen_run = (0.0, 0.0), None
            if cfg.sweeps.margins is not None and seed == cfg.sweep_seed:
                sweep, chosen_run = _margin_sweep(cfg, sd, base, headline, data_root, resume,
                                                  rt)  # fmt: skip
            if sweep is not None:
                offset = tuple(sweep.points[sweep.chosen].offset)
            offset = _dist.broadcast_object(offset)  # every process trains the same margins
            m_in = ft.m_in if ft.m_in is not None else round(base["m_in"] + offset[0], 3)
            m_out = ft.m_out if ft.m_out is not None else round(base["m_out"] + offset[1], 3)
            for method in ft.methods:
                extra = {"m_in": m_in, "m_out": m_out} if method == "energy" else {}
                if method == "single-margin":
                    extra = {"margin": round(m_out - m_in, 3)}
                tcfg = ft.train_config(seed, method=method, **extra)
                t1 = time.perf_counter()
                if method == "energy" and chosen_run is not None:
                    res = chosen_run
                else:
                    res = _finetune(cfg, sd, tcfg, sd.dir / method, data_root, resume, rt)
                stages[f"finetune_{method}_s"] = time.perf_counter() - t1
                stages[f"finetune_{method}_epoch_s"] = _median_epoch(res["metrics"])
                sd.speed[f"finetune {method}"] = speed(res["metrics"])
                d2, _ = _score(res["model"], sd.data, sd.oods, FT_SCORES, cfg, seed, 1, rt)
                rec["id_error"][method] = res["metrics"]["test_error"]
                rec.setdefault("aux_pool", res["metrics"].get("aux_pool"))
                chosen = {k: base[k] for k in ("m_in", "m_out", "margin")}
                rec["margins"][method] = {**extra, "base": chosen} if extra else None
                if not main:
                    continue
                for spec in FT_SCORES:
                    rec["evals"].append((method, spec, d2[method_label(spec.as_method())][0]))
                if seed == cfg.seeds[0]:
                    raw["finetune"][method] = {lab: r for lab, (_, r) in d2.items()}
        timings["per_seed_s"].append(time.perf_counter() - t0)
        timings.setdefault("stages", []).append(stages)
        timings.setdefault("speed", []).append(sd.speed)
    if not main:
        return None
    for seed in cfg.seeds:  # assemble in the config's seed order
        rec = per_seed_out[seed]
        for model, spec, dv in rec["evals"]:
            _record(evals, model, spec, dv, sets)
        for k, v in rec["id_error"].items():
            id_error.setdefault(k, []).append(v)
        for k, v in rec["margins"].items():
            margins_used.setdefault(k, []).append(v)
        for name in ("energy", "msp"):
            pairs = rec.get("temps", {}).get(name, [])
            temps[f"{name}_fpr95"].append([p[0] for p in pairs])
            temps[f"{name}_auroc"].append([p[1] for p in pairs])
        if "noise" in rec:
            noise = noise or {"sets": noise_sets, "per_seed": []}
            noise["per_seed"].append(rec["noise"])
    aux_pool = per_seed_out[cfg.seeds[0]].get("aux_pool")
    sources = _sources(sets, cfg, aux_pool, sweep)
    res = OODResults(
        title=cfg.title, convention=convention(),
        protocol={"ood_num": f"len(ID test) // 5 = {len(sd.data.x_test) // 5}",
                  "ood_pool": {n: len(x) for n, x in sd.oods.items()},
                  "n_draws": cfg.eval.n_draws, "fit_samples": cfg.eval.fit_samples,
                  "id_dataset": sd.data.name, "n_train": len(sd.data.x_train),
                  "n_val": len(sd.data.x_val), "n_test": len(sd.data.x_test)},
        seeds=list(cfg.seeds), ood_sets=sets, headline_sets=headline, noise_sets=noise_sets,
        sources=sources, aux=list(cfg.data.aux), id_error=id_error, margins=margins_used,
        evaluations=list(evals.values()), margin_sweep=sweep, noise=noise, aux_pool=aux_pool,
        temperature_sweep=TemperatureSweep(list(map(float, cfg.sweeps.temperatures)), **temps)
        if cfg.sweeps.temperatures else None,
        run=run_metadata(seed=cfg.seeds[0], config=cfg.to_dict(), data=sd.data.describe(),
                         command=command),
        raw=raw, warning=warning,
    )  # fmt: skip
    if bad_images.skipped():  # ID, OOD and auxiliary image files left out, with reasons
        res.run["skipped_images"] = bad_images.skipped()
    timings["total_s"] = time.perf_counter() - t_start
    budgets = {seed: per_seed_out[seed]["budget"] for seed in cfg.seeds}
    if any(b is not None for b in budgets.values()):
        timings["pretrain_time_budget"] = budgets
    timings["runtime"] = rt.describe()
    res.timings = timings
    res.claims = ood_claims(res)
    res.departures = departures(cfg, res)
    return res


__all__ = ["METRICS", "load_ood_tensors", "load_run", "run_ood_benchmark"]
