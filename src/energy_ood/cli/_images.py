"""A detector that holds a model: what its JSON records about where inputs come from (the run
folder or model spec, the image transform, the normalisation); new images become its inputs
through :func:`energy_ood.data.for_model.model_inputs`."""

from __future__ import annotations

from pathlib import Path

from .._validate import InputError
from ..data.streaming import ImageTransform


def inputs_record(args, data) -> dict:
    """The detector's ``inputs`` record for a source made from ``args`` and its IDData."""
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
    if args.run:
        rec["run_dir"] = str(Path(args.run).resolve())
    else:
        rec["model"] = args.model
        rec["checkpoint"] = (
            None if args.checkpoint is None else str(Path(args.checkpoint).resolve())
        )
        rec["input_size"] = args.input_size
    return rec


def transform_from_record(t: dict) -> ImageTransform:
    if not isinstance(t, dict) or not {"size", "channels"} <= set(t):
        raise InputError("detector inputs.transform must hold size and channels")
    pre = t.get("preprocess")
    return ImageTransform(int(t["size"]), int(t["channels"]), None if pre is None else tuple(pre))


def model_from_inputs(inputs: dict, runtime):
    """(model on the runtime's device, transform, mean, std) of a detector's inputs record."""
    transform = transform_from_record(inputs.get("transform"))
    if inputs.get("run_dir"):
        from ..train.checkpoint import load_model_from_checkpoint

        model, _ = load_model_from_checkpoint(Path(inputs["run_dir"]) / "checkpoint.pt")
    elif inputs.get("model"):
        from ..models import load_model

        model = load_model(
            inputs["model"], inputs.get("checkpoint"), input_size=inputs.get("input_size")
        ).model
    else:
        raise InputError("detector inputs record names neither a run folder nor a model")
    return model.to(runtime.device).eval(), transform, inputs["mean"], inputs["std"]
