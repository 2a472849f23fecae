"""The sentences under the noise table, generated from its numbers: on which side of ID the
noise medians of the logit norm ‖f‖ and of -E fall, the measured rank correlation of ‖f‖ with
-E, and how FPR95 on noise goes with the gap between the -E medians."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

MIN_ROWS = 4  # fewer (seed, noise set) rows give no rank correlation worth stating


def _sides(rows: list[dict], key: str, what: str) -> str:
    below = sum(r["noise"][key] < r["id"][key] for r in rows)
    above = sum(r["noise"][key] > r["id"][key] for r in rows)
    equal = len(rows) - below - above
    text = f"In {below} of {len(rows)} rows the median {what} of noise is below ID's"
    text += f", in {above} above" if above else ""
    return text + (f", in {equal} equal" if equal else "") + "."


def _fpr_relation(rows: list[dict]) -> str:
    pairs = [(r["fpr"], r["noise"]["median_neg_energy"] - r["id"]["median_neg_energy"])
             for r in rows if r["fpr"] is not None]  # fmt: skip
    if len(pairs) < MIN_ROWS:
        return (
            f"FPR95 against the gap of the -E medians (noise - ID): too few rows "
            f"({len(pairs)}, fewer than {MIN_ROWS}) for a rank correlation."
        )
    fpr, gap = np.array(pairs).T
    if np.ptp(fpr) == 0 or np.ptp(gap) == 0:
        return (
            f"FPR95 against the gap of the -E medians (noise - ID), over {len(pairs)} rows: "
            "one of them is constant, so no rank correlation."
        )
    rho = float(spearmanr(gap, fpr).statistic)
    return (
        f"Spearman correlation over the {len(pairs)} rows of FPR95 with the gap of the -E "
        f"medians (noise - ID): {rho:.2f}; gaps from {gap.min():.2f} to {gap.max():.2f}, "
        f"FPR95 from {100 * fpr.min():.2f} to {100 * fpr.max():.2f}."
    )


def noise_sentences(rows: list[dict], spearman: list[float]) -> str:
    """``rows``: per (seed, noise set) {"fpr": energy FPR95 or None, "id": ID medians,
    "noise": the set's medians}; ``spearman``: per seed, the rank correlation of ‖f‖ with -E
    over that seed's ID and noise images."""
    if not rows:
        return ""
    rho = ", ".join(f"{r:.2f}" for r in spearman)
    return " ".join([
        _sides(rows, "median_logit_norm", "‖f‖"), _sides(rows, "median_neg_energy", "-E"),
        f"The rank correlation of ‖f‖ with -E over the ID and noise images of a seed is "
        f"{rho} (per seed).", _fpr_relation(rows),
        "The histograms (plot) show the first seed.",
    ])  # fmt: skip
