"""Render a dataset-vs-dataset benchmark's typed results as report.md / report.html with plots.

The report opens with what differs from the paper, states the verdict rule, headlines the
natural-image OOD sets (none shares a family with the auxiliary outliers), and shows every
number as mean ± std over seeds, per OOD set as well as averaged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import plots
from .ood_claims import per_set_claims
from .report import (
    claims_table,
    command_section,
    convention_text,
    departures_table,
    seed_cell,
    write_report,
)
from .results import Evaluation, OODResults
from .stats import RULE, mean_std
from .tables import markdown_table

# SPEC section 5: CIFAR-10, WRN-40-2, mean of 6 OOD sets (FPR95 / AUROC / AUPR-In / ID error).
PAPER = {
    "msp": (51.04, 90.90, 97.92, 5.16),
    "energy": (33.01, 91.88, 97.83, 5.16),
    "odin": (35.71, 91.09, 97.62, 5.16),
    "mahalanobis": (37.08, 93.27, 98.49, 5.16),
    "oe": (8.53, 98.30, 99.63, 5.32),
    "energy fine-tune": (3.32, 98.92, 99.75, 4.87),
}
MODEL_NAMES = {"pretrained": "pretrained", "oe": "OE fine-tuned", "energy": "energy fine-tuned",
               "single-margin": "single-margin fine-tuned"}  # fmt: skip


def _name(e: Evaluation) -> str:
    return e.label if e.model == "pretrained" else f"{MODEL_NAMES[e.model]} ({e.label})"


def _mean_rows(res: OODResults, cells) -> list[list[str]]:
    """The two mean rows: natural-image sets (the headline) and every set."""
    rows = []
    if res.headline_sets:
        rows.append(["**mean, natural sets (headline)**", *cells(res.headline_sets)])
    if res.noise_sets and res.headline_sets:
        rows.append(["mean, all sets", *cells(res.ood_sets)])
    return rows


def pair_table(res: OODResults, left: Evaluation, right: Evaluation, errors) -> str:
    """The paper's Table 1 layout: per OOD set, cells 'left / right' (mean ± std over seeds)."""
    keys = ("fpr95", "auroc", "aupr_in")
    rows = [[s] + [f"{seed_cell(left.values(s, k))} / {seed_cell(right.values(s, k))}"
                   for k in keys] for s in res.ood_sets]  # fmt: skip

    def cells(sets):
        return [f"{seed_cell(left.mean_over(sets, k))} / {seed_cell(right.mean_over(sets, k))}"
                for k in keys]  # fmt: skip

    rows += _mean_rows(res, cells)
    out = f"Cells: **{_name(left)} / {_name(right)}**, mean ± std over {len(res.seeds)} seeds.\n\n"
    out += markdown_table(["OOD set", "FPR95 ↓", "AUROC ↑", "AUPR-In ↑"], rows)
    out += f"\n\nID test error: {seed_cell(errors[0])} / {seed_cell(errors[1])}"
    return out


def methods_table(res: OODResults) -> str:
    """One row per evaluation: headline mean over natural sets (spread over seeds), ID error."""
    sets = res.headline_sets or res.ood_sets
    rows = [[_name(e)] + [seed_cell(e.mean_over(sets, k)) for k in
             ("fpr95", "auroc", "aupr_in", "aupr_out")] + [seed_cell(res.id_error[e.model])]
            for e in res.evaluations]  # fmt: skip
    return markdown_table(["method", "FPR95 ↓", "AUROC ↑", "AUPR-In ↑", "AUPR-Out ↑", "ID error"],
                          rows)  # fmt: skip


def per_set_table(res: OODResults, e: Evaluation) -> str:
    keys = ("fpr95", "auroc", "aupr_in", "aupr_out")
    rows = [[s] + [seed_cell(e.values(s, k)) for k in keys] for s in res.ood_sets]
    rows += _mean_rows(res, lambda sets: [seed_cell(e.mean_over(sets, k)) for k in keys])
    return markdown_table(["OOD set", "FPR95", "AUROC", "AUPR-In", "AUPR-Out"], rows)


