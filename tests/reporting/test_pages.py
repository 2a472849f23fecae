"""Report folders: results.json, report.md with its plots, report.html embedding them; the
claims table and seed cells every protocol report shares."""

import json

import numpy as np

from energy_ood.bench.draws import dataset_vs_dataset
from energy_ood.bench.report_sections import claims_table, seed_cell
from energy_ood.reporting import plots
from energy_ood.reporting.pages import write_report


def test_report_folder(tmp_path):
    from energy_ood.bench.claims import Claim
    from energy_ood.bench.stats import paired_verdict

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
