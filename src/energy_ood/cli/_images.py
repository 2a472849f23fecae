"""Images for a detector that holds a model: what its JSON records about where inputs come
from (the run folder or model spec, the image transform, the normalisation) and how a path of
images becomes normalised model inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .._validate import InputError
from ..data.ood_files import _flat
from ..data.streaming import ImageTransform, StreamSplit, image_source, screen
from ..io.arrays import load_array
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


def _unit_images(a: np.ndarray, p: Path, channels: int, size: int) -> torch.Tensor:
    """Images (N, C, size, size) with values in [0, 1], as the model's recipe expects; other
    sizes, channel counts and value ranges (0..255, a pixel of 7.0, NaN) are one line."""
    want = f"images (N, {channels}, {size}, {size}) in [0, 1]"
    if a.ndim != 4 or a.shape[1] != channels or a.shape[2:] != (size, size):
        raise InputError(f"{p}: expected {want}, got shape {tuple(a.shape)}")
    if a.size == 0:
        raise InputError(f"{p}: no images")
    if a.dtype.kind in "biu":
        hint = "; divide by 255 first" if a.dtype == np.uint8 else ""
        raise InputError(f"{p}: expected {want} as floats, got {a.dtype}{hint}")
    x = torch.as_tensor(np.asarray(a, dtype=np.float32))
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"{p}: {int((~torch.isfinite(x)).sum())} NaN or inf pixel value(s)")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        hint = "; divide by 255 first" if hi <= 255 and lo >= 0 else ""
        raise InputError(f"{p}: expected {want}, got values in [{lo:g}, {hi:g}]{hint}")
    return x


def images_for(path, transform: ImageTransform, mean, std, device):
    """Normalised model inputs from ``path``: an .npy/.npz of images (N, C, H, W) in [0, 1],
    or image files (a folder, .tar shard or file list) through ``transform``."""
    p = Path(path)
    if p.suffix.lower() in (".npy", ".npz", ".pt"):
        x = _unit_images(load_array(p), p, len(mean), transform.size)
        return normalize_inputs(x, mean, std)
    if not p.exists():
        raise InputError(f"{p}: no such image folder or file")
    ds = screen(image_source(p, transform, flat=_flat(p)))
    return StreamSplit(ds, None, mean, std, device)
