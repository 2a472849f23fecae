"""Render a dataset-vs-dataset benchmark's results as report.md / report.html with plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import plots
from .report import (
    command_section,
    convention_text,
    methods_table,
    pair_table,
    per_set_table,
    write_report,
)
from .tables import markdown_table, pct

# SPEC section 5: CIFAR-10, WRN-40-2, mean of 6 OOD sets (FPR95 / AUROC / AUPR-In / ID error).
PAPER = {
    "msp": (51.04, 90.90, 97.92, 5.16),
    "energy": (33.01, 91.88, 97.83, 5.16),
    "odin": (35.71, 91.09, 97.62, 5.16),
    "mahalanobis": (37.08, 93.27, 98.49, 5.16),
    "oe": (8.53, 98.30, 99.63, 5.32),
    "energy fine-tune": (3.32, 98.92, 99.75, 4.87),
}


def _find(posthoc: dict, name: str) -> str | None:
    for label in posthoc:
        if label == name or label.startswith(name + "("):
            return label
    return None


def _claims(res: dict) -> str:
    ph, ft = res["posthoc"], res.get("finetune", {})
    rows = []

    def add(claim, ours, paper, holds):
        rows.append([claim, ours, paper, "yes" if holds else "**no**"])

    msp, en = _find(ph, "msp"), _find(ph, "energy")
    if msp and en:
        a, b = ph[msp]["mean"]["mean"]["fpr95"], ph[en]["mean"]["mean"]["fpr95"]
        add(
            "energy score beats softmax (mean FPR95, same model)",
            f"{pct(b)} vs {pct(a)}",
            "33.01 vs 51.04",
            b < a,
        )
    if "oe" in ft and "energy" in ft:
        oe = ft["oe"]["scores"]["msp"]["mean"]["mean"]["fpr95"]
        ef = ft["energy"]["scores"]["energy"]["mean"]["mean"]["fpr95"]
        add(
            "energy fine-tuning beats OE (mean FPR95)",
            f"{pct(ef)} vs {pct(oe)}",
            "3.32 vs 8.53",
            ef < oe,
        )
        add(
            "energy fine-tuning has lower ID error than OE",
            f"{pct(ft['energy']['test_error'])} vs {pct(ft['oe']['test_error'])}",
            "4.87 vs 5.32",
            ft["energy"]["test_error"] <= ft["oe"]["test_error"],
        )
        pre = res["id_test_error"]["pretrained"]
        add(
            "energy fine-tuning does not raise ID error (vs the pretrained model)",
            f"{pct(ft['energy']['test_error'])} vs {pct(pre)}",
            "4.87 vs 5.16",
            ft["energy"]["test_error"] <= pre,
        )
    ts = res.get("temperature_sweep")
    if ts:
        e, temps = ts["energy"], ts["temperatures"]
        best = min(range(len(e)), key=e.__getitem__)
        add(
            "T = 1 is the best temperature for the energy score (FPR95)",
            f"T=1: {pct(e[0])}; best T={temps[best]:g}: {pct(e[best])}; "
            f"T={temps[-1]:g}: {pct(e[-1])}",
            "FPR95 rises with T (Fig. 4a)",
            e[0] <= e[best],
        )
    sm = (res.get("margin_sweep") or {}).get("single_margin")
    if sm:
        add(
            "two margins keep more ID accuracy than one (ID error)",
            f"{pct(sm['two_margin_test_error'])} vs {pct(sm['test_error'])}",
            "single margin: -0.57% accuracy (CIFAR-10)",
            sm["two_margin_test_error"] <= sm["test_error"],
        )
    sn = _find(ph, "self_normalized_energy")
    if sn:
        au = ph[sn]["mean"]["mean"]["auroc"]
        size = res.get("self_normalized_max_abs")
        add(
            "self-normalized energy collapses (no separation)",
            f"AUROC {pct(au)}"
            + (f"; every score within {size:.1e} of 0 (rounding)" if size is not None else ""),
            "collapses to 0",
            abs(au - 0.5) < 0.02,
        )
    return markdown_table(["claim", "ours", "paper (CIFAR-10, WRN-40-2)", "holds here"], rows)


def render(res: dict, out: str | Path, command: str = "") -> Path:
    out = Path(out)
    ph, ft = res["posthoc"], res.get("finetune", {})
    sets = res["protocol"]["ood_sets"]
    id_err = res["id_test_error"]["pretrained"]
    secs = [
        (
            "Convention",
            convention_text(res["convention"])
            + f" OOD samples per draw: {res['protocol']['ood_num']}, from a pool of "
            + ", ".join(f"{k} {v}" for k, v in res["protocol"].get("ood_pool", {}).items())
            + "; "
            f"{res['protocol']['n_draws']} seeded draws, mean ± std over draws. "
            f"Auxiliary outliers (fine-tuning only): {', '.join(res['protocol']['aux'])} "
            "— disjoint from every OOD test set.",
        )
    ]
    if command:
        secs.append(command_section(command, res))
    secs.append(("Claims, ours vs the paper", _claims(res)))
    msp, en = _find(ph, "msp"), _find(ph, "energy")
    if msp and en:
        secs.append(
            (
                "Table 1 (left): pre-trained model, softmax score vs energy score",
                pair_table(
                    {"msp": ph[msp], "energy": ph[en]}, "msp", "energy", sets, (id_err, id_err)
                ),
            )
        )
    if "oe" in ft and "energy" in ft:
        secs.append(
            (
                "Table 1 (right): fine-tuned, Outlier Exposure (MSP) vs energy "
                "fine-tuning (energy score)",
                pair_table(
                    {
                        "OE": ft["oe"]["scores"]["msp"],
                        "energy fine-tune": ft["energy"]["scores"]["energy"],
                    },
                    "OE",
                    "energy fine-tune",
                    sets,
                    (ft["oe"]["test_error"], ft["energy"]["test_error"]),
                ),
            )
        )
    allm = dict(ph)
    errs = {m: id_err for m in ph}
    for m, r in ft.items():
        key = "OE fine-tune (msp)" if m == "oe" else f"{m} fine-tune (energy)"
        allm[key] = r["scores"]["msp" if m == "oe" else "energy"]
        errs[key] = r["test_error"]
    secs.append(("All methods, mean over OOD sets", methods_table(allm, errs)))
    secs.append(
        (
            "Paper numbers (CIFAR-10, WRN-40-2, mean of 6 OOD sets)",
            markdown_table(
                ["method", "FPR95", "AUROC", "AUPR", "ID error"],
                [[k, *(f"{v:.2f}" for v in vals)] for k, vals in PAPER.items()],
            ),
        )
    )
    for m in allm:
        secs.append((f"Per OOD set: {m}", per_set_table(allm[m], sets)))
    if ft:
        secs.append(
            (
                "Fine-tuning margins",
                "\n".join(
                    f"- {m}: {r['margins']['rule']}; m_in={r['config']['m_in']}, "
                    f"m_out={r['config']['m_out']}"
                    for m, r in ft.items()
                    if r.get("margins")
                ),
            )
        )
    plot_paths = _plots(res, out, sets)
    ts = res.get("temperature_sweep")
    if ts:
        secs.append(
            (
                "Temperature sweep (mean FPR95 over OOD sets)",
                markdown_table(
                    ["T", *map(str, ts["temperatures"])],
                    [["energy", *map(pct, ts["energy"])], ["msp", *map(pct, ts["msp"])]],
                ),
            )
        )
    ms = res.get("margin_sweep")
    if ms:
        rows = [[f"m_in={mi}"] + [pct(v) for v in row] for mi, row in zip(ms["m_in"], ms["fpr95"])]
        secs.append(
            (
                "Margin sweep (energy fine-tuning, mean FPR95; '-' where m_out <= m_in)",
                markdown_table(["", *(f"m_out={v}" for v in ms["m_out"])], rows),
            )
        )
        if ms.get("single_margin"):
            s = ms["single_margin"]
            secs.append(
                (
                    "Two margins vs one",
                    markdown_table(
                        ["objective", "FPR95", "ID error"],
                        [
                            [
                                "two margins (chosen)",
                                pct(s["two_margin_fpr95"]),
                                pct(s["two_margin_test_error"]),
                            ],
                            [
                                f"single margin m={s['margin']}",
                                pct(s["fpr95"]),
                                pct(s["test_error"]),
                            ],
                        ],
                    ),
                )
            )
    tim = res.get("timings", {})
    if tim:
        secs.append(
            (
                "Run time",
                markdown_table(["step", "seconds"], [[k, f"{v:.1f}"] for k, v in tim.items()]),
            )
        )
    clean = {k: v for k, v in res.items() if not k.startswith("_")}
    return write_report(out, res.get("title", "OOD benchmark"), secs, clean, plot_paths)


def _plots(res: dict, out: Path, sets: list[str]) -> list[Path]:
    raw = res.get("_raw", {})
    paths = []
    ph = raw.get("posthoc", {})
    msp, en = _find(ph, "msp"), _find(ph, "energy")
    if msp and en:
        for s in sets[:2]:
            paths.append(
                plots.score_histograms(
                    {
                        "softmax score": (ph[msp]["id"], ph[msp]["ood"][s]),
                        "negative energy": (ph[en]["id"], ph[en]["ood"][s]),
                    },
                    out / f"hist_{s}.png",
                    ood_name=s,
                    title=f"pre-trained, ID vs {s}",
                )
            )
        pooled = {
            m: (ph[m]["id"], np.concatenate(list(ph[m]["ood"].values())))
            for m in ph
            if "self_normalized" not in m
        }
        paths.append(
            plots.roc_curves(
                pooled, out / "roc_posthoc.png", "ROC, all OOD sets pooled (ID positive)"
            )
        )
    fr = raw.get("finetune", {})
    if "energy" in fr:
        e = fr["energy"]["energy"]
        paths.append(
            plots.score_histograms(
                {"negative energy": (e["id"], np.concatenate(list(e["ood"].values())))},
                out / "hist_energy_finetuned.png",
                ood_name="OOD (all sets)",
                title="energy fine-tuned",
            )
        )
    ts = res.get("temperature_sweep")
    if ts:
        paths.append(
            plots.fpr_vs_temperature(
                ts["temperatures"],
                {"energy": ts["energy"], "softmax": ts["msp"]},
                out / "fpr_vs_temperature.png",
            )
        )
    ms = res.get("margin_sweep")
    if ms:
        grid = np.array([[np.nan if v is None else 100 * v for v in row] for row in ms["fpr95"]])
        paths.append(plots.margin_heatmap(ms["m_in"], ms["m_out"], grid, out / "margins.png"))
    return paths
