import numpy as np

from energy_ood.metrics import OODMetrics, ood_metrics


def test_accumulates_batches():
    rng = np.random.default_rng(0)
    s = rng.normal(size=400)
    is_ood = rng.random(400) < 0.3
    acc = OODMetrics()
    for i in range(0, 400, 64):
        acc.update(s[i : i + 64], is_ood[i : i + 64])
    assert acc.compute() == ood_metrics(s[~is_ood], s[is_ood])
