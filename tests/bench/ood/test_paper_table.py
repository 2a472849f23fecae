"""The paper's rows beside this run's: each number of SPEC section 5 with its counterpart here,
computed from the results (the committed fmnist results.json), '-' where the run lacks one."""

import json
from pathlib import Path

import numpy as np

from energy_ood.bench.ood.report import PAPER, paper_table
from energy_ood.bench.ood.results import OODResults

FMNIST = Path(__file__).parents[3] / "docs" / "results" / "fmnist" / "results.json"


def _rows(text: str) -> dict[str, list[str]]:
    lines = [ln for ln in text.splitlines() if ln.startswith("| ") and "---" not in ln]
    return {c[0]: c[1:] for c in ([x.strip() for x in ln.strip("|").split("|")] for ln in lines)}


def test_paper_rows_beside_ours_from_the_results():
    res = OODResults.from_plain(json.loads(FMNIST.read_text()))
    rows = _rows(paper_table(res))
    sets = res.headline_sets
    for name, paper in PAPER.items():
        assert [float(rows[name][i]) for i in (0, 2, 4, 6)] == list(paper)
    energy = res.find("pretrained", "energy", T=1.0)
    fpr = energy.mean_over(sets, "fpr95")
    assert rows["energy"][1].startswith(f"{100 * np.mean(fpr):.2f} ± ")
    oe = res.find("oe", "msp")
    assert rows["oe"][1].startswith(f"{100 * oe.mean_over(sets, 'fpr95').mean():.2f}")


def test_a_missing_counterpart_is_a_dash():
    res = OODResults.from_plain(json.loads(FMNIST.read_text()))
    res.evaluations = [e for e in res.evaluations if e.spec.name != "mahalanobis"]
    assert _rows(paper_table(res))["mahalanobis"][1::2] == ["-"] * 4
