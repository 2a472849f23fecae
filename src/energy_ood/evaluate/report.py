"""Report folders: ``results.json`` (every number, the convention, seed, versions, data),
``report.md`` (tables laid out as the papers', percent with two decimals) and ``report.html``
(one page embedding the PNG plots)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from ..io.atomic_write import atomic_write_json, atomic_write_text
from ..metrics import convention
from ..runtime.provenance import describe_machine
from .stats import mean_std
from .tables import markdown_table


def convention_text(conv: dict | None = None) -> str:
    c = conv or convention()
    return (
        f"Scores are ID-ness (higher = in-distribution); {c['positive']} is the positive "
        f"class; FPR95 is the FPR at {100 * c['fpr_at_tpr']:g}% TPR ({c['fpr_rule']} "
        "operating point); AUROC counts ties one half; AUPR-In / AUPR-Out are average "
        "precision with ID / OOD positive. All values in percent."
    )


def command_section(
    command: str, total_s: float | None = None, machine: dict | None = None, note: str = ""
):
    """("Command", the command line, its run time, the machine that ran it and a note on the
    timing, e.g. of a run that was interrupted and resumed)."""
    text = f"`{command}`" if command else "(run from Python)"
    if total_s:
        text += f" — ran in {total_s / 60:.1f} min"
    text += f" on {describe_machine(machine)}"
    if note:
        text += f" ({note})"
    return ("Command", text)


def seed_cell(values, scale: float = 100.0) -> str:
    """Mean ± sample std over seeds (just the mean for one seed), in percent by default."""
    vals = [v for v in values if v is not None]
    if not vals:
        return "-"
    m, s = mean_std(vals)
    return f"{scale * m:.2f}" if s is None else f"{scale * m:.2f} ± {scale * s:.2f}"


def departures_table(rows: list[list[str]]) -> str:
    return markdown_table(["", "paper", "this run"], rows)


def claims_table(claims, unit: str = "seeds") -> str:
    """One row per claim: ours (mean ± std over seeds), the paired difference with its 95%
    interval, the seeds won, the paper's numbers and the verdict."""
    rows = []
    for c in claims:
        v = c.verdict
        word = {"yes": "yes", "no": "**no**", "inconclusive": "inconclusive"}[v.verdict]
        rows.append([c.text, c.metric + (" ↓" if c.lower_is_better else " ↑"), c.ours(),
                     v.interval_text(), f"{v.wins}/{v.n}", c.paper, word])  # fmt: skip
    if not rows:
        return "No claim of the paper is tested by this configuration (its methods and stages)."
    return markdown_table(
        ["claim", "metric", "ours (claimed vs other)", "paired Δ [95% CI]", f"{unit} won",
         "paper", "holds here"], rows)  # fmt: skip


def write_report(
    out: str | Path,
    title: str,
    sections: list[tuple[str, str]],
    results: dict,
    plots: list[Path] | None = None,
) -> Path:
    """Write results.json, report.md and report.html into ``out``; returns report.md."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "results.json", results)
    md = [f"# {title}", ""]
    for head, body in sections:
        md += [f"## {head}" if head else "", "", body, ""]
    rel = [
        Path(p).relative_to(out) if Path(p).is_relative_to(out) else Path(p) for p in plots or []
    ]
    if rel:
        md += ["## Plots", ""] + [f"![{p.stem}]({p.as_posix()})" for p in rel] + [""]
    atomic_write_text(out / "report.md", "\n".join(md))
    atomic_write_text(out / "report.html", _html(title, sections, out, rel))
    return out / "report.md"


def _html(title: str, sections, out: Path, plots: list[Path]) -> str:
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "pre{background:#f6f6f6;padding:8px;overflow-x:auto}img{max-width:100%}</style>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for head, body in sections:
        parts.append(f"<h2>{html.escape(head)}</h2><pre>{html.escape(body)}</pre>")
    for p in plots:
        data = base64.b64encode((out / p).read_bytes()).decode()
        parts.append(f"<h3>{html.escape(p.stem)}</h3><img src='data:image/png;base64,{data}'>")
    return "\n".join(parts)
