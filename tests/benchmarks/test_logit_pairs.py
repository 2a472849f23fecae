"""bench_scorers' logit and similarity rows: each bare torch expression computes what its
scorer computes, every logit / similarity scorer of the registry has a row, and the table
takes its ratio at energy-ood's best thread count."""

import os
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import _logit_pairs as P  # noqa: E402
import bench_scorers as BS  # noqa: E402

from energy_ood.score import available_scorers, scorer_class  # noqa: E402

K = 12


@pytest.mark.parametrize("task", ["logits", "similarity"])
def test_bare_expression_computes_the_scorers_numbers(task):
    x = P.INPUTS[task](300, K, seed=3)
    for pair in P.PAIRS[task](K):
        ours = pair.scorer.score(x)
        bare = pair.fn(torch.from_numpy(x)).numpy()
        assert ours.dtype == np.float32 and bare.shape == ours.shape, pair.name
        assert P.max_rel_diff(ours, bare) < 1e-5, pair.name


def test_every_logit_and_similarity_scorer_has_a_row():
    names = {p.scorer.name for task in P.PAIRS for p in P.PAIRS[task](K)}
    kinds = {"logits", "similarity"}
    want = {
        n
        for n in available_scorers()
        if scorer_class(n).input_kind in kinds and not scorer_class(n).composable
    }
    assert want <= names, sorted(want - names)


def test_fitted_rows_use_their_fitted_values():
    pairs = {p.name: p for p in P.logit_pairs(K)}
    t = float(pairs["temp_scaling"].scorer.temperature)
    assert 0.05 < t < 20 and t != 1.0  # a real fit on class-structured logits
    x = torch.from_numpy(P.logits(50, K, seed=4))
    # the bare temperature expression differs from plain MSP: T enters it
    assert not torch.allclose(pairs["temp_scaling"].fn(x), pairs["msp"].fn(x))


def test_inputs_are_seeded_float32_and_cosines_in_range():
    a, b = P.cosines(100, K, seed=1), P.cosines(100, K, seed=1)
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert np.abs(a).max() <= 1.0
    assert P.logits(10, K).dtype == np.float32


def test_pair_table_ratio_at_ours_best_thread_count():
    def row(o1, b1, o2, b2):
        return {
            1: {"ours:x": o1, "bare:x": b1},
            2: {"ours:x": o2, "bare:x": b2},
        }

    r = row(3.0, 1.0, 1.2, 1.0)  # ours is fastest at 2 threads: 1.2x there, not 3x
    res = {}
    for th in (1, 2):
        res["logits", th] = {
            "ours:x": {"desc": "o", "seconds": r[th]["ours:x"], "target": 1.5, "check": 0.0},
            "bare:x": {"desc": "b", "seconds": r[th]["bare:x"]},
        }
    lines, verdicts = BS.pair_table("logits", [1, 2], res)
    assert "1.20x (at 2)" in lines[2] and "met" in verdicts[0] and "NOT" not in verdicts[0]
    res["logits", 2]["ours:x"]["seconds"] = 1.6
    _, verdicts = BS.pair_table("logits", [1, 2], res)
    assert "1.60x" in verdicts[0] and "NOT met" in verdicts[0]
