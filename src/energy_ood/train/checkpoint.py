"""Checkpoints: tensors and plain values only, loaded with ``weights_only=True``."""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch

from .._files import read_regular, regular_file
from .._torchload import safe_load
from .._validate import InputError
from ..models.weights import check_finite

RESUME_KEYS = (
    "method",
    "epochs",
    "batch_size",
    "aux_batch_size",
    "lr",
    "seed",
    "lam",
    "m_in",
    "m_out",
    "margin",
    "augment",
    "crop_padding",
    "center_mask",
    "momentum",
    "nesterov",
    "weight_decay",
    "amp",
    "rotation_updates",
    "hparams",
)
CHECKPOINT_KEYS = {
    "model": dict,
    "arch": dict,
    "config": dict,
    "optimizer": dict,
    "epoch": int,
    "step": int,
    "history": list,
}


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0][:200] if text else "") or type(e).__name__


def load_checkpoint(path: str | Path, broadcast_device=None) -> dict:
    """Read and check a checkpoint. With ``broadcast_device`` (inside a torchrun job) rank 0
    reads the file and sends its bytes to every rank."""
    from .. import _dist

    path = Path(path)
    if broadcast_device is not None:
        problem = _dist.broadcast_object(_problem(path) if _dist.is_main() else None)
    else:
        problem = _problem(path)
    if problem is not None:
        raise InputError(problem)
    if broadcast_device is not None:
        try:
            data = _dist.broadcast_bytes(read_regular(path, "checkpoint") if _dist.is_main()
                                         else None, broadcast_device)  # fmt: skip
        except PermissionError:
            raise InputError(f"{path}: permission denied") from None
        ck = safe_load(io.BytesIO(data), path)
    else:
        ck = safe_load(path, path)
    return check_checkpoint(ck, path)


def _problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a checkpoint (missing, a FIFO, a folder), or None."""
    if not os.path.lexists(path):
        return f"{path}: no checkpoint here"
    try:
        regular_file(path, "checkpoint file")
    except InputError as e:
        return str(e)
    return None


def check_checkpoint(ck, path) -> dict:
    """The structure of an energy-ood checkpoint: every key present with its type."""
    if not isinstance(ck, dict) or "model" not in ck or "arch" not in ck:
        raise InputError(f"{path}: not an energy-ood checkpoint")
    for key, kind in CHECKPOINT_KEYS.items():
        if key in ("optimizer", "epoch", "step", "history", "config") and key not in ck:
            continue  # a weights-only export (model + arch) is enough to rebuild the model
        if not isinstance(ck[key], kind) or (kind is int and isinstance(ck[key], bool)):
            raise InputError(f"{path}: checkpoint field {key!r} is not a {kind.__name__}")
    bad = [k for k, v in ck["model"].items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise InputError(f"{path}: checkpoint weights {bad[0]!r} is not a tensor")
    check_finite(ck["model"], path)
    arch = ck["arch"]
    if not isinstance(arch.get("name"), str) or not isinstance(arch.get("num_classes"), int):
        raise InputError(f"{path}: checkpoint architecture record lacks name / num_classes")
    return ck


def check_compatible(ck: dict, arch: dict, cfg: dict | None, path) -> None:
    """Refuse a checkpoint made for another architecture / class count / configuration."""
    for key in ("name", "num_classes", "in_channels", "rotation_head"):
        if key in arch and ck["arch"].get(key) != arch.get(key):
            raise InputError(
                f"{path}: checkpoint is for {key}={ck['arch'].get(key)!r}, "
                f"this model has {key}={arch.get(key)!r}"
            )
    if cfg is not None:
        saved = dict(ck.get("config", {}))
        if "bf16" in saved:  # written before --amp
            saved.setdefault("amp", "bf16" if saved.pop("bf16") else "off")
        saved.setdefault("rotation_updates", "summed")
        saved.setdefault("hparams", {})  # written before the objective registry
        diff = [k for k in RESUME_KEYS if saved.get(k) != cfg.get(k)]
        if diff:
            k = diff[0]
            raise InputError(
                f"{path}: cannot resume, {k} was {saved.get(k)!r} and is now {cfg.get(k)!r}"
                + (f" (and {len(diff) - 1} more field(s) differ)" if len(diff) > 1 else "")
            )


def load_model_from_checkpoint(path: str | Path):
    """Build the architecture recorded in a checkpoint (ours, or torchvision: / timm:) and load
    its weights."""
    from ..models import rebuild_model

    ck = load_checkpoint(path)
    model = rebuild_model(ck["arch"])
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as e:
        raise InputError(
            f"{path}: weights do not fit {ck['arch'].get('name')}: {_first_line(e)}"
        ) from e
    return model, ck
