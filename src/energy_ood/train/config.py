"""Training configuration: one dataclass for pretraining and every fine-tuning method."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .._validate import InputError

METHODS = ("ce", "energy", "oe", "single-margin", "rotation")
DEFAULT_LAMBDA = {"ce": 0.0, "energy": 0.1, "oe": 0.5, "single-margin": 0.1, "rotation": 0.5}
NEEDS_AUX = ("energy", "oe", "single-margin")


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
    channels_last: bool = False
    bf16: bool = False  # bfloat16 autocast for forward passes (losses in float32)
    eval_batch_size: int = 1024

    def __post_init__(self):
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}")
        if self.augment not in ("none", "crop", "crop-flip"):
            raise InputError(f"augment must be none, crop or crop-flip, got {self.augment!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise InputError("epochs and batch_size must be >= 1 and lr > 0")
        if self.lam is None:
            self.lam = DEFAULT_LAMBDA[self.method]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise InputError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        return cls(**d)
