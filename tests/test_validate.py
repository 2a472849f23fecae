"""The shared validation layer: real-number arrays and numeric option checks."""

import warnings

import numpy as np
import pytest
import scipy.sparse
import torch

from energy_ood._validate import (
    InputError,
    as_numpy_1d,
    as_tensor_2d,
    check_choice,
    check_int,
    real_array,
)
from energy_ood.metrics.functional import ood_metrics


def one_line(e) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    "x,word",
    [
        (np.array([1 + 2j, 3j]), "complex"),
        (np.array([1, 2], dtype="timedelta64[s]"), "timedelta"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime"),
        (np.array([1, "a"], dtype=object), "Python objects"),
        (np.array(["1.0", "2.0"]), "text"),
        (np.zeros(2, dtype=[("a", "f4")]), "structured"),
        (torch.tensor([1 + 1j]), "complex"),
        (scipy.sparse.csr_matrix(np.eye(3)), "sparse"),
        (torch.eye(3).to_sparse(), "sparse"),
        (np.ma.masked_array([1.0, 2.0], mask=[0, 1]), "masked"),
        ([[1.0, 2.0], [3.0]], "not an array of numbers"),
    ],
)
def test_real_array_refuses(x, word):
    with pytest.raises(InputError, match=word) as e:
        real_array(x, "x")
    assert one_line(e).startswith("x: ")


def test_real_array_converts_byte_order_and_longdouble():
    be = np.arange(5, dtype=">f8")
    a = real_array(be, "x")
    assert a.dtype == np.float64 and a.dtype.isnative and np.array_equal(a, np.arange(5))
    ld = np.array([1.5, -2.0], dtype=np.longdouble)
    b = real_array(ld, "x")
    assert b.dtype == np.float64 and np.array_equal(b, [1.5, -2.0])
    native = np.ones(3, np.float32)
    assert real_array(native, "x") is native  # no copy of ordinary arrays
    t = torch.ones(2)
    assert real_array(t, "x") is t
    if np.finfo(np.longdouble).max > np.finfo(np.float64).max:
        with pytest.raises(InputError, match="float64 range"):
            real_array(np.array([np.longdouble("1e400")]), "x")


def test_metrics_and_tensors_refuse_complex_and_accept_big_endian():
    with pytest.raises(InputError, match="complex"):
        ood_metrics(np.array([1 + 1j, 2]), np.array([0.0, 1.0]))
    with pytest.raises(InputError, match="timedelta"):
        ood_metrics(np.array([1, 2], "m8[s]"), np.array([0.0, 1.0]))
    got = ood_metrics(np.array([3.0, 4.0], ">f4"), np.array([1.0, 2.0], ">f8"))
    assert got["auroc"] == 1.0
    t = as_tensor_2d(np.ones((2, 3), ">f4"), "feats")
    assert t.dtype == torch.float32 and t.shape == (2, 3)


def test_read_only_arrays_give_no_warning():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    a.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = as_tensor_2d(a, "x")
        t += 1  # a copy: the caller's array is untouched
    assert a[0, 0] == 0 and as_numpy_1d(a[0], "s").tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    "value,kw,want",
    [(5, {"min": 1}, 5), ("7", {}, 7), (3.0, {"min": 1}, 3), (np.int64(2), {"max": 2}, 2)],
)
def test_check_int_accepts(value, kw, want):
    assert check_int(value, "n", **kw) == want


@pytest.mark.parametrize(
    "value,kw",
    [
        (0, {"min": 1}),
        (-5, {"min": 1}),
        (True, {}),
        (2.5, {}),
        ("two", {}),
        (None, {}),
        (float("nan"), {}),
        (11, {"max": 10}),
    ],  # fmt: skip
)
def test_check_int_refuses(value, kw):
    with pytest.raises(InputError, match="--epochs must be an integer") as e:
        check_int(value, "--epochs", **kw)
    assert repr(value) in one_line(e)


def test_check_choice():
    assert check_choice("a", "mode", ("a", "b")) == "a"
    with pytest.raises(InputError, match="one of a, b"):
        check_choice("c", "mode", ("a", "b"))
