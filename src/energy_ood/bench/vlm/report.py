"""Render the WordNet gloss benchmark: results.json, report.md / report.html and PNG plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...reporting import plots
from ...reporting.pages import convention_text, write_report
from ...reporting.tables import markdown_table
from ..report_sections import (
    claims_table,
    command_section,
    departures_table,
    provenance_section,
    seed_cell,
)
from ..stats import RULE, mean_std
from .results import DE, VLMResults

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


def _metric_table(res: VLMResults, labels, key: str, which: str = "scores") -> str:
    rows = [[lab] + [seed_cell(res.metric(s, lab, key, which)) for s in res.stages]
            for lab in labels]  # fmt: skip
    rows.append(["*closed-set accuracy*"] + [seed_cell(res.accuracy(s)) for s in res.stages])
    return markdown_table(["score", *res.stages], rows)


def _chosen_table(res: VLMResults, labels) -> str:
    rows = [[lab, res.params[lab]] + [", ".join(f"{v:g}" for v in res.chosen(s, lab))
                                      for s in res.stages] for lab in labels]  # fmt: skip
    return markdown_table(["score", "parameter", *(f"{s} (per split)" for s in res.stages)], rows)


def _per_split(res: VLMResults, labels) -> str:
    rows = []
    for i, sp in enumerate(res.splits):
        for stage in res.stages:
            sc = sp["stages"][stage]["scores"]
            best_f = min(labels, key=lambda k: sc[k]["fpr95"])
            best_a = max(labels, key=lambda k: sc[k]["auroc"])
            cells = []
            for other in ("Energy", "MCM"):
                if DE in sc and other in sc:
                    d = 100 * (sc[DE]["fpr95"] - sc[other]["fpr95"])
                    cells.append(f"{d:+.2f} ({'win' if d < 0 else 'loss' if d > 0 else 'tie'})")
                else:
                    cells.append("-")
            rows.append([str(i), stage, best_f, best_a, *cells])
    return markdown_table(
        [
            "split",
            "stage",
            "best FPR95",
            "best AUROC",
            "ΔFPR95 Delta-Energy − Energy",
            "ΔFPR95 Delta-Energy − MCM",
        ],
        rows,
    )


def _sweep_heatmap(res: VLMResults, stage: str, cs, floors, path) -> Path:
    import matplotlib.pyplot as plt

    grid = np.array([[100 * res.metric(stage, f"DeltaE(c={c},floor={f:g})", "auroc").mean()
                      for f in floors] for c in cs])  # fmt: skip
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


def _setup(res: VLMResults, command: str) -> str:
    """The setup paragraph: encoder, prompts, categories and splits, the validation rule, the
    convention, what is verified and what is reconstructed, the command and the machine."""
    cfg = res.run["config"]
    n, d = len(res.splits), cfg["data"]
    sp0 = res.splits[0]
    setup = (
        f"Encoder: {res.run['data']['encoder']}. Zero-shot prompts: "
        f"{', '.join(repr(t) for t in cfg['zeroshot']['templates'])}. "
        f"{len(res.run['data']['categories'])} WordNet noun categories with at least "
        f"{d['per_category']} distinct single-category glosses; {d['per_category']} glosses "
        f"each ({d['train_per_class']} for prompt tuning, {d['val_per_class']} validation, the "
        f"rest test). {n} seeded splits with {d['n_id']} ID categories; of the other "
        f"categories {len(sp0['val_ood_categories'])} are validation-OOD (all their glosses) and "
        f"{len(sp0['ood_categories'])} test-OOD (their test glosses); per split {sp0['n']}. "
        "Each score's temperature (MCM's tau, the others' logit scale) is chosen per split and "
        "stage on validation (lowest FPR95, then highest AUROC), never on test. Mean ± std "
        "over splits.\n\n" + convention_text(res.convention) + "\n\n" + RULE.replace(
            "seeds", "splits").replace("seed", "split") + "\n\n**Verified vs reconstruction.** "
        + res.reconstruction
    )  # fmt: skip
    t = res.timing_s
    setup += "\n\n" + command_section(command, t.get("total"), res.run.get("machine"))[1]
    rt = t.get("runtime") or {}
    where = f"; device {rt['device']}, {rt['threads']} threads" if rt else ""
    return setup + f" (encoding {t.get('encode', 0):.0f} s{where})."


def _sections(res: VLMResults, command: str, labels, sweep) -> list[tuple[str, str]]:
    splits_table = markdown_table(
        ["split", "ID categories", "validation-OOD categories"],
        [[str(i), ", ".join(c.split(".")[-1] for c in s["id_categories"]),
          ", ".join(c.split(".")[-1] for c in s["val_ood_categories"])]
         for i, s in enumerate(res.splits)],
    )  # fmt: skip
    return [
        provenance_section(res.run),
        ("What differs from the paper", departures_table(res.departures)),
        ("Setup", _setup(res, command)),
        ("Claims (paired over splits)", claims_table(res.claims, "splits")),
        ("FPR95 ↓ (%), temperatures chosen on validation", _metric_table(res, labels, "fpr95")),
        ("AUROC ↑ (%), temperatures chosen on validation", _metric_table(res, labels, "auroc")),
        ("AUPR-In ↑ (%)", _metric_table(res, labels, "aupr_in")),
        ("Temperatures chosen on validation", _chosen_table(res, labels + sweep)
         + "\n\nMCM at tau equals MSP at logit scale 1/tau; MaxLogit ranks the same at every "
         "scale."),
        ("At the published temperatures (tau = 1, logit scale = 100), for comparison: FPR95 ↓",
         _metric_table(res, labels, "fpr95", "default")),
        ("At the published temperatures: AUROC ↑", _metric_table(res, labels, "auroc", "default")),
        ("Delta-Energy sweep: AUROC ↑ (%)", _metric_table(res, sweep, "auroc")),
        ("Delta-Energy sweep: FPR95 ↓ (%)", _metric_table(res, sweep, "fpr95")),
        ("Per split: best scores and Delta-Energy's wins", _per_split(res, labels)),
        ("Notes", LIMITS + "\n\n" + VERIFIED),
        ("Splits", splits_table),
    ]  # fmt: skip


def _figures(res: VLMResults, out: Path, labels) -> list[Path]:
    first = res.splits[0]["stages"]
    examples = {st: v.get("example") for st, v in first.items() if v.get("example")}
    figs = [plots.per_class_bars(
        labels, {s: ([res.metric(s, lab, "auroc").mean() for lab in labels],
                     [mean_std(res.metric(s, lab, "auroc"))[1] or 0.0 for lab in labels])
                 for s in res.stages}, out / "auroc_by_score.png", ylabel="AUROC (%)")]  # fmt: skip
    if examples.get("zero-shot"):
        ex = examples["zero-shot"]
        panels = {k: (np.array(v["id"]), np.array(v["ood"])) for k, v in ex.items()}
        figs.append(
            plots.score_histograms(panels, out / "hist_zeroshot_split0.png", "held-out categories")
        )
    elif (out / "hist_zeroshot_split0.png").is_file():  # a re-render: the scores are not stored
        figs.append(out / "hist_zeroshot_split0.png")
    de = res.run["config"].get("delta_energy", {})
    if len(de.get("c", [])) * len(de.get("floor", [])) > 1:
        for s in res.stages:
            slug = s.lower().replace(" ", "_").replace("+", "_").replace("-", "")
            figs.append(_sweep_heatmap(res, s, de["c"], de["floor"], out / f"sweep_{slug}.png"))
    lc = _loss_curves(res.splits, out / "tuning_loss.png")
    if lc is not None:
        figs.append(lc)
    return figs


def render(res: VLMResults, out: str | Path, command: str = "") -> Path:
    out = Path(out)
    labels = [lab for lab in HEADLINE if lab in res.labels]
    sweep = [lab for lab in res.labels if lab.startswith("DeltaE(")]
    sections = _sections(res, command, labels, sweep)
    figs = _figures(res, out, labels)
    plain = res.to_plain()
    for sp in plain["splits"]:  # the example scores are plotted, not stored
        for st in sp["stages"].values():
            st.pop("example", None)
    return write_report(out, res.title, sections, plain, figs)
