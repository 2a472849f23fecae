import numpy as np
import pytest

from energy_ood.bench.draws import dataset_vs_dataset, draw_metrics
from energy_ood.metrics import ood_metrics
from energy_ood.reporting.tables import mean_row, metrics_table


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
