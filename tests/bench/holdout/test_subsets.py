"""Hold-out-class trials draw their own seeded training subsets (recorded, disclosed, checked on
resume), and the "what differs from the paper" rows come from the run's records."""

import json

import numpy as np
import pytest
import torch

from energy_ood._validate import InputError
from energy_ood.bench.config_files import load_config
from energy_ood.bench.holdout import run as holdout
from energy_ood.bench.holdout.disclosure import training_record
from energy_ood.bench.holdout.report import render
from energy_ood.data.prepare import prepare_id
from energy_ood.models import create_model
from energy_ood.train import TrainConfig

TOML = """
kind = "holdout"
title = "tiny hold-out subsets"
seed = 3
trials = 2
rotation = false
strict = false  # one epoch on 600 digits: near chance, not what this test checks
classes = [4]
methods = [{{ name = "msp" }}]
[data]
dataset = "digits"
train_limit = {limit}
[model]
name = "cnn"
[train]
epochs = 1
lr = 0.05
batch_size = 64
augment = "{augment}"
"""


def _cfg(tmp_path, limit=600, augment="crop"):
    path = tmp_path / f"h{limit}{augment}.toml"
    path.write_text(TOML.format(limit=limit, augment=augment))
    return load_config(str(path))


@pytest.fixture
def seen_training(monkeypatch):
    """The (images, labels) each training of run_holdout is given, in order."""
    seen = []
    real = holdout.Trainer

    class Recording(real):
        def fit(self, x, y=None, **kw):
            seen.append((x.clone(), y.clone()))
            return super().fit(x, y, **kw)

    monkeypatch.setattr(holdout, "Trainer", Recording)
    return seen


def test_each_trial_trains_on_its_own_recorded_subset(tmp_path, seen_training):
    cfg, out = _cfg(tmp_path), tmp_path / "out"
    res = holdout.run_holdout(cfg, out)
    pool = prepare_id("digits", None, 3, val_fraction=0.0001)  # the pool, as the run makes it
    n = len(pool.x_train)
    assert [s["seed"] for s in res.subsets] == [3, 1003] == res.seeds
    picks = []
    for t, rec in enumerate(res.subsets):
        want = np.sort(np.random.default_rng(res.seeds[t]).permutation(n)[:600])
        assert rec["size"] == 600 and rec["pool"] == n and rec["positions"] == want.tolist()
        picks.append(want)
        # what the trainer got: the subset's images less the held-out class 4, relabelled
        keep = want[pool.y_train.numpy()[want] != 4]
        x, y = seen_training[t]
        assert torch.equal(x, pool.x_train[torch.as_tensor(keep)])
        y_all = pool.y_train.numpy()[keep]
        assert y.tolist() == (y_all - (y_all > 4)).tolist()
    assert res.subsets[0]["sha256"] != res.subsets[1]["sha256"]
    common = np.intersect1d(picks[0], picks[1]).size
    assert res.subsets[0]["shared"] == [600, common] and res.subsets[1]["shared"] == [common, 600]
    assert 0 < common < 600
    # disclosed: a row of the departures and a table of the subsets
    rows = {r[0]: r[2] for r in res.departures}
    assert f"a seeded subset of 600 of {n} images per trial (seeds 3, 1003" in rows[
        "training images"]  # fmt: skip
    assert f"shared by trials 1 & 2: {common}" in rows["training images"]
    text = render(res, out).read_text()
    sub = text[text.index("## Training subsets") :].split("\n## ")[0]
    for rec in res.subsets:
        assert f"| {rec['seed']} " in sub and rec["sha256"] in sub
    saved = json.loads((out / "results.json").read_text())
    assert saved["subsets"] == res.subsets and saved["training"] == res.training


def test_resume_refuses_a_folder_of_other_subsets(tmp_path, seen_training):
    out = tmp_path / "out"
    holdout.run_holdout(_cfg(tmp_path, 600), out)
    holdout.run_holdout(_cfg(tmp_path, 600), out)  # same subsets: resumes from checkpoints
    with pytest.raises(InputError, match=r"trial0_subset.json: trial 0 was trained on another"):
        holdout.run_holdout(_cfg(tmp_path, 500), out)
    holdout.run_holdout(_cfg(tmp_path, 500), out, resume=False)  # --fresh retrains
    # a folder of trainings made before subsets were recorded is refused too
    (out / "runs" / "trial1_subset.json").unlink()
    with pytest.raises(InputError, match="trial 1 has trainings made before"):
        holdout.run_holdout(_cfg(tmp_path, 500), out)


def test_departure_rows_follow_the_config_and_the_model(tmp_path, seen_training):
    res = holdout.run_holdout(_cfg(tmp_path, 2000, "crop-flip"), tmp_path / "out")
    rows = {r[0]: r[2] for r in res.departures}
    assert rows["images"] == "8x8, 1 channel"
    assert rows["augmentation"] == "random crops after 2-px padding, random horizontal flips"
    assert rows["dropout"] == "none"  # the small CNN has none
    assert rows["learning-rate schedule"] == "per-step cosine: lr 0.05 down to 1e-06 over 1 epoch"
    assert rows["optimiser"].startswith("SGD, Nesterov momentum 0.9, batches of 64")
    assert rows["training images"].startswith("the whole training pool")  # limit >= pool
    assert {s["positions"] for s in res.subsets} == {"all"}


def test_training_record_reads_dropout_and_mask_size():
    tc = TrainConfig(augment="crop-flip")
    wrn = training_record(tc, create_model("wrn", depth=10, widen=1), {"image_size": 32,
                                                                        "channels": 3})  # fmt: skip
    assert wrn["dropout"] == [0.3] and wrn["center_mask"] == {"mask": 16, "region": 21}
    small = training_record(tc, create_model("allconv", width1=4, width2=8, dropout=0.25),
                            {"image_size": 28, "channels": 1})  # fmt: skip
    assert small["dropout"] == [0.25] and small["center_mask"] == {"mask": 14, "region": 18}
    assert training_record(tc, create_model("cnn"), {"image_size": 28, "channels": 1})[
        "dropout"] == []  # fmt: skip
