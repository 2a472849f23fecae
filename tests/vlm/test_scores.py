"""Vision-language scores against hand computations on a small similarity matrix."""

import math

import numpy as np
import pytest
import torch

from energy_ood._validate import InputError
from energy_ood.score import create_scorer
from energy_ood.vlm import ebm_loss
from energy_ood.vlm import functional as F
from energy_ood.vlm.ebm import mask_words

# row 0: one dominant match (closed-set image); row 1: flat similarities (open-set image)
SIM = np.array([[0.30, 0.10, 0.05], [0.18, 0.17, 0.16]])


def lse(row, scale=1.0):
    return math.log(sum(math.exp(scale * v) for v in row))


def test_mcm_by_hand():
    s = create_scorer("mcm").score(SIM)
    for i, row in enumerate(SIM):
        assert s[i] == pytest.approx(math.exp(max(row)) / sum(math.exp(v) for v in row))
    s2 = create_scorer("mcm", tau=0.5).score(SIM)
    assert s2[0] == pytest.approx(math.exp(0.6) / sum(math.exp(2 * v) for v in SIM[0]))


def test_clip_logit_scores_by_hand():
    ls = 100.0
    e = create_scorer("clip_energy", logit_scale=ls).score(SIM)
    assert e == pytest.approx([lse(r, ls) for r in SIM])
    m = create_scorer("clip_maxlogit").score(SIM)
    assert m == pytest.approx([30.0, 18.0])
    p = create_scorer("clip_msp").score(SIM)
    assert p[1] == pytest.approx(math.exp(18) / sum(math.exp(100 * v) for v in SIM[1]))


@pytest.mark.parametrize("c,floor", [(1, 0.0), (2, 0.0), (1, -1.0), (2, 0.12)])
def test_delta_energy_by_hand(c, floor):
    ls = 100.0
    s = create_scorer("delta_energy", c=c, floor=floor, logit_scale=ls).score(SIM)
    for i, row in enumerate(SIM):
        cropped = sorted(row)[: len(row) - c] + [floor] * c  # top-c set to the floor
        e_full = -lse(row, ls) / ls  # E(s) = -tau logsumexp(s / tau), tau = 1 / 100
        e_crop = -lse(cropped, ls) / ls
        assert s[i] == pytest.approx(e_crop - e_full, rel=1e-5, abs=1e-7)


def test_delta_energy_peaked_above_flat():
    s = create_scorer("delta_energy").score(SIM)
    assert s[0] > s[1] > 0  # higher = ID: the dominant match costs more energy to remove
    # and the same holds for MCM and energy on this example, the ranking the paper relies on
    for name in ("mcm", "clip_energy", "clip_msp"):
        t = create_scorer(name).score(SIM)
        assert t[0] > t[1]


def test_delta_energy_tau_equals_logit_scale():
    a = create_scorer("delta_energy", tau=0.01).score(SIM)
    b = create_scorer("delta_energy", logit_scale=100.0).score(SIM)
    assert np.allclose(a, b)
    with pytest.raises(InputError, match="not both"):
        create_scorer("delta_energy", tau=0.01, logit_scale=100.0)


def test_vectorized_matches_naive_on_random_rows():
    g = torch.Generator().manual_seed(0)
    sim = torch.rand(500, 37, generator=g) * 2 - 1
    for c in (1, 3):
        got = F.delta_energy_score(sim, c, 0.0, 100.0)
        crop = sim.clone()
        crop.scatter_(1, sim.topk(c, 1).indices, 0.0)
        want = torch.logsumexp(100 * sim.double(), 1) - torch.logsumexp(100 * crop.double(), 1)
        assert torch.allclose(got.double(), want / 100, atol=1e-5)


def test_label_delta_energy_is_a_lower_bound():
    g = torch.Generator().manual_seed(1)
    sim = torch.rand(200, 6, generator=g)
    labels = torch.randint(0, 6, (200,), generator=g)
    low = F.label_delta_energy(sim, labels)
    full = F.delta_energy_score(sim)
    assert (low <= full + 1e-6).all()
    top = sim.argmax(1)
    assert torch.allclose(F.label_delta_energy(sim, top), full, atol=1e-6)


def test_similarity_input_checks():
    with pytest.raises(InputError, match="cosine similarities"):
        create_scorer("mcm").score(SIM * 10)  # logits, not cosines
    with pytest.raises(InputError, match="c=4 exceeds the 3 classes"):
        create_scorer("delta_energy", c=4).score(SIM)
    with pytest.raises(InputError, match="non-finite"):
        create_scorer("clip_energy").score(np.array([[0.1, np.nan]]))
    with pytest.raises(InputError, match="integer >= 1"):
        create_scorer("delta_energy", c=0)


def test_ebm_loss_by_hand():
    sim = torch.tensor([[0.30, 0.10, 0.05], [0.18, 0.17, 0.16]])
    labels = torch.tensor([0, 2])
    masked = torch.tensor([[0.20, 0.10, 0.05], [0.17, 0.17, 0.16]])
    ls, margin = 100.0, 10.0
    d_y = ls * F.label_delta_energy(sim, labels, 0.0, ls)
    d_m = ls * F.delta_energy_score(masked, 1, 0.0, ls)
    sp = torch.nn.functional.softplus
    want = sp(margin - d_y).mean() + sp(d_m - d_y).mean()
    got = ebm_loss(sim, labels, masked, logit_scale=ls, margin=margin)
    assert float(got) == pytest.approx(float(want))
    assert float(ebm_loss(sim, labels, logit_scale=ls, margin=margin)) == pytest.approx(
        float(sp(margin - d_y).mean())
    )


def test_mask_words():
    rng = np.random.default_rng(0)
    out = mask_words("a small domestic feline animal", 0.4, rng, "[MASK]")
    assert out.split().count("[MASK]") == 2 and len(out.split()) == 5
    with pytest.raises(InputError, match="mask ratio"):
        mask_words("x", 1.0, rng, "[MASK]")


def test_clip_maxlogit_equals_the_max_of_the_scaled_matrix_exactly():
    g = torch.Generator().manual_seed(2)
    sim = (torch.rand(400, 23, generator=g) * 2 - 1).numpy()
    for ls in (100.0, 1 / 0.07, 3.3):
        got = create_scorer("clip_maxlogit", logit_scale=ls).score(sim)
        want = (torch.from_numpy(sim) * ls).amax(1).numpy()
        assert np.array_equal(got, want)


@pytest.mark.parametrize("name", ["mcm", "clip_msp", "clip_energy", "clip_maxlogit"])
def test_cosine_check_both_sides(name):
    low = SIM.copy()
    low[1, 2] = -1.5  # below -1 (not the row maximum): still refused
    with pytest.raises(InputError, match="values up to 1.5"):
        create_scorer(name).score(low)
    high = SIM.copy()
    high[0, 1] = 1.2
    with pytest.raises(InputError, match="values up to 1.2"):
        create_scorer(name).score(high)
    ok = SIM.copy()
    ok[0, 1], ok[1, 0] = 1.0, -1.0  # the bounds themselves are cosines
    assert np.isfinite(create_scorer(name).score(ok)).all()
    nan = SIM.copy()
    nan[1, 1] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        create_scorer(name).score(nan)


def test_read_lines_drops_a_byte_order_mark(tmp_path):
    from energy_ood.vlm.apply import read_lines

    (tmp_path / "c.txt").write_bytes("\ufeffcat\ndog\n".encode())
    assert read_lines(tmp_path / "c.txt") == ["cat", "dog"]
