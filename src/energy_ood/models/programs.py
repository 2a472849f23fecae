"""TorchScript and exported-program files as models: ``load_program(path)``.

Both carry their weights and run the program stored in the file (load only files you trust).
TorchScript gives logits only (its layers cannot be hooked, so ``head`` is None) and records no
input size. An exported program (``torch.export.save``, with a dynamic batch dimension) is
unflattened back into its module tree, its final linear layer becomes a real ``nn.Linear``
(so that ``ModelAdapter`` reads features from it) and its example input gives the input shape.
Neither records a normalisation: pass ``preprocess`` when the program does not normalise.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from .._validate import InputError
from ..runtime.progress import log
from .loaded import LoadedModel
from .preprocess import Preprocess
from .weights import program_kind


def _exported_module(ep, path) -> tuple[nn.Module, str | None, int | None, tuple | None]:
    """Unflattened module of an ExportedProgram, its head swapped for a real ``nn.Linear``
    (so that ModelAdapter can hook it), its class count and input shape (C, H, W)."""
    users = [s.arg.name for s in ep.graph_signature.input_specs if s.kind.name == "USER_INPUT"]
    nodes = {n.name: n for n in ep.graph.nodes}
    val = nodes[users[0]].meta.get("val") if len(users) == 1 else None
    if val is None or val.ndim != 4:
        raise InputError(f"{path}: the exported program must take one (N, C, H, W) image tensor")
    if isinstance(val.shape[0], int):
        raise InputError(
            f"{path}: exported with a fixed batch size {val.shape[0]}; export it with "
            "dynamic_shapes={'x': {0: torch.export.Dim('batch')}}"
        )
    shape = tuple(int(s) if isinstance(s, int) else None for s in val.shape[1:])
    out = next(n for n in ep.graph.nodes if n.op == "output").args[0]
    out = out[0] if isinstance(out, (tuple, list)) else out
    oval = getattr(out, "meta", {}).get("val")
    n = int(oval.shape[-1]) if oval is not None and isinstance(oval.shape[-1], int) else None
    module = torch.export.unflatten(ep)
    head = None
    for name, sub in module.named_modules():
        w, graph = getattr(sub, "weight", None), getattr(sub, "graph", None)
        calls = [] if graph is None else [x for x in graph.nodes if x.op == "call_function"]
        is_linear = len(calls) == 1 and calls[0].target is torch.ops.aten.linear.default
        if is_linear and isinstance(w, torch.Tensor) and w.ndim == 2 and w.shape[0] == n:
            head = name  # the last one: a submodule that is exactly one linear layer
    if head is not None:
        old = module.get_submodule(head)
        lin = nn.Linear(old.weight.shape[1], old.weight.shape[0], bias=old.bias is not None)
        with torch.no_grad():
            lin.weight.copy_(old.weight)
            if old.bias is not None:
                lin.bias.copy_(old.bias)
        module.set_submodule(head, lin)
    return module, head, n, shape


def _restate(caught, path) -> None:
    """torch's own deprecation notices while loading (torch.jit.load, pytree internals) are
    about torch's API, not the user's file: dropped. Anything else is restated as one line."""
    seen = set()
    for w in caught:
        if issubclass(w.category, (DeprecationWarning, FutureWarning)):
            continue
        text = (str(w.message).strip().splitlines() or [w.category.__name__])[0][:200]
        if text not in seen:
            seen.add(text)
            log(f"note: loading {path}: {text}")


def load_program(
    path: str | Path, preprocess: Preprocess | dict | None = None, device="cpu"
) -> LoadedModel:
    """A TorchScript or exported-program file as a ``LoadedModel`` (see the module doc)."""

    path = Path(path)
    kind = program_kind(path)
    if kind is None:
        raise InputError(
            f"{path}: not a TorchScript or exported-program file; for a state dict give the "
            "architecture as the model and the file as the checkpoint"
        )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if kind == "torchscript":
                module, head, n, shape = torch.jit.load(str(path), map_location="cpu"), *[None] * 3
            else:
                module, head, n, shape = _exported_module(torch.export.load(str(path)), path)
    except InputError:
        raise
    except Exception as e:
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise InputError(f"{path}: cannot load the {kind} program ({msg})") from e
    _restate(caught, path)
    if preprocess is not None:
        pre = preprocess if isinstance(preprocess, Preprocess) else Preprocess.from_dict(preprocess)
    else:
        ch = shape[0] if shape and shape[0] in (1, 3) else 3
        size = shape[1:] if shape and None not in shape[1:] else None
        what = "input shape only" if size else "no input size or normalisation recorded"
        pre = Preprocess(size=size, channels=ch, source=f"{kind} program: {what}")
    arch = {
        "source": kind,
        "name": str(path),
        "num_classes": n,
        "in_channels": pre.channels,
        "rotation_head": False,
        "kwargs": {},
        "head": head,
        "preprocess": pre.to_dict(),
    }
    module = module.to(torch.device(device))
    module.eval()
    return LoadedModel(module, head, pre, arch, n, str(path))
