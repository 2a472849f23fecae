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

import json
from pathlib import Path

import torch
from torch import nn

from .._validate import InputError
from .external import Built, build_external, find_head, is_external, replace_head
from .loaded import LoadedModel
from .normalization import resolve_normalization, run_recipe
from .preprocess import Preprocess
from .programs import load_program
from .registry import _MODELS, available_models, create_model
from .weights import load_weights, read_weights


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
    normalize=None,
    device: str | torch.device = "cpu",
    **kwargs,
) -> LoadedModel:
    """Build ``spec`` and load ``checkpoint`` into it (see the module doc).

    ``num_classes``: defaults to the checkpoint's (rows of the head weight, or its arch);
    a different count is refused unless ``new_head=True``, which loads the checkpoint and
    then replaces the head by a fresh ``num_classes``-way layer (fine-tuning a pretrained
    backbone). ``input_size`` overrides the preprocessing size; ``preprocess`` replaces the
    preprocessing; ``normalize`` (``model``, ``none`` or ``(mean, std)`` / ``"MEAN,STD"``, as
    ``--normalize``) sets what ``lm.preprocess`` normalises with (``dataset`` needs the data:
    ``energy_ood.data.for_model.prepare_for_model``); ``kwargs`` go to the architecture (e.g.
    ``img_size=32`` for a timm ViT)."""
    lm = _load(spec, checkpoint, num_classes, in_channels, new_head, input_size, preprocess,
               device, kwargs)  # fmt: skip
    if normalize is not None:
        norm = resolve_normalization(normalize, lm.preprocess, "normalize")
        if norm.dataset:
            raise InputError(
                "normalize='dataset' needs the data set: use "
                "energy_ood.data.for_model.prepare_for_model(lm, dataset, ...)"
            )
        lm.preprocess, lm.normalization = norm.preprocess, norm.record()
        if "preprocess" in lm.arch:
            lm.arch["preprocess"] = lm.preprocess.to_dict()
    return lm


def _from_checkpoint(spec, ck_arch: dict, checkpoint, in_channels, input_size, preprocess,
                     kwargs) -> tuple:  # fmt: skip
    """The spec, architecture arguments, channels and preprocessing an energy-ood checkpoint's
    ``arch`` record gives (the spec must agree with it)."""
    if spec is not None and spec != ck_arch.get("name"):
        raise InputError(f"{checkpoint}: checkpoint is for {ck_arch.get('name')!r}, not {spec!r}")
    kwargs = {**(ck_arch.get("kwargs") or {}), **kwargs}
    if ck_arch.get("rotation_head"):
        kwargs["rotation_head"] = True
    in_channels = in_channels or ck_arch.get("in_channels")
    if preprocess is None and input_size is None:
        preprocess = ck_arch.get("preprocess") or run_recipe(Path(checkpoint).parent)
    return ck_arch["name"], kwargs, in_channels, preprocess


def _built_for(spec, state, ck_classes, num_classes, new_head, in_channels, input_size, kwargs,
               where) -> Built:  # fmt: skip
    """The architecture, with as many classes as the checkpoint's head has where neither it
    nor the caller says (a different count asked for without ``new_head`` is refused)."""
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
    return built


def _arch_record(spec, built: Built, n: int, kwargs, pre: Preprocess) -> dict:
    """The model's ``arch`` record: for a registry model exactly the OODNet's record (so that
    ``create_model(**arch)`` rebuilds it), for a torchvision/timm model what rebuilds it."""
    if not is_external(spec):
        return built.model.arch_config()
    return {"source": spec.split(":", 1)[0], "name": spec, "num_classes": n,
            "in_channels": built.in_channels, "rotation_head": False, "kwargs": kwargs,
            "head": built.head, "preprocess": pre.to_dict()}  # fmt: skip


def _load(spec, checkpoint, num_classes, in_channels, new_head, input_size, preprocess, device,
          kwargs) -> LoadedModel:  # fmt: skip
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
        spec, kwargs, in_channels, preprocess = _from_checkpoint(
            spec, ck_arch, checkpoint, in_channels, input_size, preprocess, kwargs
        )
    if spec is None:
        raise InputError("name the model (a registry name, torchvision:NAME or timm:NAME)")
    kwargs = _check_kwargs(spec, kwargs)
    ck_classes = ck_arch.get("num_classes") if ck_arch else None
    built = _built_for(spec, state, ck_classes, num_classes, new_head, in_channels, input_size,
                       kwargs, where)  # fmt: skip
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
    arch = _arch_record(spec, built, n, kwargs, pre)
    model = built.model.to(torch.device(device)).eval()
    return LoadedModel(model, built.head, pre, arch, n, None if checkpoint is None else str(where))


__all__ = ["LoadedModel", "find_head", "load_model", "load_program", "rebuild_model"]
