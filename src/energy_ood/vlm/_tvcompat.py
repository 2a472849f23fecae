"""Make a torchvision whose compiled ops do not match the installed torch importable.

open_clip imports torchvision at module level (transforms, ``FrozenBatchNorm2d``) and
transformers (under sentence-transformers) imports it whenever it is installed. On a machine
with the CPU build of torch and a CUDA build of torchvision (the only torchvision wheels PyPI
has for Linux), torchvision's ``_C`` extension cannot load; torchvision then skips its op
registrations except ``register_fake("torchvision::nms")`` (and ``qnms``), which raises
``operator torchvision::nms does not exist`` and aborts the import.

``ensure_torchvision_importable`` defines the missing op *schemas* (no kernels) so that the
pure-Python parts import. Detection ops (nms, roi_align, ...) stay unavailable and raise if
called; nothing here calls them, and image preprocessing is our own (``preprocess``). With a
matching torchvision (or none) this does nothing.
"""

from __future__ import annotations

import importlib.util
import re
import sys

import torch

_MISSING = re.compile(r"operator torchvision::(\w+) does not exist")
_LIB: list = []  # keeps the torch.library.Library alive for the life of the process


def _purge() -> None:
    for k in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
        del sys.modules[k]


def ensure_torchvision_importable(max_ops: int = 16) -> str:
    """Return ``"absent"``, ``"ok"`` (imported as is) or ``"patched"`` (op schemas defined)."""
    if "torchvision" in sys.modules:
        return "ok"
    if importlib.util.find_spec("torchvision") is None:
        return "absent"
    patched = False
    for _ in range(max_ops):
        try:
            importlib.import_module("torchvision")
            return "patched" if patched else "ok"
        except RuntimeError as e:
            m = _MISSING.search(str(e))
            if m is None:
                raise
            _purge()
            if not _LIB:
                _LIB.append(torch.library.Library("torchvision", "FRAGMENT"))
            _LIB[0].define(
                f"{m.group(1)}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
            )
            patched = True
    raise RuntimeError("torchvision: too many missing operators; reinstall a matching torchvision")
