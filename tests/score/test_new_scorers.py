"""Each new scorer against an independent computation written here (numpy / scipy loops,
autograd), on small random data."""

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp, softmax
from scipy.stats import entropy as kl_div

from energy_ood._validate import InputError
from energy_ood.score import create_scorer
from energy_ood.score.functional import entropy_score
from energy_ood.score.odin import odin_perturb

RNG = np.random.default_rng(0)
K, D = 6, 20
LOGITS = RNG.normal(0, 2, (40, K))
H = np.maximum(RNG.normal(0.5, 1.0, (40, D)), 0)  # post-ReLU features
W = RNG.normal(0, 1, (K, D))
B = RNG.normal(0, 0.5, K)


def energy(logits):
    return logsumexp(logits, axis=1)


def test_entropy():
    p = softmax(LOGITS, axis=1)
    want = (p * np.log(p)).sum(1)
    assert create_scorer("entropy").score(LOGITS) == pytest.approx(want, rel=1e-9)
    # in the functional form a -inf logit is a probability of 0 and contributes 0; the scorer
    # refuses it, as it refuses inf (issue 18)
    x = np.array([[0.0, 0.0, -np.inf]])
    assert entropy_score(torch.from_numpy(x))[0].item() == pytest.approx(-math.log(2))
    with pytest.raises(InputError, match="non-finite value"):
        create_scorer("entropy").score(x)


@pytest.mark.parametrize("gamma,M", [(0.1, 100), (0.5, 3)])
def test_gen(gamma, M):
    p = np.sort(softmax(LOGITS, axis=1), axis=1)[:, ::-1][:, : min(M, K)]
    want = -(p**gamma * (1 - p) ** gamma).sum(1)
    assert create_scorer("gen", gamma=gamma, M=M).score(LOGITS) == pytest.approx(want, rel=1e-9)


def test_weighted_ebo():
    w = np.array([0.5, 2.0, -1.0, 0.0, 1.0, 3.0])  # negatives are clipped to 0 (ReLU)
    want = np.log((np.maximum(w, 0) * np.exp(LOGITS)).sum(1))
    sc = create_scorer("weighted_ebo").fit(class_weights=w)
    assert sc.score(LOGITS) == pytest.approx(want, rel=1e-6)
    assert sc.n_features_in_ == K


def test_temperature_scaling_minimises_validation_nll():
    y = np.where(RNG.random(40) < 0.7, LOGITS.argmax(1), RNG.integers(0, K, 40))
    temps = np.exp(np.linspace(np.log(0.05), np.log(20), 4001))

    def nll(T):
        z = LOGITS / T
        return np.mean(logsumexp(z, axis=1) - z[np.arange(40), y])

    best = temps[np.argmin([nll(T) for T in temps])]
    sc = create_scorer("temp_scaling").fit(LOGITS, y)
    T = float(sc.temperature)
    assert T == pytest.approx(best, rel=2e-3)
    assert nll(T) <= nll(best) + 1e-9
    assert sc.score(LOGITS) == pytest.approx(softmax(LOGITS / T, axis=1).max(1), rel=1e-6)


def test_kl_matching():
    fit = RNG.normal(0, 2, (300, K))
    fit[:, 5] -= 100  # class 5 is never predicted: its template is the mean posterior
    p_fit, pred = softmax(fit, axis=1), fit.argmax(1)
    templates = np.array(
        [p_fit[pred == k].mean(0) if (pred == k).any() else p_fit.mean(0) for k in range(K)]
    )
    x = LOGITS.copy()
    x[0, 5] = 50  # predicted as the never-predicted class
    p = softmax(x, axis=1)
    want = [-kl_div(p[i], np.maximum(templates[x[i].argmax()], 1e-30)) for i in range(len(x))]
    got = create_scorer("kl_matching").fit(fit).score(x)
    assert got == pytest.approx(want, rel=1e-4, abs=1e-6)


def _keep_top(h, percentile):
    """The authors' ASH code keeps the k = n - round(n p / 100) largest entries per sample."""
    n = h.shape[1]
    k = n - int(round(n * percentile / 100))
    mask = np.zeros_like(h, dtype=bool)
    for i, row in enumerate(h):
        mask[i, np.argsort(row)[::-1][:k]] = True
    return mask, k


