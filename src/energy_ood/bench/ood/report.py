"""Render a dataset-vs-dataset benchmark's typed results as report.md / report.html with plots.

The report opens with what differs from the paper, states the verdict rule, headlines the
natural-image OOD sets (with the families recorded for them and the auxiliary outliers), and
shows every number as mean ± std over seeds, per OOD set as well as averaged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...data.id_classes import id_class_table
from ...reporting.pages import convention_text, write_report
from ...reporting.tables import markdown_table
from ..evaluation import Evaluation
from ..report_sections import (
    claims_table,
    command_section,
    departures_table,
    provenance_section,
    seed_cell,
    speed_table,
)
from ..stats import RULE
from .claims import per_set_claims
from .disclosure import departures
from .family_text import headline_family_text, val_outliers_text
from .noise_text import noise_sentences
from .report_plots import report_plots
from .results import OODResults

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


def _kept_id_classes(res: OODResults, name: str) -> str:
    """An OOD test set is a fixed picture list: pictures of an ID class in it stay (and are
    said here), where an outlier source leaves them out."""
    if not _role(res, name).startswith("OOD test"):
        return ""
    reasons = id_class_table(res.protocol.get("id_dataset") or "").get(name, {})
    return "; ".join(f"kept in this test set: {r}" for r in reasons)


def _sources(res: OODResults) -> str:
    rows = [[name, _role(res, name), s["family"], s["content"], s["origin"], s["licence"],
             _kept_id_classes(res, name) or _left_out(s)]
            for name, s in res.sources.items()]  # fmt: skip
    return markdown_table(["source", "role", "family", "content", "ships in", "licence",
                           "ID-class pictures"], rows)  # fmt: skip


def _noise_section(res: OODResults) -> str:
    nz = res.noise
    en = res.find("pretrained", "energy", T=1.0)
    rows, facts = [], []
    for i, seed in enumerate(res.seeds):
        st = nz["per_seed"][i]
        for s in nz["sets"]:
            fpr = en.per_seed[i][s]["fpr95"] if en else None
            a, b = st["id"], st[s]
            facts.append({"fpr": fpr, "id": a, "noise": b})
            rows.append([str(seed), s, "-" if fpr is None else f"{100 * fpr:.2f}",
                         f"{a['median_logit_norm']:.2f}", f"{b['median_logit_norm']:.2f}",
                         f"{a['median_neg_energy']:.2f}", f"{b['median_neg_energy']:.2f}",
                         f"{st['spearman_norm_vs_neg_energy']:.3f}"])  # fmt: skip
    text = markdown_table(["seed", "noise set", "energy FPR95", "median ‖f‖ ID",
                           "median ‖f‖ noise", "median -E ID", "median -E noise",
                           "Spearman(‖f‖, -E)"], rows)  # fmt: skip
    spearman = [st["spearman_norm_vs_neg_energy"] for st in nz["per_seed"]]
    return text + "\n\n" + noise_sentences(facts, spearman)


def _opening(res: OODResults, command: str) -> list[tuple[str, str]]:
    """The gate's warning (if any), what differs from the paper, the convention, the data and
    its families, the command and the claims."""
    n = len(res.seeds)
    secs = [
        provenance_section(res.run),
        ("What differs from the paper", departures_table(res.departures)),
        ("Convention",
         convention_text(res.convention) + f" OOD samples per draw: {res.protocol['ood_num']}, "
         f"from a pool per set; {res.protocol['n_draws']} seeded draws per seed, averaged. "
         f"{n} seed{'s' * (n != 1)}: every number is mean ± sample std over seeds.\n\n" + RULE),
        ("Data: families and licences",
         headline_family_text(res) + " A family is one distribution: one data set, one "
         "package's pictures.\n\n" + _sources(res)),
        command_section(command, res.timings.get("total_s"), res.run.get("machine")),
        ("Claims, ours vs the paper", claims_table(res.claims)),
    ]  # fmt: skip
    if res.warning:
        secs.insert(0, ("Warning", res.warning))
    return secs


# Each paper row's counterpart here: (model, scorer, params), None where this run has none.
PAPER_MATCH = {"msp": ("pretrained", "msp", {"T": 1.0}),
               "energy": ("pretrained", "energy", {"T": 1.0}),
               "odin": ("pretrained", "odin", {}), "mahalanobis": ("pretrained", "mahalanobis", {}),
               "oe": ("oe", "msp", {}), "energy fine-tune": ("energy", "energy", {})}  # fmt: skip


def paper_table(res: OODResults) -> str:
    """SPEC section 5's rows with this run's counterpart beside each number: the headline mean
    (mean ± std over seeds), '-' where this run did not evaluate it."""
    sets = res.headline_sets or res.ood_sets
    rows = []
    for name, paper in PAPER.items():
        model, scorer, params = PAPER_MATCH[name]
        e = res.find(model, scorer, **params)
        ours = ["-"] * 4
        if e is not None:
            ours = [seed_cell(e.mean_over(sets, k)) for k in ("fpr95", "auroc", "aupr_in")]
            ours.append(seed_cell(res.id_error[model]))
        rows.append([name] + [c for pair in zip((f"{v:.2f}" for v in paper), ours) for c in pair])
    head = ["method"] + [f"{w} {m}" for m in ("FPR95 ↓", "AUROC ↑", "AUPR-In ↑", "ID error")
                         for w in ("paper", "ours")]  # fmt: skip
    return (
        f"Ours: mean over {', '.join(sets)} ({len(res.seeds)} seeds); the paper's over its six "
        "OOD sets with a WRN-40-2 (what else differs: the table at the top).\n\n"
        + markdown_table(head, rows)
    )


def _table1(res: OODResults) -> list[tuple[str, str]]:
    """The paper's Table 1: softmax vs energy score (pretrained), OE vs energy fine-tuning."""
    secs, err = [], res.id_error
    msp, en = res.find("pretrained", "msp", T=1.0), res.find("pretrained", "energy", T=1.0)
    if msp and en:
        secs.append(("Table 1 (left): pre-trained model, softmax score vs energy score",
                     pair_table(res, msp, en, (err["pretrained"], err["pretrained"]))))  # fmt: skip
    oe, ef = res.find("oe", "msp"), res.find("energy", "energy")
    if oe and ef:
        secs.append(
            (
                "Table 1 (right): Outlier Exposure (softmax score) vs energy fine-tuning "
                "(energy score)",
                pair_table(res, oe, ef, (err["oe"], err["energy"])),
            )
        )
    return secs


