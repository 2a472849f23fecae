"""Any model from a spec and a local weights file: ``load_model(spec, checkpoint=...)``.

``spec`` is one of

* a registry name (``cnn``, ``wrn40_2``, ...; ``available_models()``);
* ``torchvision:NAME[.WEIGHTS]`` or ``timm:NAME[.TAG]`` (``energy_ood.models.external``);
* the path of a TorchScript (``torch.jit.save``) or exported program (``torch.export.save``)
  file, which carries its weights (these run the program stored in the file: load only
  files you trust);
* None, with an energy-ood checkpoint: the architecture recorded in it.

``checkpoint`` is a state dict file (``weights_only=True``, or safetensors) or an energy-ood
checkpoint (whose ``arch`` must agree with ``spec``). The result, a ``LoadedModel``, holds the
module (eval mode, on ``device``), the name of its final linear layer (``head``, for
``ModelAdapter``), its ``Preprocess`` and an ``arch`` record (JSON) from which
``rebuild_model(arch)`` builds the same architecture again, e.g. to load a fine-tuned
checkpoint.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .._validate import InputError
from .external import Built, build_external, find_head, is_external, replace_head
from .preprocess import Preprocess
from .registry import _MODELS, available_models, create_model
from .weights import load_weights, program_kind, read_weights


@dataclass
class LoadedModel:
    """A model ready for scoring: ``ModelAdapter(lm.model, head=lm.head)``, inputs
    ``lm.preprocess(images)``; ``describe()`` is the JSON record for run.json / reports."""

    model: nn.Module
    head: str | None  # final nn.Linear; None: logits only (TorchScript), no feature scorers
    preprocess: Preprocess
    arch: dict
    num_classes: int | None
    checkpoint: str | None = None

    @property
    def source(self) -> str:
        """``energy_ood``, ``torchvision``, ``timm``, ``torchscript`` or ``export``."""
        return self.arch.get("source", "energy_ood")

    @property
    def in_channels(self) -> int:
        return self.preprocess.channels

    @property
    def input_size(self) -> tuple[int, int] | None:
        return self.preprocess.size

    def describe(self) -> dict:
        return {
            "model": self.arch["name"],
            "arch": copy.deepcopy(self.arch),
            "head": self.head,
            "preprocess": self.preprocess.to_dict(),
            "checkpoint": self.checkpoint,
        }


def _check_kwargs(spec: str, kwargs: dict) -> dict:
    try:
        return json.loads(json.dumps(kwargs))
    except TypeError as e:
        raise InputError(f"{spec}: model arguments must be JSON values ({e})") from e


def _build(spec, num_classes, in_channels, input_size, kwargs) -> Built:
    if is_external(spec):
        return build_external(spec, num_classes, in_channels, input_size, **kwargs)
    if spec not in _MODELS:
        raise InputError(
            f"unknown model {spec!r}: give a registry name ({', '.join(available_models())}), "
            "torchvision:NAME, timm:NAME or a TorchScript / exported program file"
        )
    nc, ch = int(num_classes or 10), int(in_channels or 3)
    rot = bool(kwargs.pop("rotation_head", False))
    model = create_model(spec, num_classes=nc, in_channels=ch, rotation_head=rot, **kwargs)
    pre = Preprocess(channels=ch, source="energy-ood run: the run's own size and normalisation")
    return Built(model, "fc", pre, nc, ch)


def rebuild_model(arch: dict) -> nn.Module:
    """The architecture of an ``arch`` record (``LoadedModel.arch`` or an OODNet's
    ``arch_config()``), with fresh weights."""
    if not isinstance(arch, dict) or "name" not in arch:
        raise InputError("not an architecture record (no 'name')")
    kw = dict(arch.get("kwargs") or {})
    if is_external(arch["name"]):
        return build_external(
            arch["name"], arch.get("num_classes"), arch.get("in_channels"), None, **kw
        ).model
    return create_model(
        arch["name"],
        num_classes=arch.get("num_classes", 10),
        in_channels=arch.get("in_channels", 3),
        rotation_head=arch.get("rotation_head", False),
        **kw,
    )


def load_model(
    spec: str | None = None,
    checkpoint: str | Path | None = None,
    *,
    num_classes: int | None = None,
    in_channels: int | None = None,
    new_head: bool = False,
    input_size=None,
    preprocess: Preprocess | dict | None = None,
    device: str | torch.device = "cpu",
    **kwargs,
) -> LoadedModel:
    """Build ``spec`` and load ``checkpoint`` into it (see the module doc).

    ``num_classes``: defaults to the checkpoint's (rows of the head weight, or its arch);
    a different count is refused unless ``new_head=True``, which loads the checkpoint and
    then replaces the head by a fresh ``num_classes``-way layer (fine-tuning a pretrained
    backbone). ``input_size`` overrides the preprocessing size; ``preprocess`` replaces the
    preprocessing; ``kwargs`` go to the architecture (e.g. ``img_size=32`` for a timm ViT)."""
    if new_head and num_classes is None:
        raise InputError("new_head=True needs num_classes (the classes of the new head)")
    if spec is not None and not is_external(spec) and spec not in _MODELS:
        if Path(spec).is_file():
            if checkpoint is not None:
                raise InputError(f"{spec}: a program file holds its weights; drop the checkpoint")
            return load_program(spec, preprocess=preprocess, device=device)
        if Path(spec).suffix or "/" in spec:
            raise InputError(f"{spec}: no such model file")
    state, ck_arch = (None, None) if checkpoint is None else read_weights(checkpoint)
    where = checkpoint
    if ck_arch is not None:
        if spec is not None and spec != ck_arch.get("name"):
            raise InputError(f"{where}: checkpoint is for {ck_arch.get('name')!r}, not {spec!r}")
        spec = ck_arch["name"]
        kwargs = {**(ck_arch.get("kwargs") or {}), **kwargs}
        if ck_arch.get("rotation_head"):
            kwargs["rotation_head"] = True
        in_channels = in_channels or ck_arch.get("in_channels")
        if preprocess is None and input_size is None and ck_arch.get("preprocess"):
            preprocess = ck_arch["preprocess"]
    if spec is None:
        raise InputError("name the model (a registry name, torchvision:NAME or timm:NAME)")
    kwargs = _check_kwargs(spec, kwargs)

    ck_classes = ck_arch.get("num_classes") if ck_arch else None
    build_classes = ck_classes or (None if new_head and state is not None else num_classes)
    built = _build(spec, build_classes, in_channels, input_size, dict(kwargs))
    if state is not None and ck_classes is None and built.head is not None:
        w = state.get(f"{built.head}.weight")
        rows = int(w.shape[0]) if w is not None and w.ndim == 2 else None
        if rows is not None and rows != built.num_classes:
            if build_classes is not None:
                raise InputError(
                    f"{where}: checkpoint has {rows} classes ({built.head}.weight), the model "
                    f"was asked for {num_classes}; to fine-tune a new {num_classes}-class head "
                    "on it, use new_head=True (--new-head)"
                )
            built = _build(spec, rows, in_channels, input_size, dict(kwargs))
    if state is not None:
        load_weights(built.model, state, where, spec)
    n = built.num_classes
    if num_classes is not None and num_classes != n:
        if not new_head:
            raise InputError(
                f"{where}: checkpoint is for {n} classes, the model was asked for "
                f"{num_classes}; use new_head=True (--new-head) to fine-tune a new head"
            )
        replace_head(built.model, built.head, int(num_classes))
        n = int(num_classes)
    pre = built.preprocess
    if preprocess is not None:
        pre = preprocess if isinstance(preprocess, Preprocess) else Preprocess.from_dict(preprocess)
    if is_external(spec):
        arch = {
            "source": spec.split(":", 1)[0],
            "name": spec,
            "num_classes": n,
            "in_channels": built.in_channels,
            "rotation_head": False,
            "kwargs": kwargs,
            "head": built.head,
            "preprocess": pre.to_dict(),
        }
    else:  # exactly the OODNet's record, so that create_model(**arch) rebuilds it
        arch = built.model.arch_config()
    model = built.model.to(torch.device(device)).eval()
    return LoadedModel(model, built.head, pre, arch, n, None if checkpoint is None else str(where))


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


def load_program(
    path: str | Path, preprocess: Preprocess | dict | None = None, device="cpu"
) -> LoadedModel:
    """A TorchScript or exported-program file as a ``LoadedModel``. TorchScript gives logits
    only (``head`` None: its layers cannot be hooked) and no input size; an exported program
    (saved with a dynamic batch dimension) gives features too and its input shape. Neither
    records a normalisation: pass ``preprocess`` when the program does not normalise."""
    path = Path(path)
    kind = program_kind(path)
    if kind is None:
        raise InputError(
            f"{path}: not a TorchScript or exported-program file; for a state dict give the "
            "architecture as the model and the file as the checkpoint"
        )
    try:
        if kind == "torchscript":
            module, head, n, shape = torch.jit.load(str(path), map_location="cpu"), None, None, None
        else:
            module, head, n, shape = _exported_module(torch.export.load(str(path)), path)
    except InputError:
        raise
    except Exception as e:
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise InputError(f"{path}: cannot load the {kind} program ({msg})") from e
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


__all__ = ["LoadedModel", "find_head", "load_model", "load_program", "rebuild_model"]