def _per_set_verdicts(res: OODResults) -> str:
    def f(c):
        if c is None:
            return "-"
        return f"{c.ours()}; {c.verdict.interval_text()}; **{c.verdict.verdict}**"

    rows = [[s, res.sources[s]["family"], f(a), f(b)] for s, a, b in per_set_claims(res)]
    return markdown_table(["OOD set", "family", "energy beats softmax (pretrained), FPR95",
                           "energy fine-tuning beats OE, FPR95"], rows)  # fmt: skip


def _role(res: OODResults, name: str) -> str:
    if name in res.aux:
        return "auxiliary (fine-tuning only)"
    if res.margin_sweep is not None and name in res.margin_sweep.val_sets:
        return "margin validation only"
    return "OOD test, headline" if name in res.headline_sets else "OOD test (noise)"


def _left_out(s: dict) -> str:
    """How many pictures of ID classes were left out of an outlier source, per reason (the
    pictures are named in results.json, sources.<name>.left_out)."""
    counts: dict[str, int] = {}
    for reason in (s.get("left_out") or {}).values():
        counts[reason] = counts.get(reason, 0) + 1
    return "; ".join(f"{r}: {k}" for r, k in sorted(counts.items())) or "-"


def _val_outliers(ms) -> str:
    if ms.val_sets:
        return f"{', '.join(ms.val_sets)} (of neither the training outliers' family nor a test's)"
    return (
        "held-out auxiliary outliers (the training outliers' family; results written before "
        "data.margin_val)"
    )


def _sources(res: OODResults) -> str:
    rows = [[name, _role(res, name), s["family"], s["content"], s["origin"], s["licence"],
             _left_out(s)] for name, s in res.sources.items()]  # fmt: skip
    return markdown_table(["source", "role", "family", "content", "ships in", "licence",
                           "left out (ID classes)"], rows)  # fmt: skip


def _noise_section(res: OODResults) -> str:
    nz = res.noise
    en = res.find("pretrained", "energy", T=1.0)
    rows = []
    for i, seed in enumerate(res.seeds):
        st = nz["per_seed"][i]
        for s in nz["sets"]:
            fpr = f"{100 * en.per_seed[i][s]['fpr95']:.2f}" if en else "-"
            a, b = st["id"], st[s]
            rows.append([str(seed), s, fpr, f"{a['median_logit_norm']:.2f}",
                         f"{b['median_logit_norm']:.2f}", f"{a['median_neg_energy']:.2f}",
                         f"{b['median_neg_energy']:.2f}",
                         f"{st['spearman_norm_vs_neg_energy']:.3f}"])  # fmt: skip
    text = markdown_table(["seed", "noise set", "energy FPR95", "median ‖f‖ ID",
                           "median ‖f‖ noise", "median -E ID", "median -E noise",
                           "Spearman(‖f‖, -E)"], rows)  # fmt: skip
    text += (
        "\n\nThe energy score -E = logsumexp(f) is at least the largest logit and grows with "
        "the logit norm (rank correlation in the last column). Where the network maps noise "
        "to logits of larger norm than ID images, -E ranks noise above ID and FPR95 on noise "
        "is high; where noise logits stay small, energy separates noise easily. Which one "
        "happens depends on the trained instance, so it changes from seed to seed (rows "
        "above); the plot shows the first seed."
    )
    return text


