"""Fine-tuning a torchvision / timm backbone from a local weights file on a user's image
folder (no run folder), then evaluating the fine-tuned run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from energy_ood.cli.main import main

pytest.importorskip("torchvision")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits_rgb")
    d = load_digits()
    for i, (a, c) in enumerate(zip(d.images[:120], d.target[:120])):
        if c > 2:
            continue
        im = np.rint(a * (255 / 16)).astype(np.uint8)
        (root / f"c{c}").mkdir(exist_ok=True)
        Image.fromarray(np.stack([im] * 3, -1)).save(root / f"c{c}" / f"{i:04d}.png")
    return root


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "resnet18.pt"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), path)
    return path


def test_finetune_a_torchvision_backbone_with_a_new_head(folder, weights, tmp_path, capsys):
    out = tmp_path / "ft"
    argv = ["--quiet", "finetune", "--model", "torchvision:resnet18", "--checkpoint", weights]
    argv += ["--dataset", folder, "--input-size", "32", "--method", "energy"]
    argv += ["--aux", "gaussian", "--n-aux", "64", "--epochs", "1", "--batch-size", "16"]
    argv = [str(a) for a in argv]
    assert main([*argv, "--out", str(out)]) == 2  # 10-class head on 3 classes: needs --new-head
    assert "--new-head" in capsys.readouterr().err
    assert main([*argv, "--out", str(out), "--new-head"]) == 0, capsys.readouterr().err
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["arch"]["name"] == "torchvision:resnet18"
    assert run["config"]["arch"]["num_classes"] == 3
    assert run["data"]["image_size"] == 32
    assert run["data"]["normalization"].startswith("the model's own")
    argv = ["--quiet", "evaluate", "--run-dir", str(out), "--ood-set", "uniform"]
    assert main([*argv, "--score", "energy,msp"]) == 0
    assert "uniform" in capsys.readouterr().out
