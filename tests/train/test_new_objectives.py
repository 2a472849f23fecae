"""LogitNorm, MixOE, VOS and energy-scratch against independent computations of their papers'
formulas on fixed tensors (written here in float64 Python / numpy, apart from the code), and
VOS's sampler and queues against brute force and a list-based rendering of the authors' rules.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from energy_ood.score import create_scorer
from energy_ood.train.objectives import NetView, Step, create_objective
from energy_ood.train.objectives.mixoe import cutmix
from energy_ood.train.objectives.vos import neg_weighted_energy
from energy_ood.train.objectives.vos_sampling import (
    FeatureQueues,
    draw_virtual,
    gaussian_outliers,
    top_radii,
)

LOGITS = [[2.0, -1.0, 0.5], [0.1, 0.2, 0.3], [-3.0, 4.0, 1.0], [1.0, 1.0, -2.0]]
LABELS = [0, 2, 1, 0]


class Identity(nn.Module):
    """Logits = the input rows (inputs (n, K))."""

    def forward(self, x):
        return x


class Linear(nn.Module):
    """f(x) = W flatten(x) + b with fixed W, b; its features are flatten(x)."""

    def __init__(self, w, b):
        super().__init__()
        self.fc = nn.Linear(len(w[0]), len(w))
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor(w))
            self.fc.bias.copy_(torch.tensor(b))

    def features(self, x):
        return x.flatten(1)

    def forward(self, x):
        return self.fc(self.features(x))


def view(model, obj):
    return NetView(model, obj.needs, torch.device("cpu"))


def ce(row, y):
    """-log softmax(row)_y in float64."""
    return math.log(sum(math.exp(v) for v in row)) - row[y]


def soft_ce(row, target):
    lse = math.log(sum(math.exp(v) for v in row))
    return sum(-t * (v - lse) for v, t in zip(row, target))


# --- LogitNorm ----------------------------------------------------------------------------
def test_logitnorm_is_cross_entropy_of_norm_fixed_logits():
    tau = 0.04
    want = 0.0
    for row, y in zip(LOGITS, LABELS):
        norm = math.sqrt(sum(v * v for v in row)) + 1e-7
        want += ce([v / norm / tau for v in row], y) / len(LOGITS)
    obj = create_objective("logitnorm")
    assert obj.hp["tau"] == 0.04 and obj.stage == "scratch"
    x = torch.tensor(LOGITS, dtype=torch.float64)
    loss = obj.loss(Step(x, torch.tensor(LABELS), view(Identity(), obj)), 0)
    assert float(loss.detach()) == pytest.approx(want, rel=1e-6)  # the view gives float32 logits
    scaled = obj.loss(Step(7.5 * x, torch.tensor(LABELS), view(Identity(), obj)), 0)
    assert float(scaled.detach()) == pytest.approx(
        want, rel=1e-6
    )  # the logits' norm does not matter


# --- MixOE --------------------------------------------------------------------------------
W = [[0.5, -1.0, 0.25, 2.0], [-0.5, 1.5, 1.0, 0.0], [1.0, 0.5, -1.5, 0.5]]
B = [0.1, -0.2, 0.0]


def f(img):
    """The linear model's logits of a 2 x 2 image given as nested lists, float64."""
    v = [img[0][0], img[0][1], img[1][0], img[1][1]]
    return [sum(wk[j] * v[j] for j in range(4)) + bk for wk, bk in zip(W, B)]


def test_mixoe_mixup_loss_by_hand():
    g = torch.Generator().manual_seed(5)
    x_in = torch.randn(3, 1, 2, 2, generator=g, dtype=torch.float64)
    x_out = torch.randn(3, 1, 2, 2, generator=g, dtype=torch.float64)
    y = torch.tensor([2, 0, 1])
    lam, beta, k = 0.3, 5.0, 3
    want = 0.0
    for i in range(3):
        a, o = x_in[i, 0].tolist(), x_out[i, 0].tolist()
        mixed = [[lam * a[r][c] + (1 - lam) * o[r][c] for c in range(2)] for r in range(2)]
        target = [lam * (j == int(y[i])) + (1 - lam) / k for j in range(k)]
        want += (ce(f(a), int(y[i])) + beta * soft_ce(f(mixed), target)) / 3
    obj = create_objective("mixoe")
    assert (obj.hp["lam"], obj.alpha, obj.stage, obj.score) == (5.0, 1.0, "finetune", "msp")
    model = Linear(W, B).double()
    rand = torch.tensor([lam, 0.5, 0.5], dtype=torch.float64)
    loss = obj.loss(Step(x_in, y, view(model, obj), aux=x_out, rand=rand), 0)
    assert float(loss.detach()) == pytest.approx(want, rel=1e-6)


