"""The plots of a dataset-vs-dataset report: FPR95 per OOD set, score histograms and ROC curves
of the first seed, the noise diagnostics, the temperature and the margin sweeps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...reporting import plots
from ..stats import mean_std
from .results import OODResults


def _per_set_bars(res: OODResults, out: Path, name) -> list[Path]:
    picks = [e for e in (res.find("pretrained", "msp", T=1.0), res.find("pretrained", "energy",
             T=1.0), res.find("oe", "msp"), res.find("energy", "energy")) if e]  # fmt: skip
    if not picks:
        return []
    series = {}
    for e in picks:
        vals = [[100 * v for v in e.values(s, "fpr95")] for s in res.ood_sets]
        series[name(e)] = (
            [np.mean(v) / 100 for v in vals],
            [(mean_std(v)[1] or 0.0) / 100 for v in vals],
        )
    return [plots.per_class_bars(res.ood_sets, series, out / "fpr95_per_set.png",
                                 ylabel="FPR95 (%), mean ± std over seeds")]  # fmt: skip


def _posthoc_plots(res: OODResults, ph: dict, out: Path) -> list[Path]:
    """Histograms of the softmax and energy scores on the first two headline sets, and the ROC
    curves of every post-hoc method on the pooled headline sets (first seed)."""
    msp, en = res.find("pretrained", "msp", T=1.0), res.find("pretrained", "energy", T=1.0)
    if not (msp and en and msp.label in ph and en.label in ph):
        return []
    paths = []
    for s in res.headline_sets[:2]:
        panels = {"softmax score": (ph[msp.label]["id"], ph[msp.label]["ood"][s]),
                  "negative energy": (ph[en.label]["id"], ph[en.label]["ood"][s])}  # fmt: skip
        paths.append(
            plots.score_histograms(
                panels,
                out / f"hist_{s}.png",
                ood_name=s,
                title=f"pre-trained, ID vs {s} (first seed)",
            )
        )
    pooled = {
        lab: (r["id"], np.concatenate([r["ood"][s] for s in res.headline_sets]))
        for lab, r in ph.items()
        if "self_normalized" not in lab and res.headline_sets
    }
    if pooled:
        paths.append(
            plots.roc_curves(
                pooled,
                out / "roc_posthoc.png",
                "ROC, natural sets pooled, first seed (ID positive)",
            )
        )
    return paths


def _finetuned_histogram(res: OODResults, raw: dict, out: Path) -> list[Path]:
    fr = raw.get("finetune", {}).get("energy", {}).get("energy")
    if not (fr and res.headline_sets):
        return []
    ood = np.concatenate([fr["ood"][s] for s in res.headline_sets])
    return [plots.score_histograms({"negative energy": (fr["id"], ood)},
                                   out / "hist_energy_finetuned.png", ood_name="natural OOD sets",
                                   title="energy fine-tuned (first seed)")]  # fmt: skip


def _sweep_plots(res: OODResults, out: Path) -> list[Path]:
    paths, ts, ms = [], res.temperature_sweep, res.margin_sweep
    if ts:
        paths.append(plots.fpr_vs_temperature(ts.temperatures, {"energy": ts.energy_fpr95,
                     "softmax": ts.msp_fpr95}, out / "fpr_vs_temperature.png"))  # fmt: skip
    if ms:
        paths.append(plots.margin_sweep(
            [f"({p.m_in:g}, {p.m_out:g})" for p in ms.points], [p.val_fpr95 for p in ms.points],
            [p.test_fpr95 for p in ms.points], ms.chosen, out / "margins.png",
        ))  # fmt: skip
    return paths


def _kept(out: Path, names: list[str]) -> list[Path]:
    """The plots of raw scores a re-render from results.json cannot redraw: those the run
    already drew into ``out`` are kept (and linked)."""
    return [out / n for n in names if (out / n).is_file()]


def report_plots(res: OODResults, out: Path, name) -> list[Path]:
    """Every plot of the report, in its order; ``name(evaluation)`` labels a series."""
    raw = res.raw or {}
    paths = _per_set_bars(res, out, name)
    if raw.get("posthoc"):
        paths += _posthoc_plots(res, raw["posthoc"], out)
    else:
        paths += _kept(out, [f"hist_{s}.png" for s in res.headline_sets[:2]] + ["roc_posthoc.png"])
    paths += (_finetuned_histogram(res, raw, out) if raw.get("finetune")
              else _kept(out, ["hist_energy_finetuned.png"]))  # fmt: skip
    if raw.get("noise"):
        paths.append(plots.noise_panels(raw["noise"], out / "noise_energy_and_norm.png",
                                        "pre-trained, ID vs noise (first seed)"))  # fmt: skip
    else:
        paths += _kept(out, ["noise_energy_and_norm.png"])
    return paths + _sweep_plots(res, out)
