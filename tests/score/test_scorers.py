"""Each scorer against a hand computation on a tiny example."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from energy_ood._validate import InputError
from energy_ood.score import ModelAdapter, available_scorers, create_scorer

LOGITS = np.array([[2.0, 0.0, 0.0], [1.0, 1.0, 1.0]])


def lse(row, T=1.0):
    return T * math.log(sum(math.exp(v / T) for v in row))


def test_registry_names():
    for n in [
        "msp",
        "maxlogit",
        "energy",
        "self_normalized_energy",
        "odin",
        "mahalanobis",
        "react",
        "knn",
        "vim",
    ]:
        assert n in available_scorers()
    with pytest.raises(InputError, match="unknown scorer"):
        create_scorer("nope")


@pytest.mark.parametrize("T", [1.0, 2.0])
def test_logit_scorers_by_hand(T):
    e = create_scorer("energy", T=T).score(LOGITS)
    assert e == pytest.approx([lse(r, T) for r in LOGITS])
    p = create_scorer("msp", T=T).score(LOGITS)
    assert p[0] == pytest.approx(math.exp(2 / T) / (math.exp(2 / T) + 2))
    assert p[1] == pytest.approx(1 / 3)
    assert create_scorer("maxlogit").score(LOGITS).tolist() == [2.0, 1.0]


def test_self_normalized_energy_collapses():
    rng = np.random.default_rng(0)
    s = create_scorer("self_normalized_energy").score(rng.normal(0, 5, (100, 10)))
    assert np.abs(s).max() < 1e-5


def test_chunking_matches_and_memmap(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 7)).astype(np.float32)
    np.save(tmp_path / "l.npy", x)
    mm = np.load(tmp_path / "l.npy", mmap_mode="r")
    sc = create_scorer("energy")
    full = sc.score(x)
    sc.chunk_rows = 33
    assert np.allclose(sc.score(mm), full)


@pytest.mark.parametrize(
    "bad,msg",
    [(np.ones(3), "2-D"), (np.ones((0, 3)), "empty"), (np.array([[np.nan, 1.0]]), "non-finite")],
)
def test_logit_bad_input(bad, msg):
    with pytest.raises(InputError, match=msg):
        create_scorer("energy").score(bad)


def test_mahalanobis_by_hand():
    # two classes, identity-like covariance after fit on symmetric points
    z = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [11, 0], [9, 0], [10, 1], [10, -1]], float)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    m = create_scorer("mahalanobis", ridge=0.0).fit(z, y)
    # tied covariance: diag(0.5, 0.5) -> distance = 2 * squared Euclidean
    s = m.score(np.array([[0.0, 0.0], [3.0, 0.0], [10.0, 2.0]]))
    assert s == pytest.approx([0.0, -18.0, -8.0], abs=1e-4)
    with pytest.raises(InputError, match="columns"):
        m.score(np.ones((2, 3)))


def test_mahalanobis_float32_on_an_ill_conditioned_covariance_far_from_the_origin():
    # 5 classes far from the origin, a covariance with variances from 1 to 1e-6: ||W z||^2 is
    # about 1e9 while the distances are about 100, so the expansion ||Wz||^2 - 2 Wz.Wmu +
    # ||Wmu||^2 alone loses them in float32; the score must stay close to the float64 truth
    rng = np.random.default_rng(0)
    d, k = 24, 5
    rot = np.linalg.qr(rng.standard_normal((d, d)))[0]
    sd = np.logspace(0, -3, d)
    means = 30.0 + rng.normal(0, 3.0, (k, d))
    y = np.arange(4000) % k
    z = (means[y] + (rng.standard_normal((4000, d)) * sd) @ rot.T).astype(np.float32)
    q = means[np.arange(500) % k] + (rng.standard_normal((500, d)) * 2 * sd) @ rot.T
    q = q.astype(np.float32)
    s = create_scorer("mahalanobis", ridge=0.0).fit(z, y).score(q)
    z64, q64 = z.astype(np.float64), q.astype(np.float64)
    mu = np.stack([z64[y == c].mean(0) for c in range(k)])
    cov = np.cov((z64 - mu[y]).T, bias=True)
    prec = np.linalg.inv(cov)
    dist = np.stack([np.einsum("ij,jk,ik->i", q64 - m, prec, q64 - m) for m in mu], 1).min(1)
    assert np.max(np.abs(-s - dist)) / np.max(dist) < 5e-3  # the expansion alone: about 8


def test_react_by_hand():
    feats = np.arange(10, dtype=float).reshape(5, 2)  # values 0..9, 50th percentile = 4.5
    w, b = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0.0, 1.0])
    r = create_scorer("react", percentile=50).fit(feats, weight=w, bias=b)
    s = r.score(np.array([[9.0, 1.0]]))  # clipped to (4.5, 1) -> logits (4.5, 2)
    assert s[0] == pytest.approx(lse([4.5, 2.0]))


def test_knn_by_hand():
    bank = np.array([[1, 0], [0, 1], [-1, 0]], float)
    k = create_scorer("knn", k=2).fit(bank)
    s = k.score(np.array([[2.0, 0.0]]))  # neighbours at distance 0 and sqrt(2)
    assert s[0] == pytest.approx(-math.sqrt(2), abs=1e-6)


def test_vim_by_hand():
    # features in 3-D, ID data near the plane z3 = 0; head with zero bias -> origin 0
    rng = np.random.default_rng(0)
    feats = np.c_[rng.normal(size=(2000, 2)), rng.choice([-0.01, 0.01], 2000)]
    w = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    v = create_scorer("vim", dim=2).fit(feats, weight=w, bias=np.zeros(2))
    x = np.array([[1.0, 2.0, 0.0], [1.0, 2.0, 3.0]])
    alpha = float(v.alpha)
    s = v.score(x)
    logits = feats @ w.T
    assert alpha == pytest.approx(logits.max(1).mean() / 0.01, rel=1e-2)
    assert s[0] == pytest.approx(lse([1.0, 2.0]), abs=alpha * 0.01)
    assert s[1] == pytest.approx(lse([1.0, 2.0]) - alpha * 3.0, rel=1e-3)


def _tiny_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def test_odin_by_hand():
    net = _tiny_net()
    x = torch.randn(5, 4)
    T, eps = 10.0, 0.01
    xr = x.clone().requires_grad_(True)
    lo = net(xr)
    logp = torch.log_softmax(lo / T, 1).amax(1).sum()
    (g,) = torch.autograd.grad(logp, xr)
    xp = x + eps * g.sign()  # x - eps * sign(-grad log S)
    expected = torch.softmax(net(xp) / T, 1).amax(1).detach().double().numpy()
    got = create_scorer("odin", model=net, T=T, eps=eps).score(x)
    assert got == pytest.approx(expected, abs=1e-6)
    with pytest.raises(InputError, match="needs the model"):
        create_scorer("odin").score(x)


def test_adapter_and_mahalanobis_preprocessing():
    net = _tiny_net()
    ad = ModelAdapter(net)
    x = torch.randn(20, 4)
    logits, feats = ad.extract(x, batch_size=7)
    assert feats.shape == (20, 8)
    assert torch.allclose(feats @ ad.weight.T + ad.bias, logits, atol=1e-5)
    labels = logits.argmax(1)
    m0 = create_scorer("mahalanobis").fit(feats, labels)
    m1 = create_scorer("mahalanobis_pre", eps=0.01).fit(feats, labels, model=net)
    assert torch.equal(m1.whiten, m0.whiten)
    # pre-processing moves inputs towards the closest mean: scores rise on average
    assert m1.score(x).mean() > m0.score(feats).mean()
    assert create_scorer("mahalanobis_pre", eps=0.0).fit(feats, labels, model=net).score(
        x
    ) == pytest.approx(m0.score(feats), rel=1e-5)
    with pytest.raises(InputError, match="no submodule"):
        ModelAdapter(net, head="classifier")
