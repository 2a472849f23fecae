"""Report folders: ``results.json`` (every number, the convention, seed, versions, data),
``report.md`` (tables laid out as the papers', percent with two decimals) and ``report.html``
(one page embedding the PNG plots)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from ..io.atomic_write import atomic_write_json, atomic_write_text
from ..metrics import convention


def convention_text(conv: dict | None = None) -> str:
    c = conv or convention()
    return (
        f"Scores are ID-ness (higher = in-distribution); {c['positive']} is the positive "
        f"class; FPR95 is the FPR at {100 * c['fpr_at_tpr']:g}% TPR ({c['fpr_rule']} "
        "operating point); AUROC counts ties one half; AUPR-In / AUPR-Out are average "
        "precision with ID / OOD positive. All values in percent."
    )


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
