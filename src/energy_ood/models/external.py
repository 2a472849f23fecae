"""Classifiers from torchvision and timm by name, with their head and eval preprocessing.

``build_external("torchvision:resnet50", num_classes=10)`` or
``build_external("timm:vit_small_patch16_224", img_size=32)`` builds the architecture with
random weights (nothing is ever downloaded: weights come from a local checkpoint, see
``energy_ood.models.loader``) and returns it with the name of its final ``nn.Linear`` (for
``ModelAdapter``) and its ``Preprocess``: timm's data config of the model (a ``name.tag``
selects that pretrained config), or torchvision's ``ImageClassification`` transforms of the
weights enum (``DEFAULT``, or ``torchvision:resnet50.IMAGENET1K_V1``), read without
downloading, or the standard ImageNet recipe (resize 256, crop 224) for a model without one.
torchvision and timm are the optional extras ``[torchvision]`` and ``[timm]``.
"""

from __future__ import annotations

import difflib
import importlib
import math
from dataclasses import dataclass

from torch import nn

from .._validate import InputError, one_line
from .base import OODNet
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, INTERPOLATIONS, Preprocess

LIBRARIES = ("torchvision", "timm")


@dataclass
class Built:
    model: nn.Module
    head: str | None  # submodule name of the final nn.Linear; None when there is none
    preprocess: Preprocess
    num_classes: int
    in_channels: int


def is_external(spec: str) -> bool:
    return isinstance(spec, str) and spec.split(":", 1)[0] in LIBRARIES and ":" in spec


def import_optional(module: str, extra: str):
    """Import torchvision / timm or name the extra (the ops shim of ``energy_ood._tvcompat`` is
    hooked in when ``energy_ood`` is imported)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise InputError(
            f"{module} is not installed ({e}); install the optional extra: "
            f"pip install 'energy-ood[{extra}]'"
        ) from e
    except RuntimeError as e:  # compiled ops that match neither torch nor the shim
        raise InputError(
            f"{module} does not import with this torch ({one_line(e)}); install "
            "the torchvision release made for it"
        ) from e


def _unknown(lib: str, name: str, known) -> InputError:
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return InputError(f"unknown {lib} model {name!r}{hint}")


def find_head(model: nn.Module, num_classes: int | None = None) -> str | None:
    """Name of the last ``nn.Linear`` (with ``num_classes`` outputs when given), or None."""
    found = None
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear) and (num_classes is None or m.out_features == num_classes):
            found = name
    return found


def _pair(size) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(size)[-2:]
    return int(h), int(w)


def _scaled(size, resize: int, crop: int, input_size) -> tuple[tuple[int, int], int]:
    """Crop size and resize for a model input size other than the recipe's crop."""
    h, w = _pair(input_size if input_size is not None else (size or crop))
    if (h, w) == (crop, crop):
        return (h, w), resize
    return (h, w), max(min(h, w), round(resize * min(h, w) / crop))


def _torchvision(name, tag, num_classes, in_channels, input_size, kwargs) -> Built:
    tv = import_optional("torchvision", "torchvision")
    known = tv.models.list_models(module=tv.models)  # classification models only
    if name not in known:
        raise _unknown("torchvision", name, known)
    if in_channels not in (None, 3):
        raise InputError(
            f"torchvision:{name} takes 3-channel images (grey ones are repeated to 3 channels "
            "by its preprocessing); in_channels must be 3"
        )
    extra = {} if num_classes is None else {"num_classes": int(num_classes)}
    try:
        model = tv.models.get_model(name, weights=None, **extra, **kwargs)
    except (TypeError, ValueError) as e:
        raise InputError(f"torchvision:{name}: {one_line(e)}") from e
    n = num_classes or 1000
    head = find_head(model, n)

    try:
        enum = tv.models.get_model_weights(name)
    except (ValueError, KeyError):
        enum = None
    member = None
    if enum is not None:
        try:
            member = enum[tag] if tag else enum.DEFAULT
        except KeyError:
            names = ", ".join(["DEFAULT", *enum.__members__])
            raise InputError(f"torchvision:{name}: no weights {tag!r}; one of {names}") from None
    elif tag:
        raise InputError(f"torchvision:{name} has no weights enum; drop '.{tag}'")
    t = member.transforms() if member is not None else None
    if t is not None and hasattr(t, "crop_size") and hasattr(t, "resize_size"):
        crop, resize = int(t.crop_size[0]), int(t.resize_size[0])
        mean, std, interp = tuple(t.mean), tuple(t.std), t.interpolation.value
        source = f"torchvision {type(member).__name__}.{member.name} transforms"
    else:
        crop, resize, mean, std, interp = 224, 256, IMAGENET_MEAN, IMAGENET_STD, "bilinear"
        source = "ImageNet recipe (resize 256, crop 224)"
    size, resize = _scaled(kwargs.get("image_size"), resize, crop, input_size)
    pre = Preprocess(
        size=size,
        resize=resize,
        interpolation=interp if interp in INTERPOLATIONS else "bilinear",
        mean=mean,
        std=std,
        channels=3,
        source=source,
    )
    return Built(model, head, pre, n, 3)


