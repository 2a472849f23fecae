"""The verdict rule: paired per-seed differences, a 95% t-interval, yes / no / inconclusive."""

import json

import numpy as np
import pytest
from scipy import stats as sps

from energy_ood._validate import InputError
from energy_ood.bench.stats import RULE, mean_std, paired_verdict, t_quantile


def test_mean_std_is_sample_std_over_seeds():
    m, s = mean_std([0.1, 0.2, 0.6])
    assert m == pytest.approx(0.3) and s == pytest.approx(np.std([0.1, 0.2, 0.6], ddof=1))
    assert mean_std([0.4]) == (0.4, None)
    with pytest.raises(InputError):
        mean_std([])


def test_interval_matches_scipy():
    a, b = [0.30, 0.35, 0.33, 0.29], [0.40, 0.41, 0.45, 0.38]
    v = paired_verdict(a, b, lower_is_better=True)
    d = np.subtract(a, b)
    lo, hi = sps.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sps.sem(d))
    assert (v.low, v.high) == pytest.approx((lo, hi))
    assert v.verdict == "yes" and v.wins == 4 and v.n == 4
    assert t_quantile(3) == pytest.approx(4.302653, rel=1e-6)


@pytest.mark.parametrize(
    "a, b, lower, want",
    [
        ([1.0, 1.1, 1.2], [2.0, 2.1, 2.3], True, "yes"),  # clearly lower, lower is better
        ([1.0, 1.1, 1.2], [2.0, 2.1, 2.3], False, "no"),  # clearly lower, higher is better
        ([1.0, 2.0, 0.5], [1.5, 1.0, 1.0], True, "inconclusive"),  # interval spans 0
        ([0.9955, 0.9950, 0.9960], [0.9982, 0.9960, 1.0000], False, "inconclusive"),
        ([0.5, 0.5], [0.5, 0.5], True, "inconclusive"),  # no difference at all
        ([0.1], [0.9], True, "inconclusive"),  # one seed decides nothing
    ],
)
def test_verdicts(a, b, lower, want):
    v = paired_verdict(a, b, lower_is_better=lower)
    assert v.verdict == want
    if len(a) == 1:
        assert v.low is None and v.high is None and "one seed" in v.interval_text()
        json.dumps(v.to_plain(), allow_nan=False)  # results.json refuses NaN / inf


def test_rule_is_stated_and_inputs_checked():
    assert "95%" in RULE and "inconclusive" in RULE and "paired" in RULE
    with pytest.raises(InputError, match="equal"):
        paired_verdict([1, 2], [1, 2, 3], True)
    with pytest.raises(InputError, match="finite"):
        paired_verdict([1, float("nan")], [1, 2], True)
