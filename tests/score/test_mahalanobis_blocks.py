"""Mahalanobis fit in float64 blocks and scoring into reused per-thread buffers (issue 22):
the same numbers as the plain formulas, whatever the block, chunk, dtype or thread."""

import threading

import numpy as np
import pytest
import torch

from energy_ood._validate import InputError
from energy_ood.score import create_scorer
from energy_ood.score import mahalanobis as M


def _data(n=3000, d=12, c=4, seed=0, scale=50.0):
    rng = np.random.default_rng(seed)
    means = rng.normal(0, scale, (c, d))  # far from the origin: centring matters
    y = rng.integers(0, c, n)
    z = (rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + means[y]).astype(np.float32)
    return z, y


def _plain(z, y):
    z64, yt = torch.from_numpy(z).double(), torch.from_numpy(y)
    mu = torch.stack([z64[yt == k].mean(0) for k in torch.unique(yt)])
    c = z64 - mu[yt]
    return mu, c.T @ c / len(z)


PATHS = {"cpu": M.class_moments, "torch (other devices)": M._class_moments_torch}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("rows", [7, 1000, 4096, 100_000])
def test_block_moments_equal_the_two_pass_formula(monkeypatch, rows, path):
    monkeypatch.setattr(M, "FIT_ROWS", rows)
    z, y = _data()
    mu, cov = PATHS[path](torch.from_numpy(z), torch.from_numpy(y), 4)
    want_mu, want_cov = _plain(z, y)
    assert torch.allclose(mu, want_mu, rtol=1e-13, atol=1e-12)
    assert torch.allclose(cov, want_cov, rtol=1e-11, atol=1e-10)


@pytest.mark.parametrize("kind", ["float64", "float16", "bfloat16", "strided"])
def test_cpu_moments_read_any_float_rows(kind):
    z, y = _data(scale=1.0)
    t = torch.from_numpy(z)
    if kind == "strided":  # every other column of a wider array: a non-contiguous view
        t = torch.from_numpy(np.repeat(z, 2, axis=1))[:, ::2]
        assert not t.is_contiguous()
    elif kind != "float64":
        t = t.to(getattr(torch, kind))
    else:
        t = t.double()
    mu, cov = M.class_moments(t, torch.from_numpy(y), 4)
    want_mu, want_cov = _plain(t.double().numpy(), y)
    assert torch.allclose(mu, want_mu, rtol=1e-13, atol=1e-12)
    assert torch.allclose(cov, want_cov, rtol=1e-11, atol=1e-10)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_fit_features_are_one_line(bad):
    z, y = _data()
    z[5, 3] = bad
    with pytest.raises(InputError, match="non-finite"):
        create_scorer("mahalanobis").fit(z, y)


def _expected(m, q):
    q = torch.as_tensor(q).double()
    w, mw = m.whiten.double(), m.means_w.double()
    d = torch.cdist(q @ w.T, mw).square().amin(1)  # the formula, in float64
    return -d.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_buffered_scores_match_the_formula_across_chunks_and_calls(monkeypatch, dtype):
    z, y = _data()
    m = create_scorer("mahalanobis").fit(z, y)
    q = _data(n=2500, seed=1)[0].astype(dtype)
    monkeypatch.setattr(m, "chunk_rows", 1000)  # 1000, 1000, 500: the last chunk is shorter
    first = m.score(q)
    assert first.dtype == dtype
    assert np.allclose(first, _expected(m, q), rtol=1e-4 if dtype == np.float32 else 1e-9)
    other = create_scorer("mahalanobis").fit(*_data(d=5, seed=2))  # other width: new buffers
    other.score(_data(n=300, d=5, seed=3)[0])
    assert np.array_equal(m.score(q), first)  # back to the first width: same numbers
    assert np.array_equal(m.score(q[:10]), first[:10])


def test_scores_are_right_from_several_threads_at_once():
    z, y = _data()
    m = create_scorer("mahalanobis").fit(z, y)
    qs = [_data(n=5000, seed=s)[0] for s in range(4)]
    want = [m.score(q) for q in qs]
    got = [None] * 4

    def run(i):
        for _ in range(5):
            got[i] = m.score(qs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
