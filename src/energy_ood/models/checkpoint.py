"""energy-ood checkpoints: tensors and plain values only, loaded with ``weights_only=True``,
checked field by field, and the model they record rebuilt (what resuming a run, loading a run
folder and a detector that holds a model read). Resuming's own checks:
:mod:`energy_ood.train.resume`."""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch

from .._validate import InputError
from ..io.regular_files import read_regular, regular_file
from ..io.torch_load import safe_load
from .weights import check_finite

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
    from ..runtime import dist

    path = Path(path)
    if broadcast_device is not None:
        problem = dist.broadcast_object(_problem(path) if dist.is_main() else None)
    else:
        problem = _problem(path)
    if problem is not None:
        raise InputError(problem)
    if broadcast_device is not None:
        try:
            data = dist.broadcast_bytes(read_regular(path, "checkpoint") if dist.is_main()
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


def load_model_from_checkpoint(path: str | Path):
    """Build the architecture recorded in a checkpoint (ours, or torchvision: / timm:) and load
    its weights."""
    from . import rebuild_model

    ck = load_checkpoint(path)
    model = rebuild_model(ck["arch"])
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as e:
        raise InputError(
            f"{path}: weights do not fit {ck['arch'].get('name')}: {_first_line(e)}"
        ) from e
    return model, ck
