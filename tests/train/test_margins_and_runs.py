"""Margin choice from validation energies, and the train / finetune commands on digits."""

import json

import pytest
import torch
from torch import nn

from energy_ood._validate import InputError
from energy_ood.cli.main import main
from energy_ood.train import TrainConfig, Trainer, choose_margins


class FixedLogits(nn.Module):
    """Logits = the input rows themselves (inputs are (n, K))."""

    def forward(self, x):
        return x


def test_margins_are_mean_validation_energies():
    id_val = torch.tensor([[5.0, 0.0], [3.0, 1.0], [4.0, 4.0]])
    aux_val = torch.tensor([[0.0, 0.0], [-1.0, 0.5]])
    m = choose_margins(FixedLogits(), id_val, aux_val)
    e_in = -torch.logsumexp(id_val, 1).mean()
    e_out = -torch.logsumexp(aux_val, 1).mean()
    assert m["m_in"] == pytest.approx(float(e_in), abs=1e-3)
    assert m["m_out"] == pytest.approx(float(e_out), abs=1e-3)
    assert m["margin"] == pytest.approx(m["m_out"] - m["m_in"], abs=2e-3)
    assert "validation" in m["rule"]


def test_margins_kept_apart_when_outliers_look_id():
    x = torch.tensor([[2.0, 1.0], [1.0, 2.0]])
    m = choose_margins(FixedLogits(), x, x.clone(), min_gap=1.0)
    assert m["m_out"] - m["m_in"] == pytest.approx(1.0, abs=1e-3)


def test_energy_method_needs_margins_and_outliers(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x, y = torch.randn(8, 1, 2, 2), torch.randint(0, 3, (8,))
    with pytest.raises(InputError, match="auxiliary outliers"):
        Trainer(model, TrainConfig(method="energy", augment="none"), tmp_path).fit(x, y)
    with pytest.raises(InputError, match="m_in and m_out"):
        Trainer(model, TrainConfig(method="energy", augment="none"), tmp_path).fit(
            x, y, aux=torch.randn(8, 1, 2, 2)
        )


@pytest.mark.slow
def test_train_then_finetune_cli(tmp_path):
    base, ft = tmp_path / "base", tmp_path / "ft"
    common = ["--epochs", "2", "--batch-size", "32", "--seed", "1"]
    assert main(["--quiet", "train", "--dataset", "digits", "--out", str(base), *common]) == 0
    run = json.loads((base / "run.json").read_text())
    assert run["seed"] == 1 and run["data"]["dataset"] == "digits"
    assert {"torch", "numpy", "energy_ood"} <= set(run["versions"])
    code = main(
        ["--quiet", "finetune", "--method", "energy", "--from", str(base), "--out", str(ft),
         "--aux", "sklearn-photos", "--test-sets", "scenes,gaussian", "--n-aux", "600",
         *common]
    )  # fmt: skip
    assert code == 0
    run = json.loads((ft / "run.json").read_text())
    m = run["config"]["margins"]
    assert run["config"]["train"]["m_in"] == m["m_in"] and run["config"]["aux"] == [
        "sklearn-photos"
    ]
    metrics = json.loads((ft / "metrics.json").read_text())
    assert 0.5 < metrics["test_accuracy"] <= 1.0
    # the fine-tuned run scored against named OOD sets
    code = main(
        ["--quiet", "evaluate", "--run", str(ft), "--ood-set", "scenes,gaussian",
         "--score", "msp,energy,mahalanobis", "--json", str(tmp_path / "ev.json")]
    )  # fmt: skip
    assert code == 0
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert set(ev["results"]) == {"msp", "energy", "mahalanobis"}
    rows = ev["results"]["energy"]
    assert rows["mean"]["auroc"] == pytest.approx(
        (rows["scenes"]["auroc"] + rows["gaussian"]["auroc"]) / 2
    )
    assert ev["id_test_error"] == pytest.approx(1 - metrics["test_accuracy"], abs=1e-6)
    # an auxiliary source that is also a test set is refused with one line, exit 2
    code = main(
        ["--quiet", "finetune", "--method", "oe", "--from", str(base), "--out", str(ft) + "2",
         "--aux", "scenes", "--test-sets", "scenes", *common]
    )  # fmt: skip
    assert code == 2


@pytest.mark.slow
def test_rotation_training_digits(tmp_path):
    code = main(
        ["--quiet", "train", "--dataset", "digits", "--rotation", "--epochs", "1",
         "--batch-size", "64", "--out", str(tmp_path / "rot")]
    )  # fmt: skip
    assert code == 0
    run = json.loads((tmp_path / "rot" / "run.json").read_text())
    assert run["config"]["arch"]["rotation_head"] is True
    assert run["config"]["train"]["method"] == "rotation"


def test_last_batch_of_one_is_dropped(tmp_path):
    from energy_ood.models import create_model

    model = create_model("cnn", num_classes=3, in_channels=1)
    x, y = torch.randn(33, 1, 28, 28), torch.randint(0, 3, (33,))  # 2 batches of 16, then 1
    hist = Trainer(model, TrainConfig(epochs=1, batch_size=16), tmp_path).fit(x, y)
    assert len(hist) == 1 and hist[0]["loss"] > 0
