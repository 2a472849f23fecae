"""Training configuration: one dataclass for pretraining and every fine-tuning method."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from .._validate import MAX_SEED, InputError, check_int

METHODS = ("ce", "energy", "oe", "single-margin", "rotation")
DEFAULT_LAMBDA = {"ce": 0.0, "energy": 0.1, "oe": 0.5, "single-margin": 0.1, "rotation": 0.5}
NEEDS_AUX = ("energy", "oe", "single-margin")


def migrate_amp(d: dict) -> dict:
    """A training configuration written before ``--amp`` (``bf16 = true`` meant ``--amp bf16``)
    in today's terms (a copy; one written since is returned as a copy of itself)."""
    d = dict(d)
    if "bf16" in d:
        d.setdefault("amp", "bf16" if d.pop("bf16") else "off")
    return d


@dataclass
class TrainConfig:
    method: str = "ce"
    epochs: int = 5
    batch_size: int = 128
    aux_batch_size: int = 256
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    seed: int = 0
    lam: float | None = None  # weight of the auxiliary term; None = the method's default
    m_in: float | None = None  # energy margins; None = chosen from data (margins.py)
    m_out: float | None = None
    margin: float | None = None  # single-margin ablation
    augment: str = "crop"  # "none" | "crop" | "crop-flip"
    crop_padding: int = 2
    center_mask: bool = False  # the semantic-anomaly paper's masking ablation
    channels_last: bool = True  # input batches in channels_last, as the models' weights
    amp: str = "off"  # "bf16" | "fp16" (with a GradScaler) | "off": autocast of forward passes
    eval_batch_size: int = 1024
    rotation_updates: str = "alternating"  # "alternating" (the paper's code) | "summed"

    def __post_init__(self):
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}")
        if self.augment not in ("none", "crop", "crop-flip"):
            raise InputError(f"augment must be none, crop or crop-flip, got {self.augment!r}")
        for key in ("epochs", "batch_size", "aux_batch_size", "eval_batch_size", "crop_padding"):
            low = 0 if key == "crop_padding" else 1
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise InputError(f"{key} must be an integer >= {low}, got {v!r}")
        for key in ("lr", "momentum", "weight_decay", "lam", "m_in", "m_out", "margin"):
            v = getattr(self, key)
            if v is not None and not math.isfinite(float(v)):
                raise InputError(f"{key} must be a finite number, got {v!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InputError(f"seed must be an integer >= 0, got {self.seed!r}")
        check_int(self.seed, "seed", min=0, max=MAX_SEED)
        if self.lr <= 0:
            raise InputError(f"lr must be > 0, got {self.lr!r}")
        if self.momentum < 0 or self.weight_decay < 0 or (self.lam is not None and self.lam < 0):
            raise InputError("momentum, weight_decay and lam must be >= 0")
        if self.amp not in ("bf16", "fp16", "off"):
            raise InputError(f"amp must be bf16, fp16 or off, got {self.amp!r}")
        if self.rotation_updates not in ("alternating", "summed"):
            raise InputError(
                f"rotation_updates must be alternating or summed, got {self.rotation_updates!r}"
            )
        if self.lam is None:
            self.lam = DEFAULT_LAMBDA[self.method]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = migrate_amp(d)
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise InputError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        return cls(**d)
