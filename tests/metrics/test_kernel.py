"""The compiled sort: order-preserving integer keys of float scores, radix-sorted."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from energy_ood._validate import InputError
from energy_ood.metrics import _kernel as K

pytestmark = pytest.mark.skipif(K.merge_metrics is None, reason="numba not installed")


def _keys(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return K.float_keys(a)[0]


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 7, 5000])
def test_radix_sort_matches_np_sort(dtype, n):
    rng = np.random.default_rng(n)
    a = (rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)).astype(dtype)
    a[: n // 3] = np.round(a[: n // 3], 1)  # ties
    assert (K.sorted_keys(a) == _keys(np.sort(a))).all()


@settings(max_examples=200, deadline=None)
@given(
    arrays(
        st.sampled_from([np.float32, np.float64]),
        st.integers(1, 300),
        elements=st.floats(allow_nan=False, allow_infinity=False, width=32),
    )
)
def test_radix_sort_property(a):
    assert (K.sorted_keys(a) == _keys(np.sort(a))).all()


def test_constant_input_skips_every_pass():
    a = np.full(1000, 3.25, np.float32)
    assert (K.sorted_keys(a) == _keys(a)).all()


# --- the sort choice: radix or np.sort, measured once per process and key layout --------------
def _scores(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n).astype(dtype)
    a[: n // 4] = np.round(a[: n // 4], 2)  # ties
    a[n // 4 : n // 4 + 5] = [0.0, -0.0, 0.0, -0.0, np.finfo(dtype).tiny]
    return a


@pytest.fixture
def fresh_choice(monkeypatch):
    monkeypatch.delenv(K.SORT_ENV, raising=False)
    monkeypatch.setattr(K, "_CHOICE", {})


@pytest.mark.parametrize("kind", ["float32", "float64", "float32 as float64"])
def test_both_sorts_give_the_same_keys_and_metrics(kind, monkeypatch):
    from energy_ood.metrics import ood_metrics

    dtype = np.float32 if kind == "float32" else np.float64
    a, b = _scores(30_000, dtype), _scores(7_000, dtype, seed=1) - 0.5
    if kind == "float32 as float64":
        a, b = a.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64)
    assert np.array_equal(K.sorted_keys(a, "radix"), K.sorted_keys(a, "numpy"))
    got = {}
    for method in K.SORTS:
        monkeypatch.setenv(K.SORT_ENV, method)
        got[method] = ood_metrics(a, b, rule="closest"), ood_metrics(b, a, positive="ood")
    assert got["radix"] == got["numpy"]  # bit-identical floats, not approximately equal


def test_calibration_runs_once_per_layout_and_its_choice_is_used(fresh_choice, monkeypatch):
    monkeypatch.setattr(K, "CALIBRATE_MIN", 5_000)
    calls = []

    def fake_calibrate(sample, width):  # numpy "measured" faster: the choice must follow
        calls.append((sample.size, width))
        return {"radix": 2.0, "numpy": 1.0}

    monkeypatch.setattr(K, "calibrate", fake_calibrate)
    small = _scores(4_000, np.float32)
    assert K.sort_method(K.float_keys(small)[0], 32) == "radix"  # too small to decide
    assert calls == [] and K._CHOICE == {}
    a = _scores(20_000, np.float32)
    want = K.sorted_keys(a, "radix")
    assert np.array_equal(K.sorted_keys(a), want)
    assert calls == [(20_000, 32)] and list(K._CHOICE.values()) == ["numpy"]
    b = _scores(20_000, np.float32, seed=3)
    want_b = K.sorted_keys(b, "radix")
    monkeypatch.setattr(K, "_radix_sort_jit", lambda *a: pytest.fail("radix sort was used"))
    assert np.array_equal(K.sorted_keys(b), want_b)
    assert np.array_equal(K.sorted_keys(small), K.sorted_keys(small, "numpy"))  # cached choice
    assert len(calls) == 1  # same layout: measured once


def test_real_calibration_picks_a_sort_and_float32_origin_is_its_own_layout(fresh_choice):
    a64 = np.abs(_scores(K.CALIBRATE_MIN, np.float64)) + 0.5  # one sign: see _layout
    a32 = a64.astype(np.float32).astype(np.float64)  # 29 constant low bits
    l64, l32 = K._layout(K.float_keys(a64)[0], 64), K._layout(K.float_keys(a32)[0], 64)
    assert l64 == (64, 6) and l32[1] < l64[1]
    t = K.calibrate(K.float_keys(a64)[0][:50_000], 64)
    assert set(t) == set(K.SORTS) and all(0 < v < 10 for v in t.values())
    K.sorted_keys(a64)
    K.sorted_keys(a32)
    assert set(K._CHOICE) == {l64, l32} and set(K._CHOICE.values()) <= set(K.SORTS)


def test_forced_sort_and_bad_setting(monkeypatch, fresh_choice):
    keys = K.float_keys(_scores(1000, np.float32))[0]
    monkeypatch.setenv(K.SORT_ENV, "numpy")
    assert K.sort_method(keys, 32) == "numpy"
    monkeypatch.setenv(K.SORT_ENV, "Radix ")
    assert K.sort_method(keys, 32) == "radix"
    monkeypatch.setenv(K.SORT_ENV, "quick")
    with pytest.raises(InputError, match="ENERGY_OOD_METRICS_SORT must be one of"):
        K.sort_method(keys, 32)
