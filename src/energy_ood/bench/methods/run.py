"""The training-method comparison (``energy-ood bench methods_fmnist``, ``kind = "methods"``).

For every seed: the ID data split once; cross-entropy from scratch (the baseline, and the
model every fine-tuning method starts from); every other method trained from scratch with the
same schedule (``[scratch]``) or fine-tuned from that seed's cross-entropy model (``[finetune]``),
all with the same auxiliary pool (``data.aux``, ``data.n_aux``, drawn once per seed, of no test
set's family) where the method takes one. Margins a method takes and its entry does not give
(energy, energy-scratch, single-margin) are chosen on the seed's cross-entropy model by the
fine-tuning rule (mean ID / held-out outlier validation energies): energy fine-tuning and
energy from scratch get the same margins. Every model is scored with every post-hoc scorer of
``[posthoc]`` (``weighted_ebo`` where training learned class weights: VOS) under the
dataset-vs-dataset protocol (``n_draws`` seeded draws of len(ID test) // 5 per OOD set).
Verdicts "X beats B" for every baseline B of ``[compare]`` are the paired rule of
:mod:`..stats` over seeds, on the mean over the natural-image OOD sets and on ID error.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

from ...data import bad_images
from ...data.sources import source_info
from ...evaluate.ood_inputs import load_ood_tensors
from ...evaluate.scoring import method_label, score_on_sets
from ...metrics import convention
from ...metrics.accuracy_gate import GateResult, enforce
from ...runtime import dist
from ...runtime.progress import log
from ...runtime.provenance import run_metadata
from ...train import needs_aux
from ...train.margins import MARGIN_KEYS, choose_margins
from ...train.objectives import objective_class
from ...train.runs import aux_outliers, finetune, prepare_id, pretrain, run_class_weights
from ...train.timing import run_speed, run_training_s
from ..draws import dataset_vs_dataset
from ..evaluation import Evaluation
from ..sections import ScorerSpec, bench_runtime, check_config
from . import score_cache
from .config import MethodsConfig, MethodSpec
from .results import MethodsResults, verdicts


def _train_config(cfg: MethodsConfig, spec: MethodSpec, seed: int, margins, rt):
    """The method's TrainConfig: its stage's schedule, its hyperparameters and the margins it
    takes but does not give."""
    section = cfg.scratch if spec.stage == "scratch" else cfg.finetune
    takes = objective_class(spec.name).hparams
    chosen = {k: margins[k] for k in MARGIN_KEYS
              if margins and k in takes and k not in spec.hparams}  # fmt: skip
    tcfg = section.train_config(seed, method=spec.name, hparams=dict(spec.hparams), **chosen)
    tcfg.amp = rt.amp
    return tcfg, chosen or None


def _train(cfg, spec, d, oods, seed, folder: Path, data_root, resume, rt, base, margins):
    tcfg, chosen = _train_config(cfg, spec, seed, margins, rt)
    aux = list(cfg.data.aux) if needs_aux(spec.name) else []
    common = dict(test_sets=list(oods), data_root=data_root, n_aux=cfg.data.n_aux,
                  resume=resume, runtime=rt, overwrite=not resume)  # fmt: skip
    log(f"seed {seed}: {spec.label} ({spec.name}, {spec.stage})")
    if spec.stage == "scratch":
        res = pretrain(d.name, cfg.model.name, folder / spec.label, tcfg, data=d,
                       train_limit=cfg.data.train_limit, aux=aux, **common)  # fmt: skip
    else:
        res = finetune(folder / "ce", spec.name, aux, folder / spec.label, tcfg, data=d,
                       model=copy.deepcopy(base), **common)  # fmt: skip
    return res, chosen


def _specs(cfg: MethodsConfig, spec: MethodSpec, weights) -> list[ScorerSpec]:
    """The post-hoc scorers for one model: the config's (``weighted_ebo`` only where training
    learned class weights) and the method's own score."""
    out = [s for s in cfg.posthoc.methods if s.name != "weighted_ebo" or weights is not None]
    if not any(s.name == spec.score and not s.params for s in out):
        out.append(ScorerSpec(spec.score))
    return out


def _score(cfg, spec, model, d, oods, seed, rt, weights, run_dir, data, resume) -> dict | None:
    """{label: (spec, per-set mean metrics, per-set draw std)}; None on other processes. Kept
    in ``run_dir`` and read back on a resume that would score the same way (score_cache)."""
    specs = _specs(cfg, spec, weights)
    key = score_cache.cache_key(run_dir, specs, cfg.eval.fit_samples, cfg.eval.n_draws, seed,
                                data)  # fmt: skip
    hit, kept = score_cache.load(run_dir, key, resume)
    if hit:
        return kept
    raw, _ = score_on_sets(model, d, oods, [s.as_method() for s in specs], cfg.eval.fit_samples,
                           seed, rt, class_weights=weights)  # fmt: skip
    if raw is None:
        return None
    out = {}
    for s in specs:
        label = method_label(s.as_method())
        dv = dataset_vs_dataset(raw[label]["id"], raw[label]["ood"], cfg.eval.n_draws, seed)
        out[label] = (s, {k: dv[k]["mean"] for k in oods}, {k: dv[k]["std"] for k in oods})
    score_cache.save(run_dir, key, out)
    return out


def _gate(cfg, d, res, seed) -> str | None:
    acc = res["metrics"]["test_accuracy"]
    gate = GateResult(acc, len(d.x_test), len(d.classes), cfg.accuracy_gate,
                      f"ID test (seed {seed}, cross-entropy model)",
                      d.extra.get("normalize", ""))  # fmt: skip
    return enforce(gate, cfg.strict) if gate.n_classes > 1 else None


