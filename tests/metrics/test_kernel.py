"""The compiled sort: order-preserving integer keys of float scores, radix-sorted."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from energy_ood.metrics import _kernel as K

pytestmark = pytest.mark.skipif(K.merge_metrics is None, reason="numba not installed")


def _keys(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return K._keys32_jit(a) if a.dtype == np.float32 else K._keys64_jit(a)


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