@pytest.mark.parametrize("p", [65.0, 90.0])
def test_ash_and_scale(p):
    mask, k = _keep_top(H, p)
    s1 = H.sum(1, keepdims=True)
    pruned = np.where(mask, H, 0.0)
    s2 = pruned.sum(1, keepdims=True)
    shaped = {
        "ash_p": pruned,
        "ash_b": np.where(mask, s1 / k, 0.0),
        "ash_s": pruned * np.exp(s1 / s2),
        "scale": H * np.exp(s1 / s2),
    }
    for name, h2 in shaped.items():
        sc = create_scorer(name, percentile=p).fit(weight=W, bias=B)
        assert sc.score(H) == pytest.approx(energy(h2 @ W.T + B), rel=1e-9), name
    msp = create_scorer("ash_s+msp", percentile=p, T=2.0).fit(weight=W, bias=B).score(H)
    assert msp == pytest.approx(softmax((shaped["ash_s"] @ W.T + B) / 2, axis=1).max(1), rel=1e-9)


def test_dice():
    fit = np.maximum(RNG.normal(0.5, 1.0, (100, D)), 0)
    contrib = fit.mean(0)[None, :] * W
    w2 = np.where(contrib > np.percentile(contrib, 80), W, 0.0)
    sc = create_scorer("dice", sparsity=80).fit(fit, weight=W, bias=B)
    assert (sc.weight.numpy() != 0).mean() == pytest.approx(0.2, abs=0.01)
    assert sc.score(H) == pytest.approx(energy(H @ w2.T + B), rel=1e-6)


def test_react_composes_with_any_logit_score():
    fit = np.maximum(RNG.normal(0.5, 1.0, (100, D)), 0)
    c = np.percentile(fit, 85)
    logits = np.minimum(H, c) @ W.T + B
    sc = create_scorer("react+gen", percentile=85, gamma=0.5).fit(fit, weight=W, bias=B)
    p = softmax(logits, axis=1)
    assert sc.score(H) == pytest.approx(-(p**0.5 * (1 - p) ** 0.5).sum(1), rel=1e-6)
    assert sc.name == "react+gen"
    base = create_scorer("react", percentile=85).fit(fit, weight=W, bias=B)
    assert base.score(H) == pytest.approx(energy(logits), rel=1e-6)


def test_she():
    y0 = np.arange(400) % K  # every class is predicted for some training samples
    fit = np.maximum(RNG.normal(0.5, 1.0, (400, D)) + 2 * W[y0], 0)
    pred = (fit @ W.T + B).argmax(1)
    y = np.where(RNG.random(400) < 0.8, pred, RNG.integers(0, K, 400))
    ok = pred == y
    patterns = np.stack([fit[ok & (y == k)].mean(0) for k in range(K)])
    want = [H[i] @ patterns[(H[i] @ W.T + B).argmax()] for i in range(len(H))]
    sc = create_scorer("she").fit(fit, y, weight=W, bias=B)
    assert sc.score(H) == pytest.approx(want, rel=1e-5)


def test_nnguide():
    fit = np.maximum(RNG.normal(0.5, 1.0, (150, D)), 0)
    unit = fit / np.linalg.norm(fit, axis=1, keepdims=True)
    bank = unit * energy(fit @ W.T + B)[:, None]
    q = H / np.linalg.norm(H, axis=1, keepdims=True)
    sims = np.sort(q @ bank.T, axis=1)[:, ::-1][:, :7]
    want = energy(H @ W.T + B) * sims.mean(1)
    sc = create_scorer("nnguide", k=7).fit(fit, weight=W, bias=B)
    assert sc.score(H) == pytest.approx(want, rel=1e-4)


