"""Callers ask the scorer: ``fit_scorer`` / ``FitSource`` and the pipelines built on them
(``evaluate.scoring.score_on_sets``, ``evaluate.holdout.holdout_scores``) fit every registered
scorer with exactly what it declares, with no name switch."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from energy_ood._validate import InputError
from energy_ood.bench.holdout.run import holdout_scores
from energy_ood.evaluate.scoring import method_label, score_on_sets
from energy_ood.models import create_model
from energy_ood.score import FitSource, available_scorers, create_scorer, fit_scorer

PIPELINE = [n for n in available_scorers() if n not in available_scorers("similarity")]


def _data():
    g = torch.Generator().manual_seed(0)
    img = lambda n: torch.rand(n, 1, 12, 12, generator=g)  # noqa: E731
    lab = lambda n: torch.randint(0, 4, (n,), generator=g)  # noqa: E731
    return SimpleNamespace(
        x_train=img(80), y_train=lab(80), x_val=img(30), y_val=lab(30), x_test=img(40),
        std=[0.25],
    )  # fmt: skip


def _model():
    torch.manual_seed(0)
    return create_model("cnn", num_classes=4, in_channels=1).eval()


def test_every_scorer_through_score_on_sets():
    data, model = _data(), _model()
    # a random-init model predicts one class: SHE has no correct sample of the others (below)
    methods = [{"name": n} for n in PIPELINE if n not in ("weighted_ebo", "she")]
    methods += [{"name": "knn", "k": 5}, {"name": "nnguide", "k": 3}, {"name": "ash_b+msp"}]
    raw, scored = score_on_sets(model, data, {"noise": torch.rand(20, 1, 12, 12)}, methods, 60, 0)
    for spec in methods:
        r = raw[method_label(spec)]
        assert r["id"].shape == (40,) and r["ood"]["noise"].shape == (20,)
        if spec["name"] != "self_normalized_energy":
            assert np.isfinite(r["id"]).all()
    # ODIN got the input normalisation's std from the source: eps in pixel units
    odin = create_scorer("odin").fit(model=model, std=[0.25])
    assert raw["odin"]["id"] == pytest.approx(odin.score(data.x_test), rel=1e-6)
    # temperature scaling was fitted on the ID validation split, as its paper
    logits_val = scored.logits("__val__")
    ts = create_scorer("temp_scaling").fit(logits_val, data.y_val)
    assert raw["temp_scaling"]["id"] == pytest.approx(ts.score(scored.logits("id")), rel=1e-6)
    with pytest.raises(InputError, match="class_weights"):
        scored.scores({"name": "weighted_ebo"}, ["id"])
    she = scored.scores({"name": "she"}, ["id"])["id"]  # a class the model never gets right
    assert np.isfinite(she).all()  # takes all of its samples as the pattern


def test_features_are_extracted_only_when_asked():
    data, model = _data(), _model()
    _, scored = score_on_sets(model, data, {}, [{"name": "odin"}], 60, 0)
    assert scored._cache == {}  # ODIN runs on the inputs: no forward pass for features
    scored.scores({"name": "energy"}, ["id"])
    assert set(scored._cache) == {"id"}


def test_holdout_scores_asks_the_scorer():
    data, model = _data(), _model()
    out = holdout_scores(model, data.x_test, [{"name": "msp"}, {"name": "odin"}], std=[0.25])
    assert set(out) == {"msp", "odin"}
    with pytest.raises(InputError, match="learns from in-distribution features"):
        holdout_scores(model, data.x_test, [{"name": "knn"}])
    got = holdout_scores(
        model, data.x_test, [{"name": "knn", "k": 5}], fit_x=data.x_train, fit_y=data.y_train
    )
    assert got["knn"].shape == (40,)


def test_fit_source_takes_lazy_data_and_falls_back_to_train():
    calls = []

    def logits():
        calls.append(1)
        return torch.randn(50, 3)

    src = FitSource(train={"logits": logits}, train_labels=torch.randint(0, 3, (50,)))
    fit_scorer(create_scorer("energy"), src)
    assert calls == []  # a scorer that needs no data never triggers it
    fit_scorer(create_scorer("temp_scaling"), src)  # "val" split missing: train stands in
    fit_scorer(create_scorer("kl_matching"), src)
    assert calls == [1]  # produced once, cached
    with pytest.raises(InputError, match="final linear layer"):
        fit_scorer(create_scorer("react"), FitSource(train={"features": torch.rand(9, 4)}))