def _temperature_table(ts) -> str:
    return markdown_table(
        ["T", *(f"{t:g}" for t in ts.temperatures)],
        [
            ["energy", *(seed_cell(c) for c in np.array(ts.energy_fpr95).T)],
            ["msp", *(seed_cell(c) for c in np.array(ts.msp_fpr95).T)],
        ],
    )


MARGIN_HEADERS = ["offset (m_in / m_out)", "m_in", "m_out", "gap", "val FPR95", "val AUROC",
                  "val error", "test FPR95", "test error", ""]  # fmt: skip


def _margin_sweep_section(res: OODResults) -> tuple[str, str]:
    ms = res.margin_sweep
    rows = [
        [f"{p.offset[0]:+g} / {p.offset[1]:+g}", f"{p.m_in:g}", f"{p.m_out:g}",
         f"{p.m_out - p.m_in:.2f}", f"{100 * p.val_fpr95:.2f}",
         "-" if p.val_auroc is None else f"{100 * p.val_auroc:.2f}", f"{100 * p.val_error:.2f}",
         f"{100 * p.test_fpr95:.2f}", f"{100 * p.test_error:.2f}",
         "**chosen**" if i == ms.chosen else ""]
        for i, p in enumerate(ms.points)
    ]  # fmt: skip
    return (
        f"Margin sweep (energy fine-tuning, seed {ms.seed}, epochs: {ms.epochs})",
        f"Offsets added to the data-chosen margins ({ms.base['rule']}). Rule: "
        f"{ms.rule}; validation outliers: {val_outliers_text(res)}. Here "
        f"{ms.choice_text()}. Test numbers are shown, never used.\n\n"
        + markdown_table(MARGIN_HEADERS, rows),
    )


def _margins_used(res: OODResults) -> list[tuple[str, str]]:
    used = {m: v for m, v in res.margins.items() if any(v)}
    if not used:
        return []
    lines = [f"- {m}, seed {seed}: " + ", ".join(f"{k} = {v}" for k, v in mm.items()
             if k != "base") for m, per in used.items() for seed, mm in zip(res.seeds, per)
             if mm]  # fmt: skip
    return [("Margins used", "\n".join(lines))]


def _run_time(res: OODResults) -> tuple[str, str]:
    tim = res.timings
    rows = [[f"seed {s}", f"{t:.1f}"] for s, t in zip(res.seeds, tim.get("per_seed_s", []))]
    rows += [[f"seed {s}: {k[:-2].replace('_', ' ')}", f"{v:.1f}"]
             for s, st in zip(res.seeds, tim.get("stages", [])) for k, v in st.items()]  # fmt: skip
    rows.append(["total", f"{tim.get('total_s', 0):.1f}"])
    return ("Run time", markdown_table(["step", "seconds"], rows))


def render(res: OODResults, out: str | Path, command: str = "") -> Path:
    out = Path(out)
    res.departures = departures(res)  # from the records, so a re-render refreshes it
    secs = _opening(res, command) + _table1(res)
    secs.append(("Per OOD set: paired verdicts", _per_set_verdicts(res)))
    secs.append(("All methods, mean over the natural-image OOD sets", methods_table(res)))
    secs.append(("The paper's numbers (CIFAR-10, WRN-40-2) beside this run's",
                 paper_table(res)))  # fmt: skip
    if res.noise:
        secs.append(
            ("Noise sets: logit norm, -E and FPR95 of the energy score", _noise_section(res))
        )
    if res.temperature_sweep:
        secs.append(("Temperature sweep (mean FPR95 over the natural sets)",
                     _temperature_table(res.temperature_sweep)))  # fmt: skip
    if res.margin_sweep:
        secs.append(_margin_sweep_section(res))
    secs += _margins_used(res)
    secs.append(_run_time(res))
    if res.timings.get("speed"):
        secs.append(("Training speed", speed_table(res.seeds, res.timings["speed"])))
    return write_report(out, res.title, secs, res.to_plain(), report_plots(res, out, _name))
