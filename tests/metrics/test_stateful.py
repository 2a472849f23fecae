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


def test_bad_input_is_an_input_error():
    import pytest

    from energy_ood._validate import InputError

    with pytest.raises(InputError, match="rule"):
        OODMetrics(rule="nearest")
    with pytest.raises(InputError, match="tpr"):
        OODMetrics(tpr=float("nan"))
    m = OODMetrics()
    with pytest.raises(InputError, match="does not match"):
        m.update(np.ones(3), np.zeros(4, bool))
    with pytest.raises(InputError, match="0/1"):
        m.update(np.ones(3), np.array([0, 2, 1]))
    with pytest.raises(InputError, match="real numbers"):
        m.update(np.ones(3, dtype=complex), np.array([0, 1, 1]))
    with pytest.raises(InputError, match="empty"):
        OODMetrics().compute()


def test_metrics_refuse_complex_and_timedelta():
    import pytest

    from energy_ood._validate import InputError

    for bad in (np.ones(3, dtype=complex), np.array([1, 2, 3], dtype="timedelta64[s]")):
        with pytest.raises(InputError, match="real numbers"):
            ood_metrics(bad, np.ones(3))