def render(res: OODResults, out: str | Path, command: str = "") -> Path:
    out = Path(out)
    n = len(res.seeds)
    head = res.headline_sets
    secs = [
        ("What differs from the paper", departures_table(res.departures)),
        ("Convention",
         convention_text(res.convention) + f" OOD samples per draw: {res.protocol['ood_num']}, "
         f"from a pool per set; {res.protocol['n_draws']} seeded draws per seed, averaged. "
         f"{n} seed{'s' * (n != 1)}: every number is mean ± sample std over seeds.\n\n" + RULE),
        ("Data: families and licences",
         "Headline = mean over the natural-image OOD sets (" + ", ".join(head) + "): none "
         "shares a family (the same distribution: one data set, one package's pictures) with "
         "the auxiliary outliers, which the benchmark refuses.\n\n" + _sources(res)),
        command_section(command, res.timings.get("total_s"), res.run.get("machine")),
        ("Claims, ours vs the paper", claims_table(res.claims)),
    ]  # fmt: skip
    if res.warning:
        secs.insert(0, ("Warning", res.warning))
    msp, en = res.find("pretrained", "msp", T=1.0), res.find("pretrained", "energy", T=1.0)
    err = res.id_error
    if msp and en:
        secs.append(
            (
                "Table 1 (left): pre-trained model, softmax score vs energy score",
                pair_table(res, msp, en, (err["pretrained"], err["pretrained"])),
            )
        )
    oe, ef = res.find("oe", "msp"), res.find("energy", "energy")
    if oe and ef:
        secs.append(
            (
                "Table 1 (right): Outlier Exposure (softmax score) vs energy fine-tuning "
                "(energy score)",
                pair_table(res, oe, ef, (err["oe"], err["energy"])),
            )
        )
    secs.append(("Per OOD set: paired verdicts", _per_set_verdicts(res)))
    secs.append(("All methods, mean over the natural-image OOD sets", methods_table(res)))
    secs.append(
        (
            "Paper numbers (CIFAR-10, WRN-40-2, mean of 6 OOD sets)",
            markdown_table(
                ["method", "FPR95", "AUROC", "AUPR", "ID error"],
                [[k, *(f"{v:.2f}" for v in vals)] for k, vals in PAPER.items()],
            ),
        )
    )
    if res.noise:
        secs.append(("Noise: why energy fails on noise when it does", _noise_section(res)))
    ts = res.temperature_sweep
    if ts:
        secs.append(
            (
                "Temperature sweep (mean FPR95 over the natural sets)",
                markdown_table(
                    ["T", *(f"{t:g}" for t in ts.temperatures)],
                    [
                        ["energy", *(seed_cell(c) for c in np.array(ts.energy_fpr95).T)],
                        ["msp", *(seed_cell(c) for c in np.array(ts.msp_fpr95).T)],
                    ],
                ),
            )
        )
    ms = res.margin_sweep
    if ms:
        rows = [
            [
                f"{p.offset[0]:+g} / {p.offset[1]:+g}",
                f"{p.m_in:g}",
                f"{p.m_out:g}",
                f"{p.m_out - p.m_in:.2f}",
                f"{100 * p.val_fpr95:.2f}",
                "-" if p.val_auroc is None else f"{100 * p.val_auroc:.2f}",
                f"{100 * p.val_error:.2f}",
                f"{100 * p.test_fpr95:.2f}",
                f"{100 * p.test_error:.2f}",
                "**chosen**" if i == ms.chosen else "",
            ]
            for i, p in enumerate(ms.points)
        ]
        secs.append(
            (
                f"Margin sweep (energy fine-tuning, seed {ms.seed}, epochs: {ms.epochs})",
                f"Offsets added to the data-chosen margins ({ms.base['rule']}). Rule: "
                f"{ms.rule}; validation outliers: {_val_outliers(ms)}. Here "
                f"{ms.choice_text()}. Test numbers are shown, never used.\n\n"
                + markdown_table(
                    [
                        "offset (m_in / m_out)",
                        "m_in",
                        "m_out",
                        "gap",
                        "val FPR95",
                        "val AUROC",
                        "val error",
                        "test FPR95",
                        "test error",
                        "",
                    ],
                    rows,
                ),
            )
        )
    used = {m: v for m, v in res.margins.items() if any(v)}
    if used:
        lines = [f"- {m}, seed {seed}: " + ", ".join(f"{k} = {v}" for k, v in mm.items()
                 if k != "base") for m, per in used.items() for seed, mm in zip(res.seeds, per)
                 if mm]  # fmt: skip
        secs.append(("Margins used", "\n".join(lines)))
    tim = res.timings
    secs.append(
        (
            "Run time",
            markdown_table(
                ["step", "seconds"],
                [
                    *(
                        [f"seed {s}", f"{t:.1f}"]
                        for s, t in zip(res.seeds, tim.get("per_seed_s", []))
                    ),
                    *(
                        [f"seed {s}: {k[:-2].replace('_', ' ')}", f"{v:.1f}"]
                        for s, st in zip(res.seeds, tim.get("stages", []))
                        for k, v in st.items()
                    ),
                    ["total", f"{tim.get('total_s', 0):.1f}"],
                ],
            ),
        )
    )
    if tim.get("speed"):
        secs.append(("Training speed", speed_table(res.seeds, tim["speed"])))
    return write_report(out, res.title, secs, res.to_plain(), _plots(res, out))


