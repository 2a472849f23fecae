"""Pieces every protocol's "what differs from the paper" table shares, each read off a record
(a run's config as results.json holds it, its data record, a model built from the code), so the
table is rebuilt whenever a report is rendered and names what a record does not hold:
:data:`NOT_RECORDED`."""

from __future__ import annotations

from torch import nn

from ..train import TrainConfig
from ..train.schedule import cosine_lr

NOT_RECORDED = "not recorded"
_DEFAULT = TrainConfig()


def model_dropout(model: nn.Module) -> list[float]:
    """Dropout rates in the model: dropout modules and blocks' ``dropout`` rates."""
    ps = set()
    for m in model.modules():
        if isinstance(m, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)):
            ps.add(float(m.p))
        elif isinstance(getattr(m, "dropout", None), float):
            ps.add(float(m.dropout))
    return sorted(p for p in ps if p > 0)


def dropout_text(model_cfg: dict | None, data: dict | None) -> str:
    """The dropout of the architecture a run config names, measured on a model built with the
    run's classes and channels (``not recorded`` when either record is missing)."""
    from ..models import create_model

    if not model_cfg or not data or "channels" not in data or not data.get("classes"):
        return NOT_RECORDED
    kwargs = dict(model_cfg.get("kwargs") or {})
    model = create_model(model_cfg["name"], num_classes=len(data["classes"]),
                         in_channels=int(data["channels"]), **kwargs)  # fmt: skip
    return ", ".join(f"{p:g}" for p in model_dropout(model)) or "none"


def image_text(data: dict | None) -> str:
    """'28x28, 1 channel (grey)' from a data record."""
    if not data or "image_size" not in data or "channels" not in data:
        return NOT_RECORDED
    s, c = int(data["image_size"]), int(data["channels"])
    return f"{s}x{s}, {c} channel{'s' if c > 1 else ''}" + (" (grey)" if c == 1 else " (RGB)")


def augment_text(augment: str | None, crop_padding: int | None = None) -> str:
    """What a training's augmentation is (``None`` = the training default)."""
    aug = augment or _DEFAULT.augment
    pad = _DEFAULT.crop_padding if crop_padding is None else crop_padding
    crop = f"random crops after {pad}-px padding"
    return {"none": "none", "crop": f"{crop}, no flips",
            "crop-flip": f"{crop}, random horizontal flips"}[aug]  # fmt: skip


def training_text(tr: dict | None, epochs_text: str | None = None) -> str:
    """Epochs, schedule and optimiser of one training section of a run config (its unset keys
    are the training defaults of :class:`~energy_ood.train.TrainConfig`)."""
    if tr is None:
        return NOT_RECORDED
    lr = tr.get("lr") or _DEFAULT.lr
    batch = tr.get("batch_size") or _DEFAULT.batch_size
    wd = _DEFAULT.weight_decay if tr.get("weight_decay") is None else tr["weight_decay"]
    n = tr.get("epochs")
    epochs = epochs_text or f"{n} epoch{'' if n == 1 else 's'}"
    return (
        f"{epochs}, SGD (Nesterov momentum {_DEFAULT.momentum:g}) lr {lr:g}, per-step cosine "
        f"to {cosine_lr(1, 1, lr):g}, batch {batch}, weight decay {wd:g}"
    )
