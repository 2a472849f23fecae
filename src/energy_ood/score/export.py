"""A detector you can ship: one artifact that takes raw images and returns the logits, the
score and the OOD flag, with the preprocessing, the scorer and the threshold baked in.

``export_detector(det, fmt, path, preprocess=pp)`` (``pp``: the ``Preprocess`` the detector's
images went through, with its mean and std) writes

* ``torchscript``: ``torch.jit.trace`` of the pipeline (load with ``torch.jit.load``);
* ``export``: a ``torch.export`` program with a dynamic batch (``torch.export.load(p).module()``);
* ``onnx``: an ONNX graph (``onnxruntime.InferenceSession``; the ``[onnx]`` extra).

Input: a batch (N, C, H, W) of images at the model's input size, uint8 (0..255; the default)
or float32 in [0, 1] (``input_dtype="float32"``); the recipe's resize and crop for images of
that size and its normalisation are applied inside, as ``detect predict`` applies them.
Outputs: ``logits`` (N, K) float32, ``score`` (N,) float32 (ID-ness, higher = in-distribution)
and ``is_ood`` (N,) bool (score < threshold), exactly what ``detect predict`` computes.
Every artifact is checked against the detector it came from on a seeded batch before it is
kept; scorers that cannot be exported are refused with the reason.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._validate import InputError
from .adapter import ModelAdapter

FORMATS = ("torchscript", "export", "onnx")
SUFFIX = {"torchscript": ".ts", "export": ".pt2", "onnx": ".onnx"}
ONNX_CONSTANT_LIMIT = 1 << 30  # bytes of baked constants a single .onnx file holds safely
OUTPUTS = ("logits", "score", "is_ood")


def _refusal(det, fmt: str) -> str | None:
    """Why ``det`` cannot become a ``fmt`` artifact, or None."""
    sc = det.scorer
    if sc.input_kind == "inputs":
        return (f"{sc.name} perturbs each input along its gradient or reruns the model on it; an "
                "exported inference graph holds one forward pass")  # fmt: skip
    if sc.input_kind not in ("logits", "features"):
        return f"{sc.name} scores {sc.input_kind}, not a classifier's logits or features"
    if fmt != "export" and isinstance(det.model, torch.fx.GraphModule | _unflattened()):
        return ("its model is a torch.export program, whose symbolic batch size TorchScript and "
                "ONNX tracing cannot take; use --format export")  # fmt: skip
    state = sum(t.numel() * t.element_size() for t in sc.state_dict().values())
    if fmt == "onnx" and state > ONNX_CONSTANT_LIMIT:
        return (f"{sc.name}'s fitted state is {state / 2**30:.1f} GiB; an ONNX file holds at "
                "most 2 GiB (use --format export or torchscript)")  # fmt: skip
    return None


def _unflattened() -> type:
    try:
        from torch.export.unflatten import UnflattenedModule
    except ImportError:  # pragma: no cover - older torch
        return torch.fx.GraphModule
    return UnflattenedModule


class _KNNScore(nn.Module):
    """KNN's score as plain tensor ops (its search backends use numba / faiss): the k-th
    largest cosine similarity to the bank, by one product and ``topk``."""

    def __init__(self, scorer):
        super().__init__()
        self.register_buffer("bank", scorer.bank.detach().float().cpu().clone())
        self.k = int(scorer.k)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        q = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
        kth = torch.topk(q @ self.bank.T, self.k, dim=1).values[:, self.k - 1]
        return -torch.sqrt((2.0 - 2.0 * kth).clamp_min(0.0))


class _Score(nn.Module):
    def __init__(self, scorer):
        super().__init__()
        self.scorer = scorer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scorer._score_chunk(x)


class ShippedDetector(nn.Module):
    """Raw images -> (logits, score, is_ood); see the module doc."""

    def __init__(self, det, preprocess, input_dtype: str = "uint8", onnx: bool = False):
        super().__init__()
        if input_dtype not in ("uint8", "float32"):
            raise InputError(f"input dtype must be uint8 or float32, got {input_dtype!r}")
        self.model = det.model.eval()
        self.adapter = ModelAdapter(det.model, det.head)
        self.uses = det.scorer.input_kind
        if self.uses == "features" and self.adapter.head is None:
            from .adapter import LOGITS_ONLY

            raise InputError(LOGITS_ONLY)
        self.scale = 255.0 if input_dtype == "uint8" else 1.0
        self.pp = preprocess
        if preprocess.size is None or preprocess.mean is None:
            raise InputError("export needs the model's input size and normalisation")
        m = torch.tensor(list(preprocess.mean), dtype=torch.float32).view(1, -1, 1, 1)
        s = torch.tensor(list(preprocess.std), dtype=torch.float32).view(1, -1, 1, 1)
        self.register_buffer("mean", m)
        self.register_buffer("std", s)
        self.onnx, self.plan = onnx, _onnx_resize(preprocess) if onnx else None
        sc = det.scorer.to("cpu")
        self.score_fn = _KNNScore(sc) if sc.name == "knn" else _Score(sc)
        self.threshold = float(det.threshold)

    def forward(self, images: torch.Tensor):
        x = images.float()
        if self.scale != 1.0:
            x = x / self.scale
        if not self.onnx:
            x = self.pp._geometry(x)  # the recipe's, for images at the model's size
        elif self.plan is not None:  # ONNX: an upscale, where antialiasing changes nothing
            r, top, mode, size = self.plan
            kw = {} if mode == "nearest" else {"align_corners": False}
            x = torch.nn.functional.interpolate(x, size=(r, r), mode=mode, **kw)
            x = x[..., top : top + size, top : top + size]
        x = (x - self.mean) / self.std
        logits, feats = self.adapter.forward_both(x)
        s = self.score_fn(logits.float() if self.uses == "logits" else feats.float())
        return logits, s, s < self.threshold


def _onnx_resize(pp) -> tuple | None:
    """(resize, crop offset, mode, size) of the recipe on images at the model's size for ONNX,
    which has no antialiased resampling (None: nothing to resize). Only a bilinear or nearest
    upscale, where antialiasing changes nothing, can be expressed."""
    size = pp.size[0]
    r = pp.resize if pp.resize is not None and pp.interpolation != "pil-bilinear" else size
    if r == size and pp.size[0] == pp.size[1]:
        return None
    if pp.size[0] != pp.size[1] or r < size or pp.interpolation not in ("bilinear", "nearest"):
        raise InputError(
            f"the recipe resizes images of the model's size ({pp.interpolation}, to {r}) in a "
            "way ONNX's resampling cannot reproduce; use --format export or torchscript"
        )
    return r, int(round((r - size) / 2.0)), pp.interpolation, size


def _example(shape, input_dtype: str, n: int = 4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    return x if input_dtype == "uint8" else x.float() / 255.0


def _write(net: ShippedDetector, fmt: str, path: Path, example: torch.Tensor) -> None:
    batch = torch.export.Dim("batch", min=1)
    if fmt == "torchscript":
        torch.jit.save(torch.jit.trace(net, example, check_trace=False), str(path))
    elif fmt == "export":
        ep = torch.export.export(net, (example,), dynamic_shapes={"images": {0: batch}})
        torch.export.save(ep, str(path))
    else:
        try:
            import onnx  # noqa: F401 - torch's exporter needs it
        except ImportError as e:
            raise InputError(
                "--format onnx needs the onnx package: pip install 'energy-ood[onnx]'"
            ) from e
        torch.onnx.export(net, (example,), str(path), input_names=["images"],
                          output_names=list(OUTPUTS), dynamo=False, opset_version=17,
                          dynamic_axes={k: {0: "batch"} for k in ("images", *OUTPUTS)})  # fmt: skip


def run_artifact(path, fmt: str, images: torch.Tensor):
    """(logits, score, is_ood) numpy arrays of a written artifact on ``images``."""
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return tuple(sess.run(None, {"images": images.numpy()}))
    m = torch.jit.load(str(path)) if fmt == "torchscript" else torch.export.load(str(path)).module()
    with torch.no_grad():
        return tuple(t.numpy() for t in m(images))


def export_detector(det, fmt: str, path, *, preprocess, input_dtype: str = "uint8"):
    """Write ``det`` (a fitted Detector holding its model) as one ``fmt`` artifact at ``path``
    and check it against the detector on a seeded batch; returns the path."""
    import warnings

    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: one of {', '.join(FORMATS)}")
    if det.model is None or det.threshold is None:
        raise InputError("only a fitted detector that holds its model can be exported")
    why = _refusal(det, fmt)
    if why is not None:
        raise InputError(f"cannot export the {det.scorer.name} detector as {fmt}: {why}")
    path = Path(path)
    net = ShippedDetector(det, preprocess, input_dtype, onnx=fmt == "onnx").eval()
    shape = (preprocess.channels, *preprocess.size)
    example = _example(shape, input_dtype)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{SUFFIX[fmt]}")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer / exporter chatter about torch's own API
            _write(net, fmt, tmp, example)
            check = _example(shape, input_dtype, n=7, seed=1)
            _check(det, net, run_artifact(tmp, fmt, check), check)
        os.replace(tmp, path)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - a tracer or exporter fails in many ways
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise InputError(f"cannot export the {det.scorer.name} detector as {fmt}: {msg}") from e
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _check(det, net, got, images) -> None:
    """The artifact must give the detector's own scores (1e-5) and flags on ``images``."""
    x = images if images.dtype == torch.uint8 else images.clamp(0, 1)
    want = det.score_samples(net.pp(x))  # the one preprocessing path, as detect predict
    lo, s, flag = got
    worst = float(np.max(np.abs(s - want))) if len(want) else 0.0
    if not math.isfinite(worst) or worst > 1e-5 * max(1.0, float(np.max(np.abs(want)))):
        raise InputError(f"the exported scores differ from the detector's by {worst:.3g}")
    near = np.abs(want - det.threshold) <= 1e-5 * max(1.0, abs(det.threshold))
    if not np.array_equal(flag[~near], (want < det.threshold)[~near]):
        raise InputError("the exported OOD flags differ from the detector's")
    if lo.ndim != 2 or lo.shape[0] != len(want):
        raise InputError(f"the exported logits have shape {lo.shape}")
