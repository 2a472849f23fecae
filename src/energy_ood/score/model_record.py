"""A detector's record of its model and inputs (its JSON's ``inputs``): where the model comes
from (a run folder, or a model spec with its local weights), how an image becomes its input
(the image transform, the mean and std) and the ID-accuracy gate's result. From the record
:func:`restore_model` rebuilds the model, which is what ``Detector.load`` does for a detector
fitted with one; new images become its inputs through
:func:`energy_ood.data.for_model.model_inputs`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .._validate import InputError


def inputs_record(data, *, run_dir=None, model=None, checkpoint=None, input_size=None) -> dict:
    """The ``inputs`` record of a detector fitted on ``data`` (an ``IDData``) with the model of
    the run folder ``run_dir``, or of the model spec ``model`` (``checkpoint``, ``input_size``)."""
    from ..data.streaming import ImageTransform

    t = data.transform or ImageTransform(data.size, data.channels)
    rec = {
        "transform": {
            "size": t.size,
            "channels": t.channels,
            "preprocess": None if t.preprocess is None else list(t.preprocess),
        },
        "mean": [float(v) for v in data.mean],
        "std": [float(v) for v in data.std],
        "normalization": data.extra.get("normalization", "the ID training statistics"),
    }
    if run_dir:
        rec["run_dir"] = str(Path(run_dir).resolve())
    else:
        rec["model"] = model
        rec["checkpoint"] = None if checkpoint is None else str(Path(checkpoint).resolve())
        rec["input_size"] = input_size
    return rec


def transform_from_record(t: dict):
    """The ``ImageTransform`` a record's ``transform`` describes."""
    from ..data.streaming import ImageTransform

    if not isinstance(t, dict) or not {"size", "channels"} <= set(t):
        raise InputError("detector inputs.transform must hold size and channels")
    pre = t.get("preprocess")
    return ImageTransform(int(t["size"]), int(t["channels"]), None if pre is None else tuple(pre))


def restore_model(inputs: dict, device="cpu"):
    """(model on ``device`` in eval mode, transform, mean, std) of an ``inputs`` record."""
    transform = transform_from_record(inputs.get("transform"))
    if inputs.get("run_dir"):
        from ..models.checkpoint import load_model_from_checkpoint

        model, _ = load_model_from_checkpoint(Path(inputs["run_dir"]) / "checkpoint.pt")
    elif inputs.get("model"):
        from ..models import load_model

        model = load_model(
            inputs["model"], inputs.get("checkpoint"), input_size=inputs.get("input_size")
        ).model
    else:
        raise InputError("detector inputs record names neither a run folder nor a model")
    return model.to(device).eval(), transform, inputs["mean"], inputs["std"]


def recipe(inputs: dict):
    """The ``Preprocess`` (geometry, mean and std) the record's images go through."""
    t = transform_from_record(inputs.get("transform"))
    return replace(t.recipe(), mean=tuple(inputs["mean"]), std=tuple(inputs["std"]))


def recorded_paths(inputs: dict | None) -> list[tuple[str, str]]:
    """``(label, path)`` of the run folder / weights a record reads (outputs never replace
    them)."""
    rec = inputs or {}
    return [(f"(detector's {k})", rec[k]) for k in ("run_dir", "checkpoint", "model")
            if isinstance(rec.get(k), str)]  # fmt: skip
