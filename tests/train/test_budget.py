"""Epochs chosen to fit a time budget, from a measured probe."""

import pytest
import torch

from energy_ood._validate import InputError
from energy_ood.data.prepare import prepare_id
from energy_ood.models import create_model
from energy_ood.train import TrainConfig
from energy_ood.train.budget import epochs_for_budget


def test_epochs_follow_the_budget():
    d = prepare_id("digits", seed=0)
    model = create_model("cnn", num_classes=10, in_channels=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(batch_size=32)
    small = epochs_for_budget(model, d.x_train, d.y_train, cfg, None, 1e-6, probe_steps=3)
    big = epochs_for_budget(model, d.x_train, d.y_train, cfg, None, 1e4, probe_steps=3)
    assert small["epochs"] == 1
    assert big["epochs"] == int(1e4 // big["seconds_per_epoch"]) > 1
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # a copy trained
    with pytest.raises(InputError, match="time budget"):
        epochs_for_budget(model, d.x_train, d.y_train, cfg, None, 0)
