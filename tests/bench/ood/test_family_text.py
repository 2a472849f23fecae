"""The ood report's family sentences come from the families results.json records: a headline
set that shares a family with the auxiliary outliers or the ID data is named, and the sentence
that none does appears only when the records show it."""

import dataclasses
import json
from pathlib import Path

from energy_ood.bench.ood.family_text import headline_family_text, val_outliers_text
from energy_ood.bench.ood.results import OODResults

FMNIST = Path(__file__).resolve().parents[3] / "docs" / "results" / "fmnist" / "results.json"


def _res() -> OODResults:
    return OODResults.from_plain(json.loads(FMNIST.read_text()))


def test_disjoint_families_say_none_shares():
    text = headline_family_text(_res())
    assert "none shares a family with the auxiliary outliers (recorded families: cifar10)" in text
    assert "or with the ID data (fashion-mnist)" in text and "Shares" not in text


def test_a_shared_family_is_named_and_the_none_sentence_goes():
    res = _res()
    res.sources["scenes"]["family"] = "cifar10"
    text = headline_family_text(res)
    assert "**Shares a family with the training data: scenes (cifar10, as the auxiliary " \
           "source cifar10-train-grey).**" in text  # fmt: skip
    assert "none shares" not in text
    res = _res()
    res.sources["mnist"]["family"] = "fashion-mnist"
    assert "mnist (fashion-mnist, as the ID data)" in headline_family_text(res)


def test_a_missing_family_reads_not_recorded():
    res = _res()
    del res.sources["textures"]["family"]
    text = headline_family_text(res)
    assert "Family of textures: not recorded." in text and "none shares" not in text


def test_margin_validation_families_follow_the_records():
    res = _res()
    assert "held-out auxiliary outliers" in val_outliers_text(res)  # written before margin_val
    res.margin_sweep = dataclasses.replace(res.margin_sweep, val_sets=["gaussian"])
    text = val_outliers_text(res)
    assert "**shares a family with gaussian (pixel-noise, as the test set gaussian)**" in text
    res.sources["gaussian"] = {**res.sources["gaussian"], "family": "other"}
    res.ood_sets = [s for s in res.ood_sets if s != "gaussian"]
    text = val_outliers_text(res)
    assert "families gaussian: other; of neither the training outliers' family nor a test's" \
        in text  # fmt: skip