def speed_table(seeds: list, per_seed: list[dict]) -> str:
    """Per seed and training stage: images/s and step-time percentiles (median over epochs;
    on CUDA from device events, so the host never waits on a step)."""
    rows = []
    for seed, stages in zip(seeds, per_seed):
        for stage, sp in stages.items():
            if sp:
                rows.append([f"seed {seed}: {stage}", f"{sp['images_per_s']:.0f}",
                             *(f"{sp.get(k, float('nan')):.1f}" for k in
                               ("step_ms_p50", "step_ms_p90", "step_ms_p99"))])  # fmt: skip
    return markdown_table(["stage", "images/s", "step ms p50", "p90", "p99"], rows)


def _plots(res: OODResults, out: Path) -> list[Path]:
    raw, paths = res.raw or {}, []
    picks = [e for e in (res.find("pretrained", "msp", T=1.0), res.find("pretrained", "energy",
             T=1.0), res.find("oe", "msp"), res.find("energy", "energy")) if e]  # fmt: skip
    if picks:
        series = {}
        for e in picks:
            vals = [[100 * v for v in e.values(s, "fpr95")] for s in res.ood_sets]
            series[_name(e)] = (
                [np.mean(v) / 100 for v in vals],
                [(mean_std(v)[1] or 0.0) / 100 for v in vals],
            )
        paths.append(plots.per_class_bars(res.ood_sets, series, out / "fpr95_per_set.png",
                                          ylabel="FPR95 (%), mean ± std over seeds"))  # fmt: skip
    ph = raw.get("posthoc", {})
    msp, en = res.find("pretrained", "msp", T=1.0), res.find("pretrained", "energy", T=1.0)
    if msp and en and msp.label in ph and en.label in ph:
        for s in res.headline_sets[:2]:
            paths.append(
                plots.score_histograms(
                    {
                        "softmax score": (ph[msp.label]["id"], ph[msp.label]["ood"][s]),
                        "negative energy": (ph[en.label]["id"], ph[en.label]["ood"][s]),
                    },
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
    fr = raw.get("finetune", {}).get("energy", {}).get("energy")
    if fr and res.headline_sets:
        paths.append(
            plots.score_histograms(
                {
                    "negative energy": (
                        fr["id"],
                        np.concatenate([fr["ood"][s] for s in res.headline_sets]),
                    )
                },
                out / "hist_energy_finetuned.png",
                ood_name="natural OOD sets",
                title="energy fine-tuned (first seed)",
            )
        )
    if raw.get("noise"):
        paths.append(
            plots.noise_panels(
                raw["noise"],
                out / "noise_energy_and_norm.png",
                "pre-trained, ID vs noise (first seed)",
            )
        )
    ts = res.temperature_sweep
    if ts:
        paths.append(plots.fpr_vs_temperature(ts.temperatures, {"energy": ts.energy_fpr95,
                     "softmax": ts.msp_fpr95}, out / "fpr_vs_temperature.png"))  # fmt: skip
    ms = res.margin_sweep
    if ms:
        paths.append(
            plots.margin_sweep(
                [f"({p.m_in:g}, {p.m_out:g})" for p in ms.points],
                [p.val_fpr95 for p in ms.points],
                [p.test_fpr95 for p in ms.points],
                ms.chosen,
                out / "margins.png",
            )
        )
    return paths
