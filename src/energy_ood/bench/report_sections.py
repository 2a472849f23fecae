"""Sections and cells every protocol's report shares: the command and machine, a mean ± std
over seeds cell, the table of departures from the paper and the table of claims with their
verdicts."""

from __future__ import annotations

from ..reporting.tables import markdown_table
from ..runtime.provenance import describe_machine
from .stats import mean_std


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


def provenance_section(run: dict) -> tuple[str, str]:
    """("Provenance", what measured the numbers and when), from the run record."""
    if not run.get("command") and not run.get("started"):
        return ("Provenance", "The run record of these numbers is not recorded.")
    version = (run.get("versions") or {}).get("energy_ood", "not recorded")
    return ("Provenance", f"Numbers measured by `{run.get('command') or '(run from Python)'}` "
            f"(energy_ood {version}), started {run.get('started') or 'not recorded'}; this page "
            "is rendered from its results.json.")  # fmt: skip


def seed_cell(values, scale: float = 100.0) -> str:
    """Mean ± sample std over seeds (just the mean for one seed), in percent by default."""
    vals = [v for v in values if v is not None]
    if not vals:
        return "-"
    m, s = mean_std(vals)
    return f"{scale * m:.2f}" if s is None else f"{scale * m:.2f} ± {scale * s:.2f}"


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
