"""Shared by the objective tests (and the torchrun script they launch): real small data and a
small model without BatchNorm (so one process and two see the same arithmetic).

* ID: scikit-learn's 8 x 8 digits of classes 0-4 (their labels); auxiliary outliers: the
  digits of classes 5-9; normalised to mean 0, std 1 with the ID statistics;
* ``TinyNet``: flatten, linear 64 -> 16, ReLU (the features), ``fc`` 16 -> 5 and a rotation
  head 16 -> 4; built from a seed;
* ``CASES``: hyperparameters that let every registered objective train on this data (VOS with
  queues of 4 and its uncertainty loss from the first epoch).
"""

from __future__ import annotations

import torch
from torch import nn

from energy_ood.train import TrainConfig

K, N_ID, N_AUX = 5, 96, 64
CASES = {
    "ce": {},
    "energy": {"m_in": -4.0, "m_out": -1.0},
    "energy-scratch": {"m_in": -4.0, "m_out": -1.0},
    "oe": {},
    "single-margin": {"margin": 0.0},
    "rotation": {},
    "logitnorm": {},
    "vos": {"queue_size": 4, "sample_from": 100, "start_epoch": 0},
    "mixoe": {},
}


class TinyNet(nn.Module):
    def __init__(self, seed: int = 0, rotation: bool = False):
        super().__init__()
        torch.manual_seed(seed)
        self.num_classes = K
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU())
        self.fc = nn.Linear(16, K)
        self.rot_head = nn.Linear(16, 4) if rotation else None

    def arch_config(self) -> dict:
        return {"name": "tinynet", "num_classes": K, "in_channels": 1,
                "rotation_head": self.rot_head is not None}  # fmt: skip

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))

    def forward_rotation(self, x: torch.Tensor) -> torch.Tensor:
        return self.rot_head(self.features(x))


def digits():
    """(x, y, aux): ID digits 0-4 (N_ID, 1, 8, 8) with labels, outliers from digits 5-9."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None]
    y = torch.tensor(d.target)
    ids, out = x[y < K], x[y >= K]
    mean, std = ids.mean(), ids.std()
    return (ids[:N_ID] - mean) / std, y[y < K][:N_ID], (out[:N_AUX] - mean) / std


def model_for(name: str, seed: int = 0) -> TinyNet:
    return TinyNet(seed, rotation=name == "rotation")


def config(name: str, epochs: int = 2, **kw) -> TrainConfig:
    base = dict(epochs=epochs, batch_size=16, aux_batch_size=16, lr=0.05, seed=3,
                augment="crop", crop_padding=1)  # fmt: skip
    return TrainConfig(method=name, hparams=dict(CASES[name]), **{**base, **kw})


def learnable(model: nn.Module, extra) -> dict[str, torch.Tensor]:
    """Every trained tensor: the model's and the objective's own parameters."""
    out = {f"model.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    if extra is not None:
        out.update({f"objective.{k}": v.detach().clone() for k, v in extra.state_dict().items()})
    return out
