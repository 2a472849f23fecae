"""The compiled metrics: the sort (np.sort of the floats or a radix sort of integer keys, chosen
by measurement) and the three-pass kernel, bit for bit the numbers of the old one-walk kernel."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from energy_ood._validate import InputError
from energy_ood.metrics import _kernel as K
from energy_ood.metrics import _sort as S

pytestmark = pytest.mark.skipif(K.merge_metrics is None, reason="numba not installed")


def _keys(a: np.ndarray) -> np.ndarray:
    return S.padded_keys(np.ascontiguousarray(a))[0][:-1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keys_preserve_order_and_equality(dtype):
    info = np.finfo(dtype)
    a = np.array(
        [-info.max, -1.5, -1.0, -info.tiny, -0.0, 0.0, info.tiny, 1.0, 1.5, info.max], dtype
    )
    k = _keys(a)
    assert (np.diff(k.astype(object)) >= 0).all()  # ascending floats -> non-decreasing keys
    assert k[4] == k[5]  # -0.0 and +0.0 are one value
    assert len(set(k.tolist())) == len(a) - 1
    assert k.max() < np.iinfo(k.dtype).max  # below the sentinel


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 7, 5000])
def test_radix_sort_matches_np_sort(dtype, n):
    rng = np.random.default_rng(n)
    a = (rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)).astype(dtype)
    a[: n // 3] = np.round(a[: n // 3], 1)  # ties
    assert (S.sorted_keys(a) == _keys(np.sort(a))).all()
    for method in S.SORTS:
        padded = S.padded_sort(a, method)
        assert padded.size == n + 1 and padded[-1] > padded[:-1].max()
        assert (padded[:-1] == _keys(np.sort(a))).all()


@settings(max_examples=200, deadline=None)
@given(
    arrays(
        st.sampled_from([np.float32, np.float64]),
        st.integers(1, 300),
        elements=st.floats(allow_nan=False, allow_infinity=False, width=32),
    )
)
def test_radix_sort_property(a):
    assert (S.sorted_keys(a) == _keys(np.sort(a))).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -np.nan])
def test_finiteness_is_read_off_the_sorted_keys(dtype, bad):
    a = np.array([3.0, -np.finfo(dtype).max, np.finfo(dtype).max, 0.0], dtype)
    for method in S.SORTS:
        assert S.all_finite(S.padded_sort(a, method))
        b = a.copy()
        b[1] = bad
        assert not S.all_finite(S.padded_sort(b, method))


def test_constant_input_skips_every_pass():
    a = np.full(1000, 3.25, np.float32)
    assert (S.sorted_keys(a) == _keys(a)).all()


# --- the three-pass kernel against the old walk, bit for bit ----------------------------------
def _walk(a, b, tpr):
    from tests.metrics._reference import merge_walk

    return merge_walk(np.sort(_keys(a)), np.sort(_keys(b)), tpr)


def _new(a, b, tpr, method):
    return K.merge_metrics(S.padded_sort(a, method), S.padded_sort(b, method), tpr)


def _case(rng, trial):
    a = rng.standard_normal(rng.integers(1, 40))
    b = rng.standard_normal(rng.integers(1, 40)) - rng.random()
    q = rng.choice([0, 1, 2, 3, 1000])  # 0: no ties; else rounding to 1/q
    if q:
        a, b = np.round(a * q) / q, np.round(b * q) / q
    if trial % 7 == 0:
        a[:] = a[0]
    if trial % 11 == 0:
        b[:] = b[0]
    if trial % 13 == 0:
        b[: b.size // 2] = -0.0  # -0.0 ties +0.0
        a[: a.size // 2] = 0.0
    dtype = np.float32 if trial % 3 == 0 else np.float64
    return a.astype(dtype), b.astype(dtype)


@pytest.mark.parametrize("seed", range(4))
def test_new_kernel_equals_the_old_walk_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    tprs = [0.95, 0.5, 1.0, 0.01, 1 / 3, 0.25, 0.75]
    for trial in range(400):
        a, b = _case(rng, trial)
        tpr = float(rng.choice([*tprs, rng.random()]))
        want = _walk(a, b, tpr)
        for method in S.SORTS:
            assert np.array_equal(_new(a, b, tpr, method), want), (a, b, tpr, method)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("n", [50_000, 300_000])
def test_new_kernel_equals_the_old_walk_on_big_arrays(n, ties):
    rng = np.random.default_rng(n)
    a = (rng.standard_normal(n * 5 // 6) + 1).astype(np.float32)
    b = rng.standard_normal(n // 6).astype(np.float32)
    if ties:
        a, b = np.round(a, 2), np.round(b, 2)
    for tpr in (0.95, 0.5):
        want = _walk(a, b, tpr)
        for method in S.SORTS:
            assert np.array_equal(_new(a, b, tpr, method), want)
        assert np.array_equal(_new(b, a, tpr, "numpy"), _walk(b, a, tpr))  # OOD the larger


def test_ood_metrics_is_the_kernel_whichever_sort(monkeypatch):
    from energy_ood.metrics import ood_metrics

    rng = np.random.default_rng(5)
    a, b = np.round(rng.standard_normal(30_000), 2), np.round(rng.standard_normal(7_000), 2) - 0.5
    got = {}
    for method in S.SORTS:
        monkeypatch.setenv(S.SORT_ENV, method)
        got[method] = ood_metrics(a, b, rule="closest"), ood_metrics(b, a, positive="ood")
    assert got["radix"] == got["numpy"]  # bit-identical floats, not approximately equal
    want = _walk(a, b, 0.95)
    assert got["numpy"][0]["auroc"] == want[K.AUROC]
    assert got["numpy"][0]["fpr95"] == want[K.FPR_ID_CLOSEST]


# --- the sort choice: radix or np.sort, measured once per process and key layout --------------
def _scores(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n).astype(dtype)
    a[: n // 4] = np.round(a[: n // 4], 2)  # ties
    a[n // 4 : n // 4 + 5] = [0.0, -0.0, 0.0, -0.0, np.finfo(dtype).tiny]
    return a


@pytest.fixture
def fresh_choice(monkeypatch):
    monkeypatch.delenv(S.SORT_ENV, raising=False)
    monkeypatch.setattr(S, "_CHOICE", {})


def test_calibration_runs_once_per_layout_and_its_choice_is_used(fresh_choice, monkeypatch):
    monkeypatch.setattr(S, "CALIBRATE_MIN", 5_000)
    calls = []

    def fake_calibrate(sample):  # numpy "measured" faster: the choice must follow
        calls.append(sample.size)
        return {"radix": 2.0, "numpy": 1.0}

    monkeypatch.setattr(S, "calibrate", fake_calibrate)
    small = _scores(4_000, np.float32)
    assert S.sort_method(small) == "radix"  # too small to decide
    assert calls == [] and S._CHOICE == {}
    a = _scores(20_000, np.float32)
    assert S.sort_method(a) == "numpy"
    assert calls == [20_000] and list(S._CHOICE.values()) == ["numpy"]
    monkeypatch.setattr(S, "_RADIX", {})  # the radix sort is not used (KeyError)
    assert S.sort_method(_scores(20_000, np.float32, seed=3)) == "numpy"
    assert S.sort_method(small) == "numpy"  # the cached choice of its layout
    assert len(calls) == 1  # same layout: measured once


def test_real_calibration_picks_a_sort_and_float32_origin_is_its_own_layout(fresh_choice):
    a64 = np.abs(_scores(S.CALIBRATE_MIN, np.float64)) + 0.5  # one sign: see layout
    a32 = a64.astype(np.float32).astype(np.float64)  # 29 constant low bits
    l64, l32 = S.layout(a64), S.layout(a32)
    assert l64 == (64, 6) and l32[1] < l64[1]
    t = S.calibrate(a64[:50_000])
    assert set(t) == set(S.SORTS) and all(0 < v < 10 for v in t.values())
    S.sort_method(a64)
    S.sort_method(a32)
    assert set(S._CHOICE) == {l64, l32} and set(S._CHOICE.values()) <= set(S.SORTS)


def test_forced_sort_and_bad_setting(monkeypatch, fresh_choice):
    a = _scores(1000, np.float32)
    monkeypatch.setenv(S.SORT_ENV, "numpy")
    assert S.sort_method(a) == "numpy"
    monkeypatch.setenv(S.SORT_ENV, "Radix ")
    assert S.sort_method(a) == "radix"
    monkeypatch.setenv(S.SORT_ENV, "quick")
    with pytest.raises(InputError, match="ENERGY_OOD_METRICS_SORT must be one of"):
        S.sort_method(a)
