"""Render a hold-out-class benchmark's typed results as report.md / report.html with per-class
AP bars: what differs from the paper first, then the claims with paired verdicts over trials."""

from __future__ import annotations

from pathlib import Path

from ...reporting import plots
from ...reporting.pages import write_report
from ...reporting.tables import markdown_table, pct
from ..report_sections import (
    claims_table,
    command_section,
    departures_table,
    provenance_section,
    seed_cell,
)
from ..stats import RULE, mean_std
from .disclosure import holdout_departures
from .results import HoldoutResults

PAPER = (
    "CIFAR-10, WRN-28-10 (mean AP over classes): MSP 34.92, ODIN 36.63, accuracy 96.03; "
    "with rotation head: MSP 40.22, ODIN 41.56, accuracy 96.83; centre-masked: MSP 34.41, "
    "accuracy 96.27."
)


def subsets_table(subsets: list[dict]) -> str:
    """One row per trial: its seed, how many images of the pool it trained on, the sha256 of
    its positions (results.json lists them) and the images it shares with every trial."""
    if not subsets:
        return "Not recorded (a run made before each trial drew its own subset)."
    headers = ["trial", "seed", "images", "of the pool", "sha256 of the positions"]
    headers += [f"shared with trial {s['trial'] + 1}" for s in subsets]
    rows = [[str(s["trial"] + 1), str(s["seed"]), str(s["size"]), str(s["pool"]), s["sha256"]]
            + [str(n) for n in s["shared"]] for s in subsets]  # fmt: skip
    return markdown_table(headers, rows)


def render(res: HoldoutResults, out: str | Path, command: str = "") -> Path:
    out = Path(out)
    res.departures = holdout_departures(res)  # from the records, so a re-render refreshes it
    variants, labels = list(res.variants), res.labels
    headers = ["held-out class", "skew"] + [f"{m} ({v})" for v in variants for m in labels]
    rows = []
    for i, c in enumerate(res.classes):
        rows.append([c, pct(res.skew[i])] + [seed_cell(res.ap(v, m)[:, i]) for v in variants
                                              for m in labels])  # fmt: skip
    rows.append(["**mean**", pct(sum(res.skew) / len(res.skew))]
                + [seed_cell(res.ap(v, m).mean(1)) for v in variants for m in labels])  # fmt: skip
    summary = markdown_table(
        ["variant", *labels, "accuracy (seen classes)"],
        [[v] + [seed_cell(res.ap(v, m).mean(1)) for m in labels]
         + [seed_cell(res.accuracy(v).mean(1))] for v in variants],
    )  # fmt: skip
    secs = [
        provenance_section(res.run),
        ("What differs from the paper", departures_table(res.departures)),
        ("Training subsets", subsets_table(res.subsets)),
        ("Convention",
         "Average precision with the held-out class as the positive class, anomaly score = "
         "-ID-ness. A random detector scores the skew (fraction of anomalies). Each trial "
         "trains one classifier per held-out class and variant; mean ± std over "
         f"{res.trials} trials, a mean row averaging classes within a trial first. Values in "
         "percent.\n\n" + RULE.replace("seeds", "trials").replace("seed", "trial")),
        command_section(command, res.timings.get("total_s"), res.run.get("machine"),
                        res.timings.get("note", "")),  # fmt: skip
        ("Claims, ours vs the paper", claims_table(res.claims, "trials")),
        ("Summary (mean AP over classes)", summary),
        ("Paper", PAPER),
        ("Per-class AP", markdown_table(headers, rows)),
    ]  # fmt: skip
    if res.warning:
        secs.insert(0, ("Warning", res.warning))
    paths = []
    skew = sum(res.skew) / len(res.skew)
    for v in variants:
        series = {}
        for m in labels:
            a = res.ap(v, m)
            series[m] = (a.mean(0).tolist(),
                         [mean_std(a[:, i])[1] or 0.0 for i in range(a.shape[1])])  # fmt: skip
        paths.append(plots.per_class_bars(res.classes, series, out / f"ap_per_class_{v}.png",
                                          skew=skew))  # fmt: skip
    return write_report(out, res.title, secs, res.to_plain(), paths)
