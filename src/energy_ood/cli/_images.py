"""Images for a detector that holds a model: what its JSON records about where inputs come
from (the run folder or model spec, the image transform, the normalisation) and how a path of
images becomes normalised model inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .._io import load_array
from .._validate import InputError
from ..data.ood_files import _flat
from ..data.streaming import ImageTransform, StreamSplit, image_source, screen
from ..models.preprocess import normalize_inputs


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


def images_for(path, transform: ImageTransform, mean, std, device):
    """Normalised model inputs from ``path``: an .npy/.npz of images (N, C, H, W) in [0, 1],
    or image files (a folder, .tar shard or file list) through ``transform``."""
    p = Path(path)
    if p.suffix.lower() in (".npy", ".npz", ".pt"):
        x = torch.as_tensor(np.asarray(load_array(p), dtype=np.float32))
        if x.ndim != 4 or x.shape[1] != len(mean):
            raise InputError(
                f"{p}: expected images (N, {len(mean)}, H, W) in [0, 1], got {tuple(x.shape)}"
            )
        return normalize_inputs(x, mean, std)
    if not p.exists():
        raise InputError(f"{p}: no such image folder or file")
    ds = screen(image_source(p, transform, flat=_flat(p)))
    return StreamSplit(ds, None, mean, std, device)
