"""Parts of the WordNet gloss benchmark: gloss parts, validation-OOD categories, the choice of
temperatures on validation, the typed config."""

from pathlib import Path

import numpy as np
import pytest
import torch

from energy_ood._validate import InputError
from energy_ood.bench.vlm.config import VLMConfig
from energy_ood.bench.vlm.data import category_splits, sample_glosses, validation_ood
from energy_ood.bench.vlm.run import evaluate, score_specs

WORDNET = Path("/usr/share/wordnet/data.noun").exists()


def _cfg(**data):
    return VLMConfig.from_dict({"data": {"per_category": 20, "train_per_class": 6,
                                         "val_per_class": 4, "n_id": 4, **data}})  # fmt: skip


def test_validation_ood_is_disjoint_and_seeded():
    ids = category_splits(20, 5, 3, seed=0)
    for i, split in enumerate(ids):
        val, test = validation_ood(20, split, 1 / 3, seed=0, split_no=i)
        assert len(val) == 5 and len(test) == 10
        assert not set(val) & set(test) and not (set(val) | set(test)) & set(split)
        assert np.array_equal(val, validation_ood(20, split, 1 / 3, 0, i)[0])
    with pytest.raises(InputError, match="need >= 2 OOD categories"):
        validation_ood(3, np.array([0, 1]), 0.5, 0, 0)


@pytest.mark.skipif(not WORDNET, reason="Debian package wordnet-base absent")
def test_gloss_parts():
    cfg = _cfg()
    data = sample_glosses(cfg.data, seed=0)
    counts = np.bincount(data.part[data.category == 0])
    assert counts.tolist() == [6, 4, 10]  # train, validation, test
    assert data.is_train.sum() == 6 * len(data.categories)


def test_temperature_is_chosen_on_validation_only():
    """The chosen tau follows the validation rows; the test rows are only measured."""
    from energy_ood.metrics import ood_metrics
    from energy_ood.score import create_scorer

    cfg = _cfg()
    cfg.zeroshot.taus = [0.01, 1.0]
    specs = {"MCM": score_specs(cfg)["MCM"]}
    g = torch.Generator().manual_seed(0)

    def rows(n, profile):
        return torch.tensor(profile) + torch.rand(n, 4, generator=g) * 0.01

    # tau = 0.01 ranks by the closest runner-up, tau = 1 by all runners-up together
    near = [0.5, 0.45, 0.0, 0.0]  # one close runner-up, the others far
    spread = [0.5, 0.35, 0.35, 0.35]  # every runner-up at a middle distance
    test = {"id": rows(200, spread), "ood": rows(200, near)}
    sharp = {"val_id": rows(200, spread), "val_ood": rows(200, near)}  # needs tau = 0.01
    smooth = {"val_id": rows(200, near), "val_ood": rows(200, spread)}  # needs tau = 1
    y = np.zeros(200, dtype=int)
    a = evaluate({**sharp, **test}, y, specs, cfg)
    b = evaluate({**smooth, **test}, y, specs, cfg)
    assert a["chosen"]["MCM"]["tau"] == 0.01 and b["chosen"]["MCM"]["tau"] == 1.0
    for r in (a, b):
        sc = create_scorer("mcm", tau=r["chosen"]["MCM"]["tau"])
        assert r["scores"]["MCM"] == ood_metrics(sc.score(test["id"]), sc.score(test["ood"]))
        assert r["default"]["MCM"] == b["scores"]["MCM"]  # the published tau = 1


def test_config_rules():
    with pytest.raises(InputError, match="must be < per_category"):
        _cfg(val_per_class=14)
    with pytest.raises(InputError, match="pretrained: only for kind = 'openclip'"):
        VLMConfig.from_dict({"data": {}, "encoder": {"pretrained": "x.pt"}})
    with pytest.raises(InputError, match="templates\\[0\\]: 'no slot': needs exactly one"):
        VLMConfig.from_dict({"data": {}, "zeroshot": {"templates": ["no slot"]}})
