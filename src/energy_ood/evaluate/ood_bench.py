"""The dataset-vs-dataset benchmark (``energy-ood bench fmnist`` and the demo).

Steps, each recorded in ``results.json``: pretrain (or resume) the classifier; score every
post-hoc method on the ID test set and each OOD test set (10 seeded draws of len(ID)//5);
fine-tune with Outlier Exposure and with the energy objective (auxiliary outliers disjoint from
every test set); optionally the temperature sweep, the margin sweep and the single-margin
ablation. Margins are chosen on validation data, never on a test OOD set.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np

from .._progress import log
from .._runinfo import run_metadata
from .._validate import InputError
from ..data import load_ood_set
from ..metrics import convention
from ..train import TrainConfig
from ..train.loop import accuracy
from ..train.runs import finetune, load_run, prepare_id, pretrain  # noqa: F401
from .protocols import dataset_vs_dataset
from .scoring import ScoredModel, method_label, score_on_sets


def load_ood_tensors(
    names: list[str], n: int, data, seed: int, data_root=None, skip_missing: bool = False
) -> dict:
    """Each OOD test set at the ID size and channel count, normalised like the ID data.
    With ``skip_missing`` a set whose files are absent is left out with a note."""
    out = {}
    for i, name in enumerate(names):
        try:
            x = load_ood_set(
                name,
                n,
                size=data.size,
                channels=data.channels,
                seed=seed + 7 * i,
                data_root=data_root,
            )
        except InputError as e:
            if not skip_missing:
                raise
            log(f"OOD set {name} skipped: {e}")
            continue
        out[name] = data.normalize(x)
    return out


def _evaluate_model(model, data, oods: dict, methods: list[dict], cfg: dict, fit_n: int):
    raw, scored = score_on_sets(model, data, oods, methods, fit_n, cfg.get("seed", 0))
    ev = cfg.get("eval", {})
    res = {
        label: dataset_vs_dataset(
            r["id"], r["ood"], n_draws=ev.get("n_draws", 10), seed=cfg.get("seed", 0)
        )
        for label, r in raw.items()
    }
    return res, raw, scored


def _train_cfg(section: dict, seed: int, **extra) -> TrainConfig:
    keys = {
        "epochs",
        "lr",
        "batch_size",
        "aux_batch_size",
        "augment",
        "lam",
        "m_in",
        "m_out",
        "margin",
        "weight_decay",
    }
    return TrainConfig(seed=seed, **{k: v for k, v in section.items() if k in keys}, **extra)


def _finetune(base_dir, base_model, tcfg, dest, data, dcfg, ft, data_root, resume) -> dict:
    """Fine-tune a copy of the pretrained model with ``tcfg`` into ``dest`` (resumable)."""
    return finetune(
        base_dir,
        tcfg.method,
        dcfg["aux"],
        dest,
        tcfg,
        test_sets=dcfg["ood_sets"],
        data_root=data_root,
        n_aux=ft.get("n_aux", 20000),
        resume=resume,
        data=data,
        model=copy.deepcopy(base_model),
    )


def run_ood_benchmark(cfg: dict, out: str | Path, data_root=None, resume: bool = True) -> dict:
    """Run the benchmark described by ``cfg`` into ``out``; returns the results dict."""
    out = Path(out)
    t_start = time.perf_counter()
    seed = cfg.get("seed", 0)
    dcfg, mcfg = cfg["data"], cfg.get("model", {"name": "cnn"})
    data = prepare_id(
        dcfg["dataset"],
        data_root,
        seed,
        train_limit=dcfg.get("train_limit"),
        test_limit=dcfg.get("test_limit"),
    )
    timings = {}

    # 1. pretraining (resumes from the run folder's checkpoint when present)
    t0 = time.perf_counter()
    base_dir = out / "base"
    pre = pretrain(
        data.name,
        mcfg["name"],
        base_dir,
        _train_cfg(cfg.get("pretrain", {}), seed),
        resume=resume,
        data=data,
        train_limit=dcfg.get("train_limit"),
    )
    base_model, id_err = pre["model"], pre["metrics"]["test_error"]
    timings["pretrain_s"] = time.perf_counter() - t0

    # 2. post-hoc scores
    t0 = time.perf_counter()
    oods = load_ood_tensors(
        dcfg["ood_sets"],
        dcfg.get("n_ood", len(data.x_test)),  # a pool of 5x the draw size (len(ID) // 5)
        data,
        seed + 1,
        data_root,
        skip_missing=cfg.get("skip_missing", False),
    )
    dcfg = {**dcfg, "ood_sets": list(oods)}
    methods = cfg.get("posthoc", {}).get("methods", [{"name": "msp"}, {"name": "energy"}])
    fit_n = cfg.get("eval", {}).get("fit_samples", 10000)
    posthoc, raw, scored = _evaluate_model(base_model, data, oods, methods, cfg, fit_n)
    timings["posthoc_s"] = time.perf_counter() - t0
    results = {
        "title": cfg.get("title", "dataset-vs-dataset benchmark"),
        "convention": convention(),
        "protocol": {
            "ood_num": f"len(ID test) // 5 = {len(data.x_test) // 5}",
            "ood_pool": {name: len(x) for name, x in oods.items()},
            "n_draws": cfg.get("eval", {}).get("n_draws", 10),
            "ood_sets": dcfg["ood_sets"],
            "aux": dcfg.get("aux", []),
            "fit_samples": fit_n,
        },
        "run": run_metadata(seed=seed, config=cfg, data=data.describe()),
        "id_test_error": {"pretrained": id_err},
        "posthoc": posthoc,
    }
    results["_raw"] = {"posthoc": raw}
    for r in raw.values():
        if r["spec"]["name"] == "self_normalized_energy":  # identically 0 up to rounding
            every = np.concatenate([r["id"], *r["ood"].values()])
            results["self_normalized_max_abs"] = float(np.abs(every).max())

    # 3. fine-tuning with auxiliary outliers
    ft = cfg.get("finetune", {})
    results["finetune"], results["_raw"]["finetune"] = {}, {}
    for method in ft.get("methods", []):
        t0 = time.perf_counter()
        tcfg = _train_cfg(ft, seed, method=method)
        res = _finetune(base_dir, base_model, tcfg, out / f"ft_{method}", data, dcfg, ft,
                        data_root, resume)  # fmt: skip
        score_spec = [{"name": "msp", "label": "msp"}, {"name": "energy", "label": "energy"}]
        r, rr, _ = _evaluate_model(res["model"], data, oods, score_spec, cfg, 1)
        results["finetune"][method] = {
            "scores": r,
            "test_error": res["metrics"]["test_error"],
            "margins": res["metrics"].get("margins"),
            "config": tcfg.to_dict(),
        }
        results["_raw"]["finetune"][method] = rr
        timings[f"finetune_{method}_s"] = time.perf_counter() - t0

    # 4. sweeps
    sw = cfg.get("sweeps", {})
    if sw.get("temperatures"):
        t0 = time.perf_counter()
        results["temperature_sweep"] = temperature_sweep(
            scored, list(oods), sw["temperatures"], cfg
        )
        timings["temperature_sweep_s"] = time.perf_counter() - t0
    if sw.get("margin_grid"):
        t0 = time.perf_counter()
        results["margin_sweep"] = margin_sweep(
            base_dir, base_model, data, oods, cfg, out, data_root, resume
        )
        timings["margin_sweep_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    results["timings"] = timings
    return results


def temperature_sweep(
    scored: ScoredModel, ood_names: list[str], temps: list[float], cfg: dict
) -> dict:
    """Mean FPR95 / AUROC over OOD sets for energy and MSP at every temperature."""
    out = {"temperatures": temps, "energy": [], "msp": [], "energy_auroc": [], "msp_auroc": []}
    for T in temps:
        for name in ("energy", "msp"):
            s = scored.scores({"name": name, "T": float(T)}, ["id", *ood_names])
            r = dataset_vs_dataset(
                s["id"],
                {n: s[n] for n in ood_names},
                n_draws=cfg.get("eval", {}).get("n_draws", 10),
                seed=cfg.get("seed", 0),
            )
            out[name].append(r["mean"]["mean"]["fpr95"])
            out[f"{name}_auroc"].append(r["mean"]["mean"]["auroc"])
    return out


def margin_sweep(base_dir, base_model, data, oods, cfg, out, data_root, resume) -> dict:
    """Energy fine-tuning over a grid of margins offset from the data-chosen ones, plus the
    single-margin ablation; FPR95 (energy score) and ID test error of each."""
    from ..train.margins import choose_margins
    from ..train.runs import aux_outliers

    seed, dcfg = cfg.get("seed", 0), cfg["data"]
    sw = cfg["sweeps"]
    grid = sw["margin_grid"]
    ft = {**cfg.get("finetune", {}), **sw.get("finetune", {})}
    _, aux_val = aux_outliers(
        dcfg["aux"], dcfg["ood_sets"], ft.get("n_aux", 20000), data, seed, data_root
    )
    chosen = choose_margins(base_model, data.x_val, aux_val)
    m_ins = [round(chosen["m_in"] + d, 2) for d in grid["m_in_offsets"]]
    m_outs = [round(chosen["m_out"] + d, 2) for d in grid["m_out_offsets"]]
    fpr = np.full((len(m_ins), len(m_outs)), np.nan)
    err = np.full_like(fpr, np.nan)

    def fpr_and_error(tcfg: TrainConfig, name: str) -> tuple[float, float]:
        """Fine-tune a copy of the base model; mean FPR95 (energy score) and ID test error."""
        res = _finetune(base_dir, base_model, tcfg, out / "margins" / name, data, dcfg, ft,
                        data_root, resume)  # fmt: skip
        r, _, _ = _evaluate_model(res["model"], data, oods, [{"name": "energy"}], cfg, 1)
        return r["energy"]["mean"]["mean"]["fpr95"], res["metrics"]["test_error"]

    for i, mi in enumerate(m_ins):
        for j, mo in enumerate(m_outs):
            if mo <= mi:
                continue
            tcfg = _train_cfg(ft, seed, method="energy", m_in=mi, m_out=mo)
            fpr[i, j], err[i, j] = fpr_and_error(tcfg, f"{i}_{j}")
    single = None
    if sw.get("single_margin", True):
        tcfg = _train_cfg(ft, seed, method="single-margin", margin=chosen["margin"])
        single_fpr, single_err = fpr_and_error(tcfg, "single")
        ci, cj = grid["m_in_offsets"].index(0), grid["m_out_offsets"].index(0)
        single = {
            "margin": chosen["margin"],
            "fpr95": single_fpr,
            "test_error": single_err,
            "two_margin_fpr95": float(fpr[ci, cj]),
            "two_margin_test_error": float(err[ci, cj]),
        }
    log(f"margin sweep done: {np.isfinite(fpr).sum()} runs")
    return {
        "m_in": m_ins,
        "m_out": m_outs,
        "fpr95": _nan_none(fpr),
        "test_error": _nan_none(err),
        "chosen": chosen,
        "single_margin": single,
        "epochs": ft.get("epochs"),
    }


def _nan_none(a: np.ndarray) -> list:
    return [[None if np.isnan(v) else float(v) for v in row] for row in a]


def id_accuracy(model, data) -> float:
    return accuracy(model, data.x_test, data.y_test)


__all__ = ["load_run", "method_label", "run_ood_benchmark"]