def test_fdbd():
    fit = np.maximum(RNG.normal(0.5, 1.0, (100, D)), 0)
    mu = fit.mean(0)
    want = []
    for h in H:
        f = h @ W.T + B
        c_hat = f.argmax()
        d = [abs(f[c_hat] - f[c]) / np.linalg.norm(W[c_hat] - W[c]) for c in range(K) if c != c_hat]
        want.append(np.mean(d) / np.linalg.norm(h - mu))
    sc = create_scorer("fdbd").fit(fit, weight=W, bias=B)
    assert sc.score(H) == pytest.approx(want, rel=1e-5)


def test_residual_and_vim_share_the_subspace():
    fit = np.maximum(RNG.normal(0.5, 1.0, (300, D)), 0)
    origin = -np.linalg.pinv(W) @ B
    x = fit - origin
    _, vecs = np.linalg.eigh(x.T @ x / len(x))
    null = vecs[:, : D - 8]
    resid = np.linalg.norm((H - origin) @ null, axis=1)
    res = create_scorer("residual", dim=8).fit(fit, weight=W, bias=B)
    assert res.score(H) == pytest.approx(-resid, rel=1e-4)
    alpha = (fit @ W.T + B).max(1).mean() / np.linalg.norm(x @ null, axis=1).mean()
    vim = create_scorer("vim", dim=8).fit(fit, weight=W, bias=B)
    assert vim.score(H) == pytest.approx(energy(H @ W.T + B) - alpha * resid, rel=1e-4)


def test_gradnorm_is_the_l1_norm_of_the_kl_gradient():
    want = []
    for h in torch.as_tensor(H):
        w = torch.as_tensor(W).clone().requires_grad_(True)
        logp = torch.log_softmax(w @ h + torch.as_tensor(B), dim=0)
        u = torch.full((K,), 1.0 / K, dtype=logp.dtype)
        kl = (u * (u.log() - logp)).sum()  # KL(u || softmax(f))
        (g,) = torch.autograd.grad(kl, w)
        want.append(float(g.abs().sum()))
    assert create_scorer("gradnorm").fit(weight=W, bias=B).score(H) == pytest.approx(want, rel=1e-9)


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 5, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(5, 4),
    ).eval()  # fmt: skip


def test_odin_step_is_divided_by_the_std():
    net, x, std = _net(), torch.randn(6, 3, 8, 8), [0.2, 0.5, 1.0]
    T, eps = 100.0, 0.01
    xr = x.clone().requires_grad_(True)
    loss = -torch.log_softmax(net(xr) / T, 1).amax(1).sum()  # -log S_max, summed
    (g,) = torch.autograd.grad(loss, xr)
    xp = x - eps * g.sign() / torch.tensor(std).view(1, 3, 1, 1)
    want = torch.softmax(net(xp) / T, 1).amax(1).detach().numpy()
    sc = create_scorer("odin", T=T, eps=eps).fit(model=net, std=std)
    assert sc.std == std
    assert sc.score(x) == pytest.approx(want, rel=1e-6)
    assert torch.allclose(odin_perturb(net, x, T, eps, std), xp, atol=1e-7)
    plain = create_scorer("odin", T=T, eps=eps, model=net).score(x)  # eps in input units
    xq = x - eps * g.sign()
    assert plain == pytest.approx(torch.softmax(net(xq) / T, 1).amax(1).detach().numpy(), rel=1e-6)


def test_rankfeat_removes_the_rank1_part_of_the_chosen_map():
    net, x = _net(), torch.randn(6, 3, 8, 8)
    with torch.no_grad():
        maps = net[0](x).numpy()
    want = []
    for m in maps:
        mat = m.reshape(5, 64).astype(np.float64)
        u, s, vt = np.linalg.svd(mat, full_matrices=False)
        rest = (mat - s[0] * np.outer(u[:, 0], vt[0])).reshape(5, 8, 8)
        z = np.maximum(rest, 0).mean(axis=(1, 2))
        f = z @ net[4].weight.detach().numpy().T + net[4].bias.detach().numpy()
        want.append(logsumexp(f))
    sc = create_scorer("rankfeat", layer="0").fit(model=net)
    assert sc.score(x) == pytest.approx(want, rel=1e-4)
    auto = create_scorer("rankfeat", model=net)  # default: the last map larger than 1 x 1
    assert auto.score(x) is not None and auto.chosen_layers() == ("1",)