def _seed(cfg: MethodsConfig, seed: int, out: Path, data_root, resume, rt) -> dict:
    """Train and score every method on one seed."""
    d = prepare_id(cfg.data.dataset, data_root, seed, train_limit=cfg.data.train_limit,
                   test_limit=cfg.data.test_limit)  # fmt: skip
    n = cfg.data.n_ood or len(d.x_test)
    oods = load_ood_tensors(cfg.data.ood_sets, n, d, seed + 1, data_root,
                            skip_missing=cfg.skip_missing)  # fmt: skip
    folder = out / f"seed{seed}"
    rec = {"sets": list(oods), "id_error": {}, "evals": {}, "margins": {}, "seconds": {},
           "train_s": {}, "speed": {}, "warning": None, "aux_pool": None}  # fmt: skip
    order = [cfg.method("ce"), *(m for m in cfg.methods if m.label != "ce")]
    base = margins = None
    data = score_cache.data_digest(d, oods)
    for spec in order:
        t0 = time.perf_counter()
        res, chosen = _train(cfg, spec, d, oods, seed, folder, data_root, resume, rt, base,
                             margins)  # fmt: skip
        rec["speed"][spec.label] = run_speed(res["metrics"])
        rec["train_s"][spec.label] = run_training_s(res["metrics"])
        rec["id_error"][spec.label], rec["margins"][spec.label] = 1 - res["metrics"][
            "test_accuracy"], chosen  # fmt: skip
        rec["aux_pool"] = rec["aux_pool"] or res["metrics"].get("aux_pool")
        if spec.label == "ce":
            base, rec["warning"] = res["model"], _gate(cfg, d, res, seed)
            if cfg.data.aux:
                held = aux_outliers(cfg.data.aux, list(oods), cfg.data.n_aux, d, seed,
                                    data_root)[1]  # fmt: skip
                margins = choose_margins(base, d.x_val, held)
        weights = run_class_weights(folder / spec.label)
        rec["evals"][spec.label] = _score(cfg, spec, res["model"], d, oods, seed, rt, weights,
                                          folder / spec.label, data, resume)  # fmt: skip
        rec["seconds"][spec.label] = time.perf_counter() - t0
    rec["protocol"] = {"ood_num": f"len(ID test) // 5 = {len(d.x_test) // 5}",
                       "ood_pool": {k: len(x) for k, x in oods.items()},
                       "n_draws": cfg.eval.n_draws, "fit_samples": cfg.eval.fit_samples,
                       "id_dataset": d.name, "n_train": len(d.x_train), "n_val": len(d.x_val),
                       "n_test": len(d.x_test)}  # fmt: skip
    rec["data"] = d.describe()
    return rec


def _evaluations(cfg: MethodsConfig, recs: list[dict]) -> list[Evaluation]:
    """One Evaluation per (method, scorer) scored on every seed."""
    out = []
    for spec in cfg.methods:
        labels = [set(r["evals"][spec.label]) for r in recs]
        for label in [x for x in recs[0]["evals"][spec.label] if all(x in s for s in labels)]:
            sc = recs[0]["evals"][spec.label][label][0]
            e = Evaluation(spec.label, sc, label)
            for r in recs:
                _, mean, std = r["evals"][spec.label][label]
                e.per_seed.append(mean)
                e.draw_std.append(std)
            out.append(e)
    return out


def run_methods_benchmark(
    cfg: MethodsConfig, out: str | Path, data_root=None, resume: bool = True, command=None
) -> MethodsResults | None:
    """Run the comparison described by ``cfg`` into ``out``; the typed results (rank 0)."""
    check_config(cfg, MethodsConfig, "run_methods_benchmark")
    out, t_start, rt = Path(out), time.perf_counter(), bench_runtime(cfg)
    recs = [_seed(cfg, seed, out, data_root, resume, rt) for seed in cfg.seeds]
    if not dist.is_main():
        return None
    sets = recs[0]["sets"]
    res = MethodsResults(
        title=cfg.title, convention=convention(), protocol=recs[0]["protocol"],
        seeds=list(cfg.seeds), ood_sets=sets,
        headline_sets=[s for s in sets if source_info(s).kind == "natural"],
        noise_sets=[s for s in sets if source_info(s).kind == "noise"],
        families={s: source_info(s).family for s in sets},
        methods=[_describe(cfg, m) for m in cfg.methods],
        id_error={m.label: [r["id_error"][m.label] for r in recs] for m in cfg.methods},
        margins={m.label: [r["margins"][m.label] for r in recs] for m in cfg.methods},
        evaluations=_evaluations(cfg, recs), aux_pool=recs[0]["aux_pool"],
        run=run_metadata(seed=cfg.seeds[0], config=cfg.to_dict(), data=recs[0]["data"],
                         command=command),
        timings={"total_s": time.perf_counter() - t_start, "runtime": rt.describe(),
                 "seconds": [r["seconds"] for r in recs], "train_s": [r["train_s"] for r in recs],
                 "speed": [r["speed"] for r in recs]},
        warning=next((r["warning"] for r in recs if r["warning"]), None),
    )  # fmt: skip
    if bad_images.skipped():
        res.run["skipped_images"] = bad_images.skipped()
    res.verdicts = verdicts(res, cfg.compare.baselines, cfg.compare.scores)
    return res


def _describe(cfg: MethodsConfig, m: MethodSpec) -> dict:
    """What the method is and how this run trained it."""
    obj = objective_class(m.name)
    section = cfg.scratch if m.stage == "scratch" else cfg.finetune
    return {**m.to_plain(), "paper": obj.paper, "paper_setup": obj.paper_setup,
            "paper_stage": obj.stage, "summary": obj.summary, "aux": needs_aux(m.name),
            "schedule": section.to_dict()}  # fmt: skip
