"""Training configuration: one dataclass for pretraining and every fine-tuning method.

``method`` names a registered objective (:mod:`.objectives`). Its hyperparameters: ``lam``,
``m_in``, ``m_out``, ``margin`` and ``rotation_updates`` are fields of their own (kept from
before the registry, in every run.json); every other one goes in ``hparams``
(``{"tau": 0.04}``). A key of ``hparams`` that is one of those fields moves to its field; a key
the objective does not take is refused, naming the keys it takes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from .._validate import MAX_SEED, InputError, check_int
from .objectives import available_objectives, create_objective, objective_class

SHARED = ("lam", "m_in", "m_out", "margin", "rotation_updates")  # fields of their own


def methods() -> tuple[str, ...]:
    """Every registered training objective."""
    return tuple(available_objectives())


def needs_aux(method: str) -> bool:
    """Whether ``method`` trains with auxiliary outliers."""
    return "aux" in objective_class(method).needs


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
    hparams: dict = field(default_factory=dict)  # the objective's other hyperparameters

    def __post_init__(self):
        cls = objective_class(self.method)
        if not isinstance(self.hparams, dict):
            raise InputError(f"hparams must be a table of hyperparameters, got {self.hparams!r}")
        self._move_shared(cls)
        if self.augment not in ("none", "crop", "crop-flip"):
            raise InputError(f"augment must be none, crop or crop-flip, got {self.augment!r}")
        for key in ("epochs", "batch_size", "aux_batch_size", "eval_batch_size", "crop_padding"):
            low = 0 if key == "crop_padding" else 1
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise InputError(f"{key} must be an integer >= {low}, got {v!r}")
        for key in ("lr", "momentum", "weight_decay", "lam", "m_in", "m_out", "margin"):
            v = getattr(self, key)
            number = isinstance(v, (int, float)) and not isinstance(v, bool)
            if v is not None and not (number and math.isfinite(float(v))):
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
        for key in SHARED:  # unset: the objective's default (lam 0 for one without a lam)
            spec = cls.hparams.get(key)
            if getattr(self, key) is None and spec is not None:
                setattr(self, key, spec.default)
        if self.lam is None:
            self.lam = 0.0
        self.objective()  # every hyperparameter checked now, each bad one named

    def _move_shared(self, cls) -> None:
        """Keys of ``hparams`` that are fields of their own move to them (given once)."""
        hp = dict(self.hparams)
        for key in SHARED:
            if key not in hp:
                continue
            if key not in cls.hparams:
                takes = ", ".join(cls.hparams) or "none"
                raise InputError(
                    f"method {self.method!r} has no hyperparameter {key!r} (it takes {takes})"
                )
            if key != "rotation_updates" and getattr(self, key) is not None:
                raise InputError(f"{key} is given twice (as an option and in hparams)")
            setattr(self, key, hp.pop(key))
        self.hparams = hp

    def objective_hparams(self) -> dict:
        """The hyperparameters the objective takes: its shared fields and ``hparams``."""
        cls = objective_class(self.method)
        shared = {k: getattr(self, k) for k in SHARED if k in cls.hparams}  # None: unchosen
        return {**shared, **self.hparams}

    def objective(self):
        """A new objective of this configuration (hyperparameters checked)."""
        return create_objective(self.method, **self.objective_hparams())

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
