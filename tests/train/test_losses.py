import math

import pytest
import torch

from energy_ood.train import (
    center_mask,
    cosine_lr,
    energy_bounded_loss,
    outlier_exposure_loss,
    rotate_batch,
    single_margin_loss,
)


def E(row):
    return -math.log(sum(math.exp(v) for v in row))


IN = torch.tensor([[3.0, 0.0], [0.0, 0.0]])
OUT = torch.tensor([[1.0, 1.0], [-2.0, -2.0], [5.0, 0.0]])


def test_energy_bounded_by_hand():
    m_in, m_out = -2.0, -1.0
    ein = [E(r) for r in IN.tolist()]  # -3.049, -0.693
    eout = [E(r) for r in OUT.tolist()]  # -1.693, 1.307, -5.007
    want = (
        sum(max(0, e - m_in) ** 2 for e in ein) / 2 + sum(max(0, m_out - e) ** 2 for e in eout) / 3
    )
    assert float(energy_bounded_loss(IN, OUT, m_in, m_out)) == pytest.approx(want)


def test_single_margin_by_hand():
    m = 1.0
    ein = [E(r) for r in IN.tolist()]
    eout = [E(r) for r in OUT.tolist()]
    want = sum(max(0, a - b + m) for a in ein for b in eout) / (len(ein) * len(eout))
    assert float(single_margin_loss(IN, OUT, m)) == pytest.approx(want)


def test_single_margin_uses_every_outlier():
    """An outlier beyond the first n_in rows changes the loss (all 128 x 256 pairs count)."""
    g = torch.Generator().manual_seed(0)
    lin, lout = torch.randn(128, 10, generator=g), torch.randn(256, 10, generator=g)
    base = single_margin_loss(lin, lout, 2.0)
    moved = lout.clone()
    moved[200] += 5.0  # a much more ID-like (lower-energy) outlier among the last 128
    assert float(single_margin_loss(lin, moved, 2.0)) > float(base)
    lout.requires_grad_(True)
    single_margin_loss(lin, lout, 2.0).backward()
    assert (lout.grad.abs().sum(1) > 0).sum() > 200  # gradients reach the last outliers too


def test_oe_is_cross_entropy_to_uniform():
    want = (
        sum(
            -sum(math.log(math.exp(v) / sum(math.exp(u) for u in r)) for v in r) / len(r)
            for r in OUT.tolist()
        )
        / 3
    )
    assert float(outlier_exposure_loss(OUT)) == pytest.approx(want)
    uniform = torch.full((2, 4), 0.3)
    assert float(outlier_exposure_loss(uniform)) == pytest.approx(math.log(4))


def test_rotation_and_mask():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(4, 1, 1, 1)
    r = rotate_batch(x, torch.tensor([0, 1, 2, 3]))
    assert torch.equal(r[0], x[0]) and torch.equal(r[2], torch.rot90(x[2], 2, (1, 2)))
    assert torch.equal(rotate_batch(r, torch.tensor([0, 3, 2, 1])), x)
    g = torch.Generator().manual_seed(0)
    img = torch.ones(8, 1, 32, 32)
    m = center_mask(img, g)
    zeros = (m == 0).flatten(1).sum(1)
    assert (zeros == 256).all()  # a 16x16 square each
    rows = (m[:, 0] == 0).any(2)
    assert not rows[:, :5].any() and not rows[:, 27:].any()  # inside the central 21x21


def test_cosine_schedule():
    assert cosine_lr(0, 100, 0.1) == pytest.approx(0.1)
    assert cosine_lr(50, 100, 0.1) == pytest.approx(0.05 + 0.5e-6, rel=1e-4)
    assert cosine_lr(100, 100, 0.1) == pytest.approx(1e-6)
