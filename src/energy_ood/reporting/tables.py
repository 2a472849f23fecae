"""Plain-text / markdown tables of metric results (percent with two decimals)."""

from __future__ import annotations

METRIC_COLUMNS = (
    ("fpr95", "FPR95"),
    ("auroc", "AUROC"),
    ("aupr_in", "AUPR-In"),
    ("aupr_out", "AUPR-Out"),
)


def pct(v: float | None, std: float | None = None) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.2f}" if std is None else f"{100 * v:.2f} ± {100 * std:.2f}"


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(str(h)), *(len(str(r[i])) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def metrics_table(
    results: dict[str, dict], first_col: str = "OOD set", std: dict[str, dict] | None = None
) -> str:
    """One row per entry of ``results`` ({name: {fpr95, auroc, aupr_in, aupr_out}})."""
    headers = [first_col] + [label for _, label in METRIC_COLUMNS]
    rows = []
    for name, m in results.items():
        s = (std or {}).get(name, {})
        rows.append([name] + [pct(m.get(k), s.get(k)) for k, _ in METRIC_COLUMNS])
    return markdown_table(headers, rows)


def mean_row(results: dict[str, dict]) -> dict[str, float]:
    keys = [k for k, _ in METRIC_COLUMNS]
    return {k: sum(r[k] for r in results.values()) / len(results) for k in keys}
