import json

import numpy as np
import pytest

from energy_ood.evaluate import plots
from energy_ood.evaluate.protocols import dataset_vs_dataset, draw_metrics
from energy_ood.evaluate.report import methods_table, pair_table, write_report
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
    flat = {s: r[s]["mean"] for s in sets}
    assert mean_row(flat) == pytest.approx(r["mean"]["mean"])
    assert "| s2" in metrics_table(flat)


def test_report_folder(tmp_path):
    rng = np.random.default_rng(2)
    a = rng.normal(2, 1, 300)
    oods = {"x": rng.normal(0, 1, 300), "y": rng.normal(1, 1, 300)}
    res = {
        m: dataset_vs_dataset(a * w, {k: v * w for k, v in oods.items()}, n_draws=2)
        for m, w in (("msp", 1.0), ("energy", 2.0))
    }
    t1 = pair_table(res, "msp", "energy", ["x", "y"], (0.1, 0.1))
    assert "/" in t1 and "mean" in t1
    t2 = methods_table(res, {"msp": 0.1})
    p = [
        plots.score_histograms({"s": (a, oods["x"])}, tmp_path / "h.png"),
        plots.roc_curves({"s": (a, oods["x"])}, tmp_path / "roc.png"),
        plots.fpr_vs_temperature([1, 10], {"e": [0.1, 0.2]}, tmp_path / "t.png"),
        plots.margin_heatmap([1, 2], [3, 4], np.array([[1, 2], [3, np.nan]]), tmp_path / "m.png"),
        plots.per_class_bars(
            ["a", "b"], {"m": ([0.1, 0.2], [0.0, 0.1])}, tmp_path / "b.png", skew=0.1
        ),
    ]
    md = write_report(tmp_path, "t", [("A", t1), ("B", t2)], {"results": res}, p)
    text = md.read_text()
    assert "![h](h.png)" in text and "## A" in text
    assert json.loads((tmp_path / "results.json").read_text())["results"]["msp"]["x"]
    assert (tmp_path / "report.html").read_text().count("data:image/png") == 5
    for f in p:
        assert f.read_bytes()[:4] == b"\x89PNG"
