import json

import numpy as np
import pytest

from energy_ood.evaluate import plots
from energy_ood.evaluate.protocols import dataset_vs_dataset, draw_metrics
from energy_ood.evaluate.report import claims_table, seed_cell, write_report
from energy_ood.evaluate.tables import mean_row, metrics_table
from energy_ood.metrics import ood_metrics


def test_draws_are_seeded_and_sized():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1, 1, 500), rng.normal(0, 1, 3000)
    r1 = draw_metrics(a, b, n_draws=5, seed=3)
    r2 = draw_metrics(a, b, n_draws=5, seed=3)
    assert r1 == r2 and r1["ood_num"] == 100
    assert draw_metrics(a, b[:40], n_draws=2)["ood_num"] == 40
    # all draws equal the full set when ood_num covers it -> std 0
    full = draw_metrics(a, b[:50], n_draws=3, ood_num=50)
    assert full["std"]["auroc"] == 0
    assert full["mean"]["auroc"] == pytest.approx(ood_metrics(a, b[:50])["auroc"])


def test_mean_row_is_mean_of_rows():
    rng = np.random.default_rng(1)
    a = rng.normal(1, 1, 400)
    sets = {f"s{i}": rng.normal(i * 0.3, 1, 500) for i in range(3)}
    r = dataset_vs_dataset(a, sets, n_draws=4)
    for k in ("fpr95", "auroc", "aupr_in", "aupr_out"):
        assert r["mean"]["mean"][k] == pytest.approx(np.mean([r[s]["mean"][k] for s in sets]))
        # the mean row's spread is that of the per-draw mean over sets, not a mean of stds
        per_draw = np.mean([r[s]["draws"][k] for s in sets], axis=0)
        assert r["mean"]["std"][k] == pytest.approx(per_draw.std())
    assert r["mean"]["std"]["auroc"] < np.mean([r[s]["std"]["auroc"] for s in sets])
    flat = {s: r[s]["mean"] for s in sets}
    assert mean_row(flat) == pytest.approx(r["mean"]["mean"])
    assert "| s2" in metrics_table(flat)


def test_report_folder(tmp_path):
    from energy_ood.evaluate.results import Claim
    from energy_ood.evaluate.stats import paired_verdict

    rng = np.random.default_rng(2)
    a = rng.normal(2, 1, 300)
    oods = {"x": rng.normal(0, 1, 300), "y": rng.normal(1, 1, 300)}
    res = {m: dataset_vs_dataset(a * w, oods, n_draws=2) for m, w in (("msp", 1.0), ("e", 2.0))}
    claim = Claim("e beats msp", "AUROC", False, [0.9, 0.91, 0.92], [0.8, 0.83, 0.8], "-",
                  paired_verdict([0.9, 0.91, 0.92], [0.8, 0.83, 0.8], False))  # fmt: skip
    t1 = claims_table([claim])
    assert "| e beats msp" in t1 and "yes" in t1 and "3/3" in t1
    assert seed_cell([0.1, 0.2, 0.3]) == "20.00 ± 10.00" and seed_cell([0.5]) == "50.00"
    p = [
        plots.score_histograms({"s": (a, oods["x"])}, tmp_path / "h.png"),
        plots.roc_curves({"s": (a, oods["x"])}, tmp_path / "roc.png"),
        plots.fpr_vs_temperature([1, 10], {"e": [[0.1, 0.2], [0.2, 0.3]]}, tmp_path / "t.png"),
        plots.margin_heatmap([1, 2], [3, 4], np.array([[1, 2], [3, np.nan]]), tmp_path / "m.png"),
        plots.per_class_bars(
            ["a", "b"], {"m": ([0.1, 0.2], [0.0, 0.1])}, tmp_path / "b.png", skew=0.1
        ),
        plots.noise_panels({"id": (a, a), "gaussian": (oods["x"], oods["y"])}, tmp_path / "n.png"),
        plots.margin_sweep(["(0, 1)", "(1, 3)"], [0.1, 0.05], [0.3, 0.2], 1, tmp_path / "s.png"),
    ]
    md = write_report(tmp_path, "t", [("A", t1)], {"results": res}, p)
    text = md.read_text()
    assert "![h](h.png)" in text and "## A" in text
    assert json.loads((tmp_path / "results.json").read_text())["results"]["msp"]["x"]
    assert (tmp_path / "report.html").read_text().count("data:image/png") == len(p)
    for f in p:
        assert f.read_bytes()[:4] == b"\x89PNG"