def test_cutmix_box_as_the_authors_rand_bbox():
    """One box pasted from the outliers, sides int(side * sqrt(1 - lam)), centre at the drawn
    row / column, clipped; lam becomes the ID fraction of the pixels."""
    h = w = 8
    x, xo = torch.zeros(2, 1, h, w), torch.ones(2, 1, h, w)
    for lam, cr, cc in [(0.5, 3, 6), (0.9, 0, 0), (0.1, 7, 2)]:
        cut = int(h * math.sqrt(1 - lam))
        r1, r2 = np.clip([cr - cut // 2, cr + cut // 2], 0, h)
        c1, c2 = np.clip([cc - cut // 2, cc + cut // 2], 0, w)
        want = np.zeros((h, w))
        want[r1:r2, c1:c2] = 1
        u = torch.tensor([(cr + 0.5) / h, (cc + 0.5) / w])
        mixed, new_lam = cutmix(x, xo, torch.tensor(lam), u[0], u[1])
        assert np.array_equal(mixed[1, 0].numpy(), want)
        assert float(new_lam) == pytest.approx(1 - (r2 - r1) * (c2 - c1) / (h * w))


def test_mixoe_ratio_is_beta_distributed():
    for mix, alpha in (("mixup", 1.0), ("cutmix", 2.0)):
        obj = create_objective("mixoe", mix=mix)
        g = torch.Generator().manual_seed(0)
        lams = [float(obj.draw(g, 4, 4)[0]) for _ in range(2000)]
        assert obj.alpha == alpha
        assert stats.kstest(lams, stats.beta(alpha, alpha).cdf).pvalue > 1e-3


# --- VOS ----------------------------------------------------------------------------------
def test_vos_uncertainty_loss_by_hand():
    """CE(f(x), y) + beta * mean over [ID; virtual] of the logistic regression's cross-entropy
    on -E_w, ID label 1, virtual label 0, with -E_w = log sum_k relu(w_k) exp(f_k)."""
    k, d = 3, 4
    obj = create_objective("vos", queue_size=2, sample_from=50, start_epoch=0)
    model = Linear(W, B).double()
    obj.build(model, seed=0)
    obj.module.double()
    w = [0.7, -0.2, 1.3]  # a negative weight: relu makes it 0
    a, b = [[0.4], [-1.1]], [0.3, 0.2]
    with torch.no_grad():
        obj.module.class_weights.copy_(torch.tensor(w))
        obj.module.phi.weight.copy_(torch.tensor(a))
        obj.module.phi.bias.copy_(torch.tensor(b))
    g = torch.Generator().manual_seed(1)
    queue = torch.randn(k, 2, d, generator=g, dtype=torch.float64)
    obj.queues.buf = torch.zeros(k, 3, d, dtype=torch.float64)
    obj.queues.load({"queue": queue, "count": torch.full((k,), 2), "ptr": torch.zeros(k).long()})
    x = torch.randn(4, 1, 2, 2, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1])
    rand = draw_virtual(torch.Generator().manual_seed(2), k, 1, 50, d).double()

    def neg_e(row):
        return math.log(sum(max(wk, 0.0) * math.exp(fk) for wk, fk in zip(w, row)))

    def nll(e, label):
        z = [a[0][0] * e + b[0], a[1][0] * e + b[1]]
        return ce(z, label)

    id_rows = [f(xi[0].tolist()) for xi in x]
    obj.begin_epoch(0, 10)
    # the step's own features enter the (already full) queues first; the queue used is then
    # the authors': the newest features of each class
    step = Step(x, y, view(model, obj), rand=rand, gather=lambda t, *a, **kw: t)
    q_after = queue.clone()
    for i, c in enumerate(y.tolist()):
        q_after[c] = torch.cat([q_after[c][1:], x[i].flatten()[None]])
    v = _virtual_by_hand(q_after.numpy(), rand.numpy())
    virt_rows = [[sum(wk[j] * vi[j] for j in range(4)) + bk for wk, bk in zip(W, B)] for vi in v]
    unc = (sum(nll(neg_e(r), 1) for r in id_rows) + sum(nll(neg_e(r), 0) for r in virt_rows)) / 7
    want = sum(ce(r, int(t)) for r, t in zip(id_rows, y)) / 4 + 0.1 * unc
    assert float(obj.loss(step, 0).detach()) == pytest.approx(want, rel=1e-6)


def _virtual_by_hand(queue: np.ndarray, rand: np.ndarray) -> list[list[float]]:
    """Class means, the shared covariance of the centred queues (divided by their count) +
    1e-4 I, its Cholesky factor L; virtual point of class k: mu_k + r L d."""
    k, q, d = queue.shape
    mu = queue.mean(1)
    x = (queue - mu[:, None]).reshape(-1, d)
    cov = x.T @ x / (k * q) + 1e-4 * np.eye(d)
    chol = np.linalg.cholesky(cov)
    return [list(mu[i] + rand[i, 0] * chol @ rand[i, 1:]) for i in range(k)]


def test_gaussian_outliers_match_numpy():
    g = torch.Generator().manual_seed(3)
    queue = torch.randn(4, 6, 5, generator=g, dtype=torch.float64)
    rand = draw_virtual(g, 4, 1, 100, 5).double()
    got = gaussian_outliers(queue, rand, 1).numpy()
    np.testing.assert_allclose(got, _virtual_by_hand(queue.numpy(), rand.numpy()), rtol=1e-10)


@pytest.mark.parametrize("select", [1, 2])
def test_least_likely_draws_match_brute_force(select):
    """The kept radii are distributed as the largest ||e|| of n draws of N(0, I): brute force
    (draw n, keep the top ``select``) against the order-statistics sampler, two-sample KS."""
    n, d, reps = 200, 8, 3000
    g = torch.Generator().manual_seed(4)
    brute = torch.randn(reps, n, d, generator=g).norm(dim=2).topk(select, dim=1).values
    fast = top_radii(torch.rand(reps, select, generator=g, dtype=torch.float64), n, d)
    for j in range(select):
        assert stats.ks_2samp(brute[:, j].numpy(), fast[:, j].numpy()).pvalue > 1e-3
    assert bool((fast[:, :-1] >= fast[:, 1:]).all())  # decreasing within a row


def test_lowest_likelihood_is_largest_radius():
    """Among draws mu + L e of one Gaussian, log-density order is the order of ||e||."""
    d = 5
    g = torch.Generator().manual_seed(6)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    cov = a @ a.T + torch.eye(d, dtype=torch.float64)
    mvn = torch.distributions.MultivariateNormal(torch.zeros(d, dtype=torch.float64), cov)
    e = torch.randn(500, d, generator=g, dtype=torch.float64)
    pts = e @ torch.linalg.cholesky(cov).T
    assert int(mvn.log_prob(pts).argmin()) == int(e.norm(dim=1).argmax())


def test_queues_follow_the_authors_rules():
    """Per class: fill in arrival order (a full class drops more) until every class is full,
    then each feature replaces its class's oldest; compared with lists."""
    k, q = 3, 4
    qs = FeatureQueues(k, q, 2, "cpu")
    ref = {c: [] for c in range(k)}
    g = torch.Generator().manual_seed(7)
    serial = 0
    for _ in range(12):
        y = torch.randint(0, k, (int(torch.randint(1, 9, (1,), generator=g)),), generator=g)
        z = torch.stack([torch.tensor([float(serial + i), 0.0]) for i in range(len(y))])
        serial += len(y)
        was_full = all(len(v) == q for v in ref.values())
        assert bool(qs.push(z, y)) == was_full
        for zi, c in zip(z, y.tolist()):
            if was_full:
                ref[c] = ref[c][1:] + [float(zi[0])]
            elif len(ref[c]) < q:
                ref[c].append(float(zi[0]))
        for c in range(k):
            got = sorted(qs.features[c, : int(qs.count[c]), 0].tolist())
            assert got == sorted(ref[c])


def test_weighted_ebo_reads_vos_class_weights():
    logits = torch.tensor(LOGITS)
    w = torch.tensor([0.5, 0.0, 2.0])
    sc = create_scorer("weighted_ebo").fit(None, class_weights=w.numpy())
    np.testing.assert_allclose(sc.score(logits), neg_weighted_energy(logits, w).numpy(), rtol=1e-6)


# --- energy from scratch ------------------------------------------------------------------
def test_energy_scratch_loss_by_hand():
    obj = create_objective("energy-scratch")
    assert (obj.hp["m_in"], obj.hp["m_out"], obj.hp["lam"], obj.stage) == (
        -23.0, -5.0, 0.1, "scratch")  # fmt: skip
    obj = create_objective("energy-scratch", m_in=-2.0, m_out=-0.5)
    x_in = torch.tensor(LOGITS, dtype=torch.float64)
    x_out = torch.tensor([[0.0, 0.1, -0.1], [3.0, 0.0, 0.0]], dtype=torch.float64)

    def energy(row):
        return -math.log(sum(math.exp(v) for v in row))

    ce_part = sum(ce(r, y) for r, y in zip(LOGITS, LABELS)) / 4
    hinge_in = sum(max(0.0, energy(r) + 2.0) ** 2 for r in LOGITS) / 4
    hinge_out = sum(max(0.0, -0.5 - energy(r)) ** 2 for r in x_out.tolist()) / 2
    want = ce_part + 0.1 * (hinge_in + hinge_out)
    step = Step(x_in, torch.tensor(LABELS), view(Identity(), obj), aux=x_out)
    assert float(obj.loss(step, 0).detach()) == pytest.approx(want, rel=1e-6)
