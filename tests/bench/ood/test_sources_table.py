"""The data table of an OOD report says which pictures of an ID class an OOD *test* set keeps
(a fixed list: the scenes set's cat photo stays as a test set for CIFAR-10), beside what an
outlier source left out."""

import json
from pathlib import Path

from energy_ood.bench.ood.report import _sources
from energy_ood.bench.ood.results import OODResults

RESULTS = Path(__file__).parents[3] / "docs" / "results"


def _rows(name: str) -> dict[str, str]:
    res = OODResults.from_plain(json.loads((RESULTS / name / "results.json").read_text()))
    lines = [ln for ln in _sources(res).splitlines() if ln.startswith("| ") and "---" not in ln]
    return {c[0]: c[-1] for c in ([x.strip() for x in ln.strip("|").split("|")] for ln in lines)}


def test_cifar10_scenes_says_it_keeps_the_cat():
    rows = _rows("cifar10_cpu")
    assert rows["scenes"] == "kept in this test set: cat (chelsea)"
    assert rows["tuxpaint-stamps"].startswith("airplane: 3; automobile: 5")  # left out: aux
    assert rows["mnist"] == "-"


def test_fashion_mnist_scenes_keeps_no_id_class():
    assert _rows("fmnist")["scenes"] == "-"
