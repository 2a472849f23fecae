"""The kept post-hoc results of a finished model (bench/methods/score_cache): read back only
under the same key (model, data, scorers, code), refused quietly when anything differs or the
file is not what save() wrote, and never read when the run is not resumed."""

from __future__ import annotations

import json

import pytest
import torch

from energy_ood.bench.methods import score_cache
from energy_ood.bench.sections import ScorerSpec

SPECS = [ScorerSpec("msp"), ScorerSpec("odin", {"T": 1000.0, "eps": 0.0}, "odin-1000")]
EVALS = {
    "msp": (SPECS[0], {"svhn": {"fpr95": 0.5, "auroc": 0.8}}, {"svhn": {"fpr95": 0.01}}),
    "odin-1000": (SPECS[1], {"svhn": {"fpr95": 1 / 3}}, {"svhn": {"fpr95": 0.0}}),
}


class _Data:
    x_train, x_val, x_test = torch.zeros(4, 1, 2, 2), torch.ones(2, 1, 2, 2), torch.rand(3, 1, 2, 2)
    y_train, y_val, y_test = torch.arange(4), torch.arange(2), torch.arange(3)

    def describe(self):
        return {"dataset": "tiny", "mean": (0.5,), "std": (0.25,)}


@pytest.fixture
def run_dir(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"weights")
    return tmp_path


def _key(run_dir, specs=SPECS, oods=None):
    data = score_cache.data_digest(_Data(), oods or {"svhn": torch.zeros(5, 1, 2, 2)})
    return score_cache.cache_key(run_dir, specs, 300, 5, 0, data)


def test_round_trip_under_the_same_key(run_dir):
    key = _key(run_dir)
    assert score_cache.load(run_dir, key) == (False, None)
    score_cache.save(run_dir, key, EVALS)
    hit, kept = score_cache.load(run_dir, _key(run_dir))  # tuples in describe() read back
    assert hit and kept == EVALS
    assert score_cache.load(run_dir, key, resume=False) == (False, None)


@pytest.mark.parametrize("change", ["checkpoint", "weights", "scorers", "ood", "code"])
def test_any_change_scores_again(run_dir, monkeypatch, change):
    score_cache.save(run_dir, _key(run_dir), EVALS)
    specs, oods = SPECS, None
    if change == "checkpoint":
        (run_dir / "checkpoint.pt").write_bytes(b"other weights")
    elif change == "weights":
        (run_dir / "class_weights.npy").write_bytes(b"learned")
    elif change == "scorers":
        specs = [SPECS[0], ScorerSpec("odin", {"T": 100.0, "eps": 0.0}, "odin-1000")]
    elif change == "ood":
        oods = {"svhn": torch.zeros(5, 1, 2, 2).index_fill_(0, torch.tensor([4]), 1e-7)}
    else:
        monkeypatch.setattr(score_cache, "code_digest", lambda: "another version")
    assert score_cache.load(run_dir, _key(run_dir, specs, oods)) == (False, None)


@pytest.mark.parametrize(
    "text",
    ["", "not json", "[]", '{"key": 1}', None, '{"evals": {"msp": {"spec": "msp"}}}'],
)
def test_a_file_that_is_not_ours_is_a_miss(run_dir, text):
    key = _key(run_dir)
    path = run_dir / score_cache.CACHE_NAME
    if text is None:  # the right key, evaluations of another shape
        text = json.dumps({"key": key, "evals": {"msp": {"spec": {"name": "msp"},
                                                         "mean": [1], "std": {}}}})  # fmt: skip
    elif "evals" in text:
        text = json.dumps({"key": key, **json.loads(text)})
    path.write_text(text)
    assert score_cache.load(run_dir, key) == (False, None)


def test_tensor_digest_sees_dtype_shape_and_every_byte():
    x = torch.arange(12, dtype=torch.float32)
    d = score_cache.tensor_digest(x)
    assert d == score_cache.tensor_digest(x.clone())
    assert d != score_cache.tensor_digest(x.reshape(3, 4))
    assert d != score_cache.tensor_digest(x.double())
    y = x.clone()
    y[-1] = torch.nextafter(y[-1], torch.tensor(100.0))
    assert d != score_cache.tensor_digest(y)
    assert d == score_cache.tensor_digest(x.reshape(3, 4).t().contiguous().t().reshape(-1))