def _timm(name, num_classes, in_channels, input_size, kwargs) -> Built:
    timm = import_optional("timm", "timm")
    arch = name.split(".", 1)[0]
    if not timm.is_model(arch):
        raise _unknown("timm", arch, timm.list_models())
    extra = {}
    if num_classes is not None:
        extra["num_classes"] = int(num_classes)
    if in_channels is not None:
        extra["in_chans"] = int(in_channels)
    try:
        model = timm.create_model(name, pretrained=False, **extra, **kwargs)
    except (TypeError, ValueError, AssertionError) as e:
        raise InputError(f"timm:{name}: {one_line(e)}") from e
    clf = model.get_classifier()
    head = None
    if isinstance(clf, nn.Linear):
        head = next(n for n, m in model.named_modules() if m is clf)
    n = clf.out_features if isinstance(clf, nn.Linear) else int(num_classes or 0)
    channels = int(in_channels or 3)

    dc = timm.data.resolve_model_data_config(model)
    fixed = getattr(getattr(model, "patch_embed", None), "img_size", None)
    size = kwargs.get("img_size") or fixed or dc["input_size"][1:]
    if input_size is not None:
        size = input_size
    size = _pair(size)
    crop_pct = float(dc.get("crop_pct") or 0.875)
    mode = dc.get("crop_mode") or "center"
    if mode not in ("center", "squash"):
        raise InputError(f"timm:{name}: crop_mode {mode!r} is not supported; give preprocess=")
    resize = math.floor(size[0] / crop_pct) if size[0] == size[1] else None
    mean, std = tuple(dc["mean"]), tuple(dc["std"])
    if channels == 1 and len(mean) == 3:  # timm keeps RGB statistics for in_chans=1
        mean, std = (sum(mean) / 3,), (sum(std) / 3,)
    interp = dc.get("interpolation", "bilinear")
    pre = Preprocess(
        size=size,
        resize=resize,
        resize_mode="squash" if mode == "squash" else "shorter",
        interpolation=interp if interp in INTERPOLATIONS else "bilinear",
        mean=mean,
        std=std,
        channels=channels,
        source=f"timm data config of {name} (crop_pct {crop_pct})",
    )
    return Built(model, head, pre, n, channels)


def build_external(
    spec: str,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_size=None,
    **kwargs,
) -> Built:
    """Build ``torchvision:NAME[.WEIGHTS]`` or ``timm:NAME[.TAG]`` with random weights.

    ``num_classes`` / ``in_channels`` default to the library's (1000 classes, RGB);
    ``input_size`` (int or (H, W)) sets the preprocessing size (it does not resize a ViT:
    pass ``image_size=`` (torchvision) or ``img_size=`` (timm) for that); other ``kwargs`` go
    to the model constructor."""
    if not is_external(spec):
        raise InputError(f"not a torchvision:/timm: model name: {spec!r}")
    for key in ("weights", "pretrained"):
        if kwargs.get(key):
            raise InputError(f"{spec}: weights are never downloaded; give a local checkpoint file")
        kwargs.pop(key, None)
    lib, name = spec.split(":", 1)
    if not name:
        raise InputError(f"{spec!r}: name the {lib} model, e.g. {lib}:resnet18")
    if lib == "torchvision":
        base, _, tag = name.partition(".")
        return _torchvision(base, tag or None, num_classes, in_channels, input_size, kwargs)
    return _timm(name, num_classes, in_channels, input_size, kwargs)


def replace_head(model: nn.Module, head: str | None, num_classes: int) -> nn.Module:
    """Give ``model`` a new, freshly initialised ``num_classes``-way final layer (in place)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise InputError(f"num_classes must be a positive integer, got {num_classes!r}")
    if head is None:
        raise InputError("the model has no final nn.Linear layer to replace")
    old = model.get_submodule(head)
    if hasattr(model, "reset_classifier") and hasattr(model, "get_classifier"):  # timm
        model.reset_classifier(num_classes)
        if getattr(model.get_submodule(head), "out_features", None) == num_classes:
            return model
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    new.to(device=old.weight.device, dtype=old.weight.dtype)
    model.set_submodule(head, new)
    if isinstance(model, OODNet):  # keep its class count and arch record true
        model.num_classes = num_classes
        model._arch["num_classes"] = num_classes
    return model
