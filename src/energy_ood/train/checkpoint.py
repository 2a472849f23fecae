"""Checkpoints: tensors and plain values only, loaded with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path

import torch

from .._validate import InputError

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
    "center_mask",
)


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no checkpoint here")
    try:
        ck = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # an untrusted pickle, a truncated file, ...
        msg = str(e).splitlines()[0][:200]
        raise InputError(f"{path}: refused to load checkpoint ({msg})") from e
    if not isinstance(ck, dict) or "model" not in ck or "arch" not in ck:
        raise InputError(f"{path}: not an energy-ood checkpoint")
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
        diff = [k for k in RESUME_KEYS if ck["config"].get(k) != cfg.get(k)]
        if diff:
            raise InputError(f"{path}: cannot resume, configuration differs in {', '.join(diff)}")


def load_model_from_checkpoint(path: str | Path):
    """Build the architecture recorded in a checkpoint and load its weights."""
    from ..models import create_model

    ck = load_checkpoint(path)
    model = create_model(**ck["arch"])
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as e:
        raise InputError(
            f"{path}: weights do not fit {ck['arch'].get('name')}: {str(e).splitlines()[0]}"
        ) from e
    return model, ck
