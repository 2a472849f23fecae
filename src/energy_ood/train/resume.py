"""Resuming a run: the configuration fields a checkpoint must agree on, and the check that it
was made for this architecture, class count and configuration."""

from __future__ import annotations

from .._validate import InputError
from .config import migrate_amp

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


def check_compatible(ck: dict, arch: dict, cfg: dict | None, path) -> None:
    """Refuse a checkpoint made for another architecture / class count / configuration."""
    for key in ("name", "num_classes", "in_channels", "rotation_head"):
        if key in arch and ck["arch"].get(key) != arch.get(key):
            raise InputError(
                f"{path}: checkpoint is for {key}={ck['arch'].get(key)!r}, "
                f"this model has {key}={arch.get(key)!r}"
            )
    if cfg is not None:
        saved = migrate_amp(ck.get("config", {}))
        saved.setdefault("rotation_updates", "summed")
        saved.setdefault("hparams", {})  # written before the objective registry
        diff = [k for k in RESUME_KEYS if saved.get(k) != cfg.get(k)]
        if diff:
            k = diff[0]
            raise InputError(
                f"{path}: cannot resume, {k} was {saved.get(k)!r} and is now {cfg.get(k)!r}"
                + (f" (and {len(diff) - 1} more field(s) differ)" if len(diff) > 1 else "")
            )
