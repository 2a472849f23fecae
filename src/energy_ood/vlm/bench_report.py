"""Render the WordNet gloss benchmark: results.json, report.md / report.html and PNG plots."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from ..evaluate import plots
from ..evaluate.report import convention_text, write_report
from ..evaluate.tables import markdown_table, pct

HEADLINE = ("MCM", "MSP", "MaxLogit", "Energy", "DeltaE(c=1,floor=0)")
LIMITS = (
    "Two limits explain the sweep. With the floor far below every similarity (floor = -1) the "
    "cropped energy keeps only the other classes, and Delta-Energy = -tau log(1 - p_max), p_max "
    "the largest softmax probability of the CLIP logits: a monotone function of MSP, so it "
    "ranks inputs as MSP does (it even separates the rows where MSP rounds to 1.0 in float32). "
    "With the floor above every similarity the floor term dominates the cropped energy and "
    "Delta-Energy ranks inputs as the energy score does."
)
VERIFIED = (
    "Reference (not comparable, images): MCM zero-shot on ImageNet-1k with CLIP ViT-B/16, "
    "average FPR95 42.74, AUROC 90.77 over iNaturalist, SUN, Places, Textures."
)


def _save(fig, path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def _cell(summary: dict, stage: str, label: str, key: str) -> str:
    m = summary[stage]["scores"][label]
    return pct(m["mean"][key], m["std"][key])


def _metric_table(summary: dict, labels, key: str) -> str:
    stages = list(summary)
    rows = [[lab] + [_cell(summary, s, lab, key) for s in stages] for lab in labels]
    rows.append(
        ["*closed-set accuracy*"]
        + [pct(summary[s]["accuracy"]["mean"], summary[s]["accuracy"]["std"]) for s in stages]
    )
    return markdown_table(["score", *stages], rows)


def _best(summary: dict, stage: str, labels, key: str, low: bool) -> str:
    vals = {lab: summary[stage]["scores"][lab]["mean"][key] for lab in labels}
    return (min if low else max)(vals, key=vals.get)


def _verdict(summary: dict, labels) -> str:
    de = "DeltaE(c=1,floor=0)"
    lines = []
    for s in summary:
        sc = summary[s]["scores"]
        a = {k: sc[k]["mean"]["auroc"] for k in ("MCM", "Energy", de)}
        f = {k: sc[k]["mean"]["fpr95"] for k in ("MCM", "Energy", de)}
        beats = [k for k in ("Energy", "MCM") if a[de] > a[k] and f[de] < f[k]]
        worse = [k for k in ("Energy", "MCM") if a[de] < a[k] and f[de] > f[k]]
        verdict = (
            f"beats {' and '.join(beats)} on both FPR95 and AUROC"
            if beats
            else "does not beat Energy or MCM on both metrics"
        )
        if worse:
            verdict += f"; it is worse than {' and '.join(worse)} on both"
        lines.append(
            f"* **{s}**: Delta-Energy (c=1, floor=0) {verdict} (AUROC {pct(a[de])} vs energy "
            f"{pct(a['Energy'])}, MCM {pct(a['MCM'])}). Best AUROC: "
            f"{_best(summary, s, labels, 'auroc', False)}; best FPR95: "
            f"{_best(summary, s, labels, 'fpr95', True)}."
        )
    return "\n".join(lines)


def _sweep_heatmap(summary: dict, stage: str, cs, floors, path) -> Path:
    import matplotlib.pyplot as plt

    grid = np.array(
        [
            [
                100 * summary[stage]["scores"][f"DeltaE(c={c},floor={f:g})"]["mean"]["auroc"]
                for f in floors
            ]
            for c in cs
        ]
    )
    fig, ax = plt.subplots(figsize=(1.3 * len(floors) + 2.6, 0.9 * len(cs) + 1.8))
    im = ax.imshow(grid, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(floors)), [f"{f:g}" for f in floors])
    ax.set_yticks(range(len(cs)), [str(c) for c in cs])
    ax.set_xlabel("floor")
    ax.set_ylabel("crop count c")
    ax.set_title(f"Delta-Energy AUROC (%), {stage}")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", color="w", fontsize=9)
    fig.colorbar(im, ax=ax)
    return _save(fig, path)


def _loss_curves(splits: list[dict], path) -> Path | None:
    import matplotlib.pyplot as plt

    losses = list(splits[0]["history"])
    if not losses:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for loss in losses:
        for key, ls in (("ce", "-"), ("ebm", ":")):
            curves = np.array([s["history"][loss][key] for s in splits])
            if key == "ebm" and not curves.any():
                continue
            ep = np.arange(1, curves.shape[1] + 1)
            ax.plot(ep, curves.mean(0), ls, marker="o", ms=3, label=f"{loss}: {key} term")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (mean over splits)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def render(res: dict, out: str | Path, command: str = "", run_time_s: float | None = None) -> Path:
    out = Path(out)
    res = copy.deepcopy(res)
    examples = {
        s: st.pop("example") for s, st in res["splits"][0]["stages"].items() if "example" in st
    }
    summary, splits, cfg = res["summary"], res["splits"], res["run"]["config"]
    first = next(iter(summary.values()))["scores"]
    labels = [lab for lab in HEADLINE if lab in first]
    sweep = [lab for lab in first if lab.startswith("DeltaE(")]
    n = len(splits)
    d = cfg["data"]
    de = cfg.get("delta_energy", {})
    setup = (
        f"Encoder: {res['run']['data']['encoder']}. Zero-shot prompts: "
        f"{', '.join(repr(t) for t in cfg['zeroshot']['templates'])}. "
        f"{len(res['run']['data']['categories'])} WordNet noun categories with at least "
        f"{d['per_category']} distinct single-category glosses; {d['per_category']} glosses "
        f"each ({d['train_per_class']} for prompt tuning, the rest for testing). {n} seeded "
        f"splits with {d['n_id']} ID categories; the other categories' test glosses are the "
        f"semantic OOD set (per split: {splits[0]['n']}). Mean ± std over splits.\n\n"
        + convention_text(res["convention"])
        + "\n\n**Verified vs reconstruction.** "
        + res["reconstruction"]
    )
    if command:
        setup += f"\n\nCommand: `{command}`"
    if run_time_s is not None:
        setup += f"  \nRun time: {run_time_s:.0f} s (encoding {res['timing_s']['encode']:.0f} s)."
    per_split = markdown_table(
        ["split", "ID categories"],
        [
            [str(i), ", ".join(c.split(".")[-1] for c in s["id_categories"])]
            for i, s in enumerate(splits)
        ],
    )
    sections = [
        ("Setup", setup),
        ("FPR95 ↓ (%)", _metric_table(summary, labels, "fpr95")),
        ("AUROC ↑ (%)", _metric_table(summary, labels, "auroc")),
        ("AUPR-In ↑ (%)", _metric_table(summary, labels, "aupr_in")),
        ("Delta-Energy sweep: AUROC ↑ (%)", _metric_table(summary, sweep, "auroc")),
        ("Delta-Energy sweep: FPR95 ↓ (%)", _metric_table(summary, sweep, "fpr95")),
        ("Verdict", _verdict(summary, labels) + "\n\n" + LIMITS + "\n\n" + VERIFIED),
        ("Splits", per_split),
    ]
    figs = []
    stages = list(summary)
    figs.append(
        plots.per_class_bars(
            labels,
            {s: ([summary[s]["scores"][lab]["mean"]["auroc"] for lab in labels],
                 [summary[s]["scores"][lab]["std"]["auroc"] for lab in labels]) for s in stages},
            out / "auroc_by_score.png",
            ylabel="AUROC (%)",
        )
    )  # fmt: skip
    if examples.get("zero-shot"):
        ex = examples["zero-shot"]
        panels = {k: (np.array(v["id"]), np.array(v["ood"])) for k, v in ex.items()}
        figs.append(
            plots.score_histograms(panels, out / "hist_zeroshot_split0.png", "held-out categories")
        )
    if de.get("c") and de.get("floor"):
        for s in stages:
            slug = s.lower().replace(" ", "_").replace("+", "_").replace("-", "")
            figs.append(_sweep_heatmap(summary, s, de["c"], de["floor"], out / f"sweep_{slug}.png"))
    lc = _loss_curves(splits, out / "tuning_loss.png")
    if lc is not None:
        figs.append(lc)
    if run_time_s is not None:
        res["timing_s"]["wall_incl_report"] = run_time_s
    return write_report(out, res["title"], sections, res, figs)
