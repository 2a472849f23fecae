"""The margin sweep (energy fine-tuning at offsets from the data-chosen margins, chosen on
validation figures only), the temperature sweep's points and the noise diagnostics of the
dataset-vs-dataset benchmark; and the seeded draws every model is scored with."""

from __future__ import annotations

import numpy as np

from ..._validate import InputError
from ...evaluate.scoring import score_on_sets
from ...metrics import ood_metrics
from ...runtime import dist
from ...runtime.progress import log
from ...score.functional import free_energy
from ...train.loop import accuracy, predict_logits
from ..draws import dataset_vs_dataset
from ..sections import ScorerSpec
from .margin_choice import RULE as SWEEP_RULE
from .margin_choice import choose
from .results import MarginPoint, MarginSweep
from .seed import Seed, finetune_copy

FT_SCORES = (ScorerSpec("msp"), ScorerSpec("energy"))


def score_draws(model, data, oods, specs, cfg, seed, fit_n, rt=None) -> tuple[dict | None, object]:
    """{label: draws result} and the ScoredModel of one model on every set (None for the
    results on the other processes of a torchrun job: rank 0 scores)."""
    methods = [s.as_method() for s in specs]
    raw, scored = score_on_sets(model, data, oods, methods, fit_n, seed, rt)
    if raw is None:
        return None, scored
    return {
        lab: (dataset_vs_dataset(r["id"], r["ood"], n_draws=cfg.eval.n_draws, seed=seed), r)
        for lab, r in raw.items()
    }, scored


def temperature_points(scored, sets: list[str], headline: list[str], T_values, n_draws: int,
                       seed: int) -> dict:  # fmt: skip
    """Per scorer (energy, msp) and temperature, [FPR95, AUROC] averaged over the headline
    sets (each the mean over seeded draws)."""
    out: dict = {}
    for T in T_values:
        for name in ("energy", "msp"):
            sc = scored.scores({"name": name, "T": float(T)}, ["id", *sets])
            dv = dataset_vs_dataset(sc["id"], {n: sc[n] for n in sets}, n_draws, seed)
            out.setdefault(name, []).append(
                [float(np.mean([dv[h]["mean"][m] for h in headline])) for m in ("fpr95", "auroc")]
            )
    return out


def noise_stats(model, data, oods: dict, noise_sets: list[str]) -> tuple[dict, dict]:
    """Logit norms and negative energies of ID test vs each noise set (medians, and the rank
    correlation of -E with ||f|| over all of them), for the report's noise section."""
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


def margin_sweep(cfg, sd: Seed, base: dict, headline, data_root, resume, rt) -> tuple:
    """Energy fine-tuning at every offset; the choice on validation figures only (ID
    validation vs the margin-validation outliers)."""
    ms, points, runs = cfg.sweeps.margins, [], []
    x_val = sd.data.x_val
    out_val, val_pool = sd.margin_val(cfg, data_root) if dist.is_main() else (None, None)
    for i, (d_in, d_out) in enumerate(ms.offsets):
        m_in, m_out = round(base["m_in"] + d_in, 3), round(base["m_out"] + d_out, 3)
        if not m_in < m_out:
            raise InputError(f"sweeps.margins.offsets[{i}]: gives m_in {m_in} >= m_out {m_out}")
        log(f"margin sweep {i + 1}/{len(ms.offsets)}: m_in={m_in}, m_out={m_out}")
        tcfg = cfg.finetune.train_config(sd.seed, method="energy", m_in=m_in, m_out=m_out)
        res = finetune_copy(cfg, sd, tcfg, sd.dir / "margins" / f"p{i}", data_root, resume, rt)
        model = res["model"]
        draws, _ = score_draws(model, sd.data, {s: sd.oods[s] for s in headline},
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
        best = dist.broadcast_object(None)
        return None, runs[best]
    best, choice = choose(points)
    sweep = MarginSweep(sd.seed, {k: base[k] for k in ("m_in", "m_out", "margin", "rule")},
                        points, best, SWEEP_RULE, cfg.finetune.epochs, list(cfg.data.margin_val),
                        choice, val_pool)  # fmt: skip
    log(f"margin sweep: {sweep.choice_text()}")
    dist.broadcast_object(best)
    return sweep, runs[best]
