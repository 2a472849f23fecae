"""Models trained elsewhere: plain PyTorch (and torchvision), no energy_ood import.

Run as a script by tests/models/test_foreign_models.py, in its own process:

    python foreign_train.py DATA_DIR OUT_DIR [KIND ...]

DATA_DIR holds ``train/<class>/*.png`` (all one size); each KIND trains a small classifier on
them with its own input convention and writes it to OUT_DIR, with OUT_DIR/KIND.json stating
that convention:

* ``export``: a small CNN, RGB in [0, 1] at the images' size, no normalisation; saved with
  ``torch.export.save`` (dynamic batch);
* ``torchscript``: the same CNN fed ``(x - 0.5) / 0.25``; saved with ``torch.jit.save``;
* ``torchvision``: ``torchvision.models.resnet18(num_classes=K)`` on torchvision's own eval
  recipe scaled to 32 pixels (antialiased bilinear resize of the shorter side to 37, centre
  crop 32, ImageNet mean and std); saved as its state dict.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def read_folder(root: Path):
    """uint8 (N, 3, H, W) and labels of ``root/<class>/*.png``, classes in sorted order."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    xs, ys = [], []
    for i, c in enumerate(classes):
        for f in sorted((root / c).glob("*.png")):
            xs.append(np.asarray(Image.open(f).convert("RGB")))
            ys.append(i)
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(ys), classes


class SmallCNN(nn.Module):
    def __init__(self, k: int):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 6 * 6, k)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.fc(torch.flatten(x, 1))


def tv_inputs(x_uint8: torch.Tensor) -> torch.Tensor:
    """torchvision's eval recipe at 32 pixels, by hand: resize 37 (shorter side), crop 32."""
    x = x_uint8.float() / 255.0
    h, w = x.shape[-2:]
    s = 37
    size = (s, int(s * w / h)) if h <= w else (int(s * h / w), s)
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    top, left = int(round((x.shape[-2] - 32) / 2.0)), int(round((x.shape[-1] - 32) / 2.0))
    x = x[..., top : top + 32, left : left + 32]
    m = torch.tensor(IMAGENET[0]).view(1, 3, 1, 1)
    return (x - m) / torch.tensor(IMAGENET[1]).view(1, 3, 1, 1)


CONVENTIONS = {
    "export": lambda x: x.float() / 255.0,
    "torchscript": lambda x: (x.float() / 255.0 - 0.5) / 0.25,
    "torchvision": tv_inputs,
}


def train(model, x, y, epochs: int, lr: float) -> nn.Module:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def main(data: Path, out: Path, kinds: list[str]) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x8, y, classes = read_folder(data / "train")
    out.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        x = CONVENTIONS[kind](x8)
        if kind == "torchvision":
            import torchvision

            model = train(torchvision.models.resnet18(num_classes=len(classes)), x, y, 3, 1e-3)
            torch.save(model.state_dict(), out / "resnet18.pt")
        else:
            model = train(SmallCNN(len(classes)), x, y, 12, 3e-3)
            with torch.no_grad():
                if kind == "torchscript":
                    torch.jit.save(torch.jit.trace(model, x[:2]), str(out / "model.ts"))
                else:
                    batch = torch.export.Dim("batch", min=1)
                    ep = torch.export.export(model, (x[:2],), dynamic_shapes={"x": {0: batch}})
                    torch.export.save(ep, str(out / "model.pt2"))
        with torch.no_grad():
            acc = float((model(x).argmax(1) == y).float().mean())
        (out / f"{kind}.json").write_text(json.dumps({"classes": classes, "train_acc": acc}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:] or list(CONVENTIONS))
