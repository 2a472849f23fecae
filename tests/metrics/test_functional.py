import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from energy_ood._validate import InputError
from energy_ood.metrics import (
    aupr_in,
    aupr_out,
    auroc,
    average_precision,
    curve,
    fpr_at_tpr,
    ood_metrics,
)
from energy_ood.metrics.functional import _ood_metrics_numpy


def sklearn_reference(a, b, tpr=0.95):
    y = np.r_[np.ones(a.size), np.zeros(b.size)]
    s = np.r_[a, b]
    fpr, tprs, _ = roc_curve(y, s, drop_intermediate=False)
    # OOD positive, lower score = more OOD
    fpr_o, tpr_o, _ = roc_curve(1 - y, -s, drop_intermediate=False)
    d = np.abs(tprs - tpr)[: np.argmax(tprs >= 1) + 1]  # the curve ends at the first TPR 1
    return {
        "auroc": roc_auc_score(y, s),
        "aupr_in": average_precision_score(y, s),
        "aupr_out": average_precision_score(1 - y, -s),
        "fpr95": fpr[np.argmax(tprs >= tpr)],
        "fpr95_ood": fpr_o[np.argmax(tpr_o >= tpr)],
        "fpr95_closest": fpr[np.flatnonzero(d == d.min())[-1]],
    }


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_sklearn(seed, ties):
    rng = np.random.default_rng(seed)
    a = rng.normal(1, 1, rng.integers(1, 3000))
    b = rng.normal(0, 1.5, rng.integers(1, 800))
    if ties:
        a, b = np.round(a, 1), np.round(b, 1)
    ref = sklearn_reference(a, b)
    for fn in (ood_metrics, _ood_metrics_numpy):
        m = fn(a, b)
        for k in ("auroc", "aupr_in", "aupr_out", "fpr95"):
            assert m[k] == pytest.approx(ref[k], abs=1e-9), (fn.__name__, k)
        assert fn(a, b, positive="ood")["fpr95"] == pytest.approx(ref["fpr95_ood"], abs=1e-12)
        assert fn(a, b, rule="closest")["fpr95"] == pytest.approx(ref["fpr95_closest"], abs=1e-12)


def test_single_functions_and_tensor_input():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1, 1, 500).astype(np.float32), rng.normal(0, 1, 200).astype(np.float32)
    m = ood_metrics(torch.from_numpy(a), torch.from_numpy(b))
    assert auroc(a, b) == m["auroc"]
    assert aupr_in(a, b) == m["aupr_in"]
    assert aupr_out(a, b) == m["aupr_out"]
    assert fpr_at_tpr(a, b) == m["fpr95"]
    y = np.r_[np.ones(500), np.zeros(200)]
    s = np.r_[a, b]
    assert average_precision(s, y) == pytest.approx(average_precision_score(y, s), abs=1e-9)


def test_hand_example():
    # ID 4, 3, 2, 1; OOD 2.5, 0. Thresholds from the top: TPR 0.25 .5 .5 .75 1 1
    a, b = [4, 3, 2, 1], [2.5, 0]
    m = ood_metrics(a, b, tpr=0.75)
    assert m["fpr95"] == 0.5  # at threshold 2: 3/4 ID accepted, OOD 2.5 accepted
    assert m["auroc"] == pytest.approx(6 / 8)  # pairs (id > ood): 2+2+1+1
    ap_in = (1 / 4) * (1 + 1 + 2 / 3 + 3 / 4 * 1)  # precision at each ID hit... see below
    ap_in = (1 / 4) * (1 / 1 + 2 / 2 + 3 / 4 + 4 / 5)
    assert m["aupr_in"] == pytest.approx(ap_in)


def test_perfect_and_constant():
    assert ood_metrics([2, 3], [0, 1]) == {
        "fpr95": 0.0,
        "auroc": 1.0,
        "aupr_in": 1.0,
        "aupr_out": 1.0,
    }
    m = ood_metrics([1, 1, 1], [1, 1])
    assert m["auroc"] == 0.5 and m["fpr95"] == 1.0
    assert m["aupr_in"] == pytest.approx(3 / 5) and m["aupr_out"] == pytest.approx(2 / 5)


@pytest.mark.parametrize(
    "a,b,msg",
    [
        ([], [1.0], "empty"),
        ([1.0, np.nan], [1.0], "NaN"),
        ([1.0], [np.inf], "non-finite"),
        (np.ones((2, 2)), [1.0], "1-D"),
    ],
)
def test_bad_input(a, b, msg):
    with pytest.raises(InputError, match=msg):
        ood_metrics(a, b)


