"""Render the walk-through benchmark: README's table per seed and over seeds, the paired verdict
of fine-tuning, and the command lines per seed."""

from __future__ import annotations

from pathlib import Path

from ...reporting.pages import write_report
from ...reporting.tables import markdown_table
from ..report_sections import command_section, departures_table, provenance_section, seed_cell
from ..stats import RULE, paired_verdict
from .results import WalkthroughResults


def readme_table(res: WalkthroughResults, ood_set: str, seed_index: int | None = 0) -> str:
    """README's table: per model, 'FPR95 / AUROC' of each score on ``ood_set``; one seed's
    numbers (what the commands print for it) or, with ``seed_index=None``, mean ± std."""
    rows = []
    for model in res.metrics:
        cells = []
        for s in res.scores:
            m = res.metrics[model][s][ood_set]
            if seed_index is None:
                cells.append(f"{seed_cell(m['fpr95'])} / {seed_cell(m['auroc'])}")
            else:
                cells.append(f"{100 * m['fpr95'][seed_index]:.2f} / "
                             f"{100 * m['auroc'][seed_index]:.2f}")  # fmt: skip
        acc = res.accuracy[model]
        acc_cell = seed_cell(acc) if seed_index is None else f"{100 * acc[seed_index]:.2f}"
        rows.append([model, *cells, acc_cell])
    return markdown_table(["model", *(f"{s} FPR95 / AUROC" for s in res.scores),
                           "ID test accuracy"], rows)  # fmt: skip


def render(res: WalkthroughResults, out: str | Path, command: str = "") -> Path:
    out = Path(out)
    secs = [
        provenance_section(res.run),
        ("What differs from the paper", departures_table([
            ["purpose", "-", "README's example commands, re-run per seed"],
            ["model / data", "WRN-40-2, CIFAR-10", f"{res.run['config']['model']['name']}, "
             f"{res.run['config']['data']['dataset']}"],
            ["seeds", "one", ", ".join(map(str, res.seeds))]])),
        ("Convention", "FPR95 / AUROC in percent on the WHOLE OOD set (no draws), as "
         "`energy-ood evaluate --run` prints them. " + RULE),
        command_section(command, res.timings.get("total_s"), res.run.get("machine")),
    ]  # fmt: skip
    for o in res.sets:
        secs.append((f"{o}: seed {res.seeds[0]} (README's table)", readme_table(res, o, 0)))
        secs.append((f"{o}: mean ± std over {len(res.seeds)} seeds", readme_table(res, o, None)))
        tuned = list(res.metrics)[1]
        if "energy" in res.scores and len(res.seeds) > 1:
            a = res.metrics[tuned]["energy"][o]["fpr95"]
            b = res.metrics["pretrained"]["energy"][o]["fpr95"]
            v = paired_verdict(a, b, lower_is_better=True)
            secs.append(
                (
                    f"{o}: {tuned} fine-tuning lowers the energy score's FPR95",
                    f"{v.interval_text()}; seeds won {v.wins}/{v.n}: **{v.verdict}**",
                )
            )
    secs.append(
        (
            "Commands per seed",
            "\n\n".join(
                f"seed {s}:\n```bash\n" + "\n".join(c) + "\n```" for s, c in res.commands.items()
            ),
        )
    )
    rows = [[m, ", ".join(f"{t:.0f}" for t in ts)] for m, ts in res.seconds.items()]
    rows.append(["margins (m_in, m_out)", ", ".join(f"({m['m_in']}, {m['m_out']})"
                                                    for m in res.margins)])  # fmt: skip
    secs.append(("Seconds per seed, margins", markdown_table(["step", "per seed"], rows)))
    return write_report(out, res.title, secs, res.to_plain(), [])
