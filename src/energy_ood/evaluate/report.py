"""Report folders: ``results.json`` (every number, the convention, seed, versions, data),
``report.md`` (tables laid out as the papers', percent with two decimals) and ``report.html``
(one page embedding the PNG plots)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from .._runinfo import atomic_write_json, atomic_write_text
from ..metrics import convention
from .tables import markdown_table, pct


def convention_text(conv: dict | None = None) -> str:
    c = conv or convention()
    return (
        f"Scores are ID-ness (higher = in-distribution); {c['positive']} is the positive "
        f"class; FPR95 is the FPR at {100 * c['fpr_at_tpr']:g}% TPR ({c['fpr_rule']} "
        "operating point); AUROC counts ties one half; AUPR-In / AUPR-Out are average "
        "precision with ID / OOD positive. All values in percent."
    )


def command_section(command: str, res: dict) -> tuple[str, str]:
    """("Command", the command line and its run time on this machine)."""
    t = res.get("timings", {}).get("total_s")
    took = f" — ran in {t / 60:.1f} min on this machine (2 CPU cores)" if t else ""
    return ("Command", f"`{command}`{took}")


def pair_table(
    results: dict,
    left: str,
    right: str,
    sets: list[str],
    id_error: tuple[float, float] | None = None,
) -> str:
    """The energy paper's Table 1 layout: one row per OOD set, cells 'left / right'.
    ``results[method][set]["mean"]`` holds the fractions."""
    headers = ["OOD set", "FPR95 ↓", "AUROC ↑", "AUPR-In ↑"]
    rows = []
    for s in [*sets, "mean"]:
        a, b = results[left][s]["mean"], results[right][s]["mean"]
        rows.append(
            [f"**{s}**" if s == "mean" else s]
            + [f"{pct(a[k])} / {pct(b[k])}" for k in ("fpr95", "auroc", "aupr_in")]
        )
    out = f"Cells: **{left} / {right}**.\n\n" + markdown_table(headers, rows)
    if id_error is not None:
        out += f"\n\nID test error: {pct(id_error[0])} / {pct(id_error[1])}"
    return out


def methods_table(results: dict, id_errors: dict | None = None) -> str:
    """One row per method: mean over OOD sets (± mean std over draws), ID test error."""
    headers = ["method", "FPR95 ↓", "AUROC ↑", "AUPR-In ↑", "AUPR-Out ↑", "ID error"]
    rows = []
    for m, r in results.items():
        mean, std = r["mean"]["mean"], r["mean"]["std"]
        rows.append(
            [m]
            + [pct(mean[k], std[k]) for k in ("fpr95", "auroc", "aupr_in", "aupr_out")]
            + [pct((id_errors or {}).get(m))]
        )
    return markdown_table(headers, rows)


def per_set_table(result: dict, sets: list[str]) -> str:
    headers = ["OOD set", "FPR95", "AUROC", "AUPR-In", "AUPR-Out"]
    rows = [
        [s]
        + [
            pct(result[s]["mean"][k], result[s]["std"][k])
            for k in ("fpr95", "auroc", "aupr_in", "aupr_out")
        ]
        for s in [*sets, "mean"]
    ]
    return markdown_table(headers, rows)


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
