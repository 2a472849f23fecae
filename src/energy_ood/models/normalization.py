"""What normalisation a model expects: ``--normalize model|dataset|none|MEAN,STD`` (and the
``normalize`` config key), resolved against the model's own record.

* ``model``: the mean and std the model records (torchvision's weights transforms, timm's data
  config, the training statistics in an energy-ood checkpoint); refused when it records none;
* ``dataset``: the ID training set's own per-channel mean and std;
* ``none``: the images in [0, 1] as they are;
* ``MEAN,STD`` (one value for every channel) or ``M1,M2,M3,S1,S2,S3`` (per channel).

Default: ``model`` when the model records a normalisation, else ``none`` (a program file or
an outside state dict: nothing says what it expects), and the note says so. The resolved
choice is one record (:meth:`Normalization.record`) for run.json, detectors and reports.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .._validate import InputError
from .preprocess import Preprocess

MODES = ("model", "dataset", "none")
HELP = (
    "what the model expects: model (its own recorded mean/std), dataset (the ID training "
    "set's mean/std), none (images in [0, 1]), or MEAN,STD numbers (one pair, or one value per "
    "channel: M1,M2,M3,S1,S2,S3). Default: model when it records one, else none"
)


def parse_normalize(value, where: str = "--normalize"):
    """None, one of :data:`MODES`, or ``(mean, std)`` tuples; anything else is one line."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in MODES:
        return value.strip().lower()
    bad = InputError(
        f"{where} {value!r}: expected model, dataset, none or MEAN,STD numbers "
        "(M1,M2,M3,S1,S2,S3 per channel)"
    )
    if isinstance(value, (list, tuple)):
        parts = list(value)
    elif isinstance(value, str):
        parts = [p for p in value.replace(" ", "").split(",") if p]
    else:
        raise bad
    try:
        nums = [float(p) for p in parts]
    except (TypeError, ValueError):
        raise bad from None
    if len(nums) < 2 or len(nums) % 2 or any(n != n or abs(n) == float("inf") for n in nums):
        raise bad
    half = len(nums) // 2
    mean, std = tuple(nums[:half]), tuple(nums[half:])
    if min(std) <= 0:
        raise InputError(f"{where} {value!r}: std must be positive")
    return mean, std


def _fmt(v) -> str:
    return "[" + ", ".join(f"{a:.4g}" for a in v) + "]"


@dataclass(frozen=True)
class Normalization:
    """The resolved choice: ``mode`` (model | dataset | none | given), the model's
    ``preprocess`` carrying it (mean/std None for none, and for dataset until the data set's
    statistics are known: :meth:`with_stats`) and a one-line ``note`` for reports."""

    mode: str
    preprocess: Preprocess
    note: str

    @property
    def dataset(self) -> bool:
        return self.mode == "dataset"

    def with_stats(self, mean, std) -> Normalization:
        """The dataset choice once the statistics are known."""
        pp = replace(self.preprocess, mean=tuple(mean), std=tuple(std))
        return Normalization(self.mode, pp, f"{self.note}: mean {_fmt(mean)}, std {_fmt(std)}")

    def record(self) -> dict:
        pp = self.preprocess
        return {
            "normalize": self.mode,
            "mean": None if pp.mean is None else list(pp.mean),
            "std": None if pp.std is None else list(pp.std),
            "note": self.note,
        }


def resolve_normalization(choice, pp: Preprocess, where: str = "--normalize") -> Normalization:
    """The normalisation ``choice`` (a string, ``(mean, std)`` or None) means for a model whose
    recipe is ``pp``."""
    choice = parse_normalize(choice, where)
    own = pp.mean is not None
    if choice is None:
        choice = "model" if own else "none"
        if not own:
            note = (
                "none: inputs are the images in [0, 1], because the model records no "
                f"normalisation ({pp.source or 'no recipe'}); if it expects normalised inputs, "
                "give --normalize MEAN,STD (or dataset)"
            )
            return Normalization("none", replace(pp, mean=None, std=None), note)
    if choice == "model":
        if not own:
            raise InputError(
                f"{where} model: the model records no normalisation ({pp.source or 'no recipe'})"
                "; give none, dataset or MEAN,STD"
            )
        note = f"the model's own ({pp.source}): mean {_fmt(pp.mean)}, std {_fmt(pp.std)}"
        return Normalization("model", pp, note)
    if choice == "none":
        return Normalization(
            "none", replace(pp, mean=None, std=None), "none: inputs are the images in [0, 1]"
        )
    if choice == "dataset":
        return Normalization(
            "dataset", replace(pp, mean=None, std=None), "the ID training set's own statistics"
        )
    mean, std = choice
    try:
        pp = replace(pp, mean=mean, std=std)
    except InputError as e:
        raise InputError(f"{where}: {e}") from None
    return Normalization("given", pp, f"given: mean {_fmt(mean)}, std {_fmt(std)}")


def run_recipe(folder) -> dict | None:
    """The ``Preprocess`` record of the energy-ood run folder holding a checkpoint written
    before checkpoints recorded it: its run.json's image size, channels and training
    statistics (None when there is no such run.json)."""
    import json
    from pathlib import Path

    try:
        data = json.loads((Path(folder) / "run.json").read_text(encoding="utf-8"))["data"]
        size, ch = int(data["image_size"]), int(data["channels"])
        mean, std = [float(v) for v in data["mean"]], [float(v) for v in data["std"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if "model's recipe" in str((data.get("transform") or {}).get("resize", "")):
        return None  # a torchvision / timm start: its arch record holds the recipe
    try:
        pp = Preprocess(
            size=size,
            interpolation="pil-bilinear",
            mean=mean,
            std=std,
            channels=ch,
            source=f"energy-ood run {Path(folder).name}: run.json",
        )
    except InputError:
        return None
    return pp.to_dict()