def test_bad_options():
    with pytest.raises(InputError, match="rule"):
        ood_metrics([1.0], [0.0], rule="nearest")
    with pytest.raises(InputError, match="positive"):
        ood_metrics([1.0], [0.0], positive="both")
    with pytest.raises(InputError, match="tpr"):
        ood_metrics([1.0], [0.0], tpr=1.5)


def test_curve_counts():
    c = curve([3, 1, 1], [2, 1])
    assert c.thresholds.tolist() == [3, 2, 1]
    assert c.tp.tolist() == [1, 1, 3] and c.fp.tolist() == [0, 1, 2]


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=32)
scores = arrays(np.float64, st.integers(1, 60), elements=finite)


@settings(max_examples=150, deadline=None)
@given(scores, scores)
def test_properties(a, b):
    m = ood_metrics(a, b)
    for v in m.values():
        assert 0.0 <= v <= 1.0
    # swapping roles: AUROC mirrors, AUPR-In and AUPR-Out exchange
    s = ood_metrics(-b, -a)
    assert s["auroc"] == pytest.approx(m["auroc"], abs=1e-12)
    assert s["aupr_in"] == pytest.approx(m["aupr_out"], abs=1e-12)
    assert s["aupr_out"] == pytest.approx(m["aupr_in"], abs=1e-12)
    assert ood_metrics(b, a)["auroc"] == pytest.approx(1 - m["auroc"], abs=1e-12)
    # invariance under strictly increasing transforms
    ta, tb = np.arctan(a / 1e3) * 7 + 3, np.arctan(b / 1e3) * 7 + 3
    t = ood_metrics(ta, tb)
    if len(np.unique(np.r_[a, b])) == len(np.unique(np.r_[ta, tb])):
        for k in m:
            assert t[k] == pytest.approx(m[k], abs=1e-12)
    # the compiled kernel and the numpy reference agree, for every operating-point rule
    for rule in ("first", "closest"):
        for positive in ("id", "ood"):
            got = ood_metrics(a, b, rule=rule, positive=positive)
            ref = _ood_metrics_numpy(a, b, rule=rule, positive=positive)
            for k in m:
                assert got[k] == pytest.approx(ref[k], abs=1e-12), (rule, positive, k)


def _energy_paper_closest(id_scores, ood_scores, level):
    """The operating point of the energy paper's code, restated: distinct thresholds from
    strict to lenient, the curve cut at the first point reaching recall 1, then the point whose
    recall is closest to ``level`` (first in lenient-to-strict order); FPR there."""
    s = np.r_[id_scores, ood_scores]
    y = np.r_[np.ones(len(id_scores)), np.zeros(len(ood_scores))]
    order = np.argsort(s, kind="mergesort")[::-1]
    s, y = s[order], y[order]
    ends = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct value
    tps = np.cumsum(y)[ends]
    fps = ends + 1 - tps
    recall = tps / tps[-1]
    last = int(np.searchsorted(tps, tps[-1]))  # first threshold with every ID sample accepted
    recall, fps = recall[last::-1], fps[last::-1]
    return fps[int(np.argmin(np.abs(recall - level)))] / len(ood_scores)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("level", [0.5, 0.9, 0.95, 1.0])
def test_closest_rule_is_the_energy_papers(seed, level):
    rng = np.random.default_rng(seed)
    a = np.round(rng.normal(1, 1, 57), 1)  # rounded: many ties
    b = np.round(rng.normal(0, 1, 43), 1)
    want = _energy_paper_closest(a, b, level)
    assert fpr_at_tpr(a, b, level, rule="closest") == pytest.approx(want)
    assert _ood_metrics_numpy(a, b, level, rule="closest")["fpr95"] == pytest.approx(want)
    want_ood = _energy_paper_closest(-b, -a, level)  # OOD positive: low scores flagged
    got = fpr_at_tpr(a, b, level, rule="closest", positive="ood")
    assert got == pytest.approx(want_ood)
    assert _ood_metrics_numpy(a, b, level, rule="closest", positive="ood")["fpr95"] == got


def test_closest_at_tpr_one_takes_the_strictest_threshold():
    ids, oods = np.array([5.0, 4.0, 3.0]), np.array([3.5, 2.0, 1.0, 0.0])
    # thresholds reaching TPR 1: 3.0 (accepts OOD 3.5 only) and every lower one
    assert fpr_at_tpr(ids, oods, 1.0, rule="closest") == pytest.approx(0.25)
    assert fpr_at_tpr(ids, oods, 1.0, rule="first") == pytest.approx(0.25)
    assert fpr_at_tpr(-oods, -ids, 1.0, rule="closest", positive="ood") == pytest.approx(0.25)
