"""bench_agreement's helpers: the comparison metrics and verdicts, the clamp split, the table,
and the seeded world (pytorch-ood itself lives only in .venv-bench)."""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import _agreement_world as W  # noqa: E402
import bench_agreement as BA  # noqa: E402


def test_rel_err_is_normwise_and_spearman_sees_order():
    ref = np.array([1.0, -4.0, 2.0])
    assert W.rel_err(ref, ref) == 0.0
    assert np.isclose(W.rel_err(ref + [0.0, 0.0, 4e-5], ref), 1e-5)  # 4e-5 / max|ref| = 4
    assert W.same_order([1, 2, 3], [10, 20, 30]) and not W.same_order([1, 2, 3], [10, 30, 20])
    assert W.same_order([1, 1, 3], [5, 5, 6]) and not W.same_order([1, 1, 3], [5, 6, 7])
    assert W.spearman([1, 2, 3], [10, 30, 20]) < 0.9


def test_verdicts():
    x = np.linspace(-3, 3, 50)
    assert BA.compare("m", "P", x, x * (1 + 1e-7), "c").verdict == "same numbers"
    # a monotone map: the same ranking only when a map is named
    assert BA.compare("m", "P", x, np.exp(x), "c", rank_map="exp").verdict == "same ranking"
    assert BA.compare("m", "P", x, np.exp(x), "c").verdict == "differs"
    swapped = x.copy()
    swapped[[0, 1]] = swapped[[1, 0]]
    r = BA.compare("m", "P", x, np.exp(swapped), "c", rank_map="exp")
    assert r.verdict == "differs" and "Spearman" in r.result


def test_clipped_splits_only_when_the_clamp_matters():
    x = np.linspace(1, 2, 20)
    keep = np.ones(20, bool)
    keep[:3] = False
    (one,) = BA.clipped("m", "P", x, x, keep, "c", "clamps")
    assert one.verdict == "same numbers" and "below the tolerance" in one.note
    moved = x.copy()
    moved[:3] += 0.5  # the clamped rows move
    part, everything = BA.clipped("m", "P", x, moved, keep, "c", "clamps")
    assert part.verdict == "same numbers" and "17 of 20" in part.comparison
    assert everything.verdict == "differs"


def test_table_escapes_pipes_and_a_failing_check_is_an_error_row(monkeypatch):
    row = BA.Row("m", "P", "||x||", "r", "same numbers")
    assert "\\|\\|x\\|\\|" in BA.table([row])

    def broken(_):
        raise RuntimeError("boom\nmore")

    monkeypatch.setattr(BA, "CHECKS", [broken])
    (r,) = BA.run(None)
    assert r.verdict == "error" and r.result == "RuntimeError: boom"


def test_world_is_seeded_positive_and_consistent():
    a = W.build(seed=3, steps=3, scale=0.01)
    b = W.build(seed=3, steps=3, scale=0.01)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.h_fit, b.h_fit)
    assert (a.h_fit > 0).all()  # Softplus: no ties at zero for the shapings' top-k
    with torch.no_grad():
        assert torch.allclose(a.net(a.x_val), a.logits_val, atol=1e-5)
        assert torch.allclose(a.net.features(a.x_test), a.h_test)
    assert a.x_test.shape[0] == a.h_test.shape[0] == a.img_emb.shape[0]
    assert a.text_emb.shape == (W.K, W.E)
