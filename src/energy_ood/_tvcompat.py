"""Let ``import torchvision`` work when its compiled ops cannot load (CPU torch, CUDA torchvision).

PyPI's Linux torchvision wheels are CUDA builds: their ``_C.so`` links ``libtorch_cuda.so``,
which the CPU build of torch lacks. torchvision then imports without its C++ ops, except that
``torchvision._meta_registrations`` registers fake kernels for ``torchvision::nms`` (and
``qnms``), which aborts the import with ``operator torchvision::nms does not exist``.

``install_hook()`` puts a finder on ``sys.meta_path`` that acts once, just before
``torchvision._meta_registrations`` is imported, and ONLY when torchvision's own ops failed to
load (``torchvision.extension._has_ops()`` is False) and the installed torchvision is a version
listed in ``SCHEMAS``: it defines each op of that version's ``_C.so`` with its true schema. No
kernels come with them (calling e.g. ``roi_align`` raises), except ``nms``, which gets a
pure-torch CPU kernel. Nothing is imported until torchvision itself is being imported.

``scripts/setup.sh`` installs the hook into the venv (``install_pth()`` writes
``energy_ood_tvcompat.pth`` into site-packages), so a plain ``import torchvision`` / ``import
timm`` works there; ``import energy_ood`` installs it too. At interpreter start the .pth line
imports only energy-ood's top level and this module (no torch, no third-party module), and it
does nothing once energy-ood is uninstalled.
"""

from __future__ import annotations

import sys

_TARGET = "torchvision._meta_registrations"

# The operators torchvision 0.28.x's _C.so defines, as in its TORCH_LIBRARY_FRAGMENT blocks
# (read from the installed _C.so; argument lists agree with torchvision/_meta_registrations.py
# and _autograd_registrations.py, which call them).
SCHEMAS: dict[str, tuple[str, ...]] = {
    "0.28": (
        "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
        "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
        "box_iou_rotated(Tensor boxes1, Tensor boxes2) -> Tensor",
        "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height,"
        " SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor",
        "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale,"
        " SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels,"
        " SymInt height, SymInt width, int sampling_ratio, bool aligned) -> Tensor",
        "qroi_align(Tensor input, Tensor rois, float input_scale, int input_zero_point,"
        " float rois_scale, int rois_zero_point, float spatial_scale, SymInt pooled_height,"
        " SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor",
        "roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height,"
        " SymInt pooled_width) -> (Tensor, Tensor)",
        "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale,"
        " SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels,"
        " SymInt height, SymInt width) -> Tensor",
        "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height,"
        " SymInt pooled_width, int sampling_ratio) -> (Tensor, Tensor)",
        "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping,"
        " float spatial_scale, SymInt pooled_height, SymInt pooled_width, int sampling_ratio,"
        " SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
        "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height,"
        " SymInt pooled_width) -> (Tensor, Tensor)",
        "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping,"
        " float spatial_scale, SymInt pooled_height, SymInt pooled_width, SymInt batch_size,"
        " SymInt channels, SymInt height, SymInt width) -> Tensor",
        "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias,"
        " SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h,"
        " SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) -> Tensor",
        "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset,"
        " Tensor mask, Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h,"
        " SymInt pad_w, SymInt dilation_h, SymInt dilation_w, SymInt groups,"
        " SymInt offset_groups, bool use_mask) -> (Tensor, Tensor, Tensor, Tensor, Tensor)",
    ),
}

PTH_NAME = "energy_ood_tvcompat.pth"
PTH_LINE = (
    'import sys; exec("try:\\n from energy_ood._tvcompat import install_hook\\n'
    'except ImportError:\\n pass\\nelse:\\n install_hook()")\n'
)

_state: dict = {"lib": None, "defined": ()}


def defined_ops() -> tuple[str, ...]:
    """The torchvision ops this shim defined in this process (empty when it did nothing)."""
    return _state["defined"]


class _Finder:
    """A ``sys.meta_path`` finder that runs the shim just before torchvision imports
    ``_meta_registrations``; it finds nothing itself."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == _TARGET:
            _define_missing_ops()
        return None


def install_hook() -> None:
    """Put the finder first on ``sys.meta_path`` (idempotent; imports nothing)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def _define_missing_ops() -> None:
    ext = sys.modules.get("torchvision.extension")
    if ext is None or ext._has_ops() or _state["lib"] is not None:
        return
    import importlib

    import torch

    version = importlib.import_module("torchvision.version").__version__
    schemas = SCHEMAS.get(".".join(version.split("+")[0].split(".")[:2]))
    if schemas is None:  # unknown version: leave torchvision's own error alone
        return
    lib = torch.library.Library("torchvision", "FRAGMENT")
    defined = []
    for schema in schemas:
        name = schema.split("(", 1)[0]
        if not torch._C._jit_get_schemas_for_operator(f"torchvision::{name}"):
            lib.define(schema)
            defined.append(name)
    if "nms" in defined:
        lib.impl("nms", nms_cpu, "CPU")
    _state["lib"], _state["defined"] = lib, tuple(defined)


def nms_cpu(dets, scores, iou_threshold: float):
    """Greedy non-maximum suppression as torchvision's CPU kernel: boxes (x1, y1, x2, y2) in
    descending score order; a box is dropped when its IoU with a kept one exceeds the
    threshold. Returns the kept indices (int64), highest score first."""
    import torch

    if dets.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=dets.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    boxes = dets[order]
    x1, y1, x2, y2 = boxes.unbind(1)
    area = (x2 - x1) * (y2 - y1)
    w = (torch.minimum(x2[:, None], x2[None]) - torch.maximum(x1[:, None], x1[None])).clamp_min(0)
    h = (torch.minimum(y2[:, None], y2[None]) - torch.maximum(y1[:, None], y1[None])).clamp_min(0)
    inter = w * h
    over = inter / (area[:, None] + area[None] - inter) > iou_threshold
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if not suppressed[i]:
            keep.append(i)
            suppressed |= over[i]
    return order[torch.tensor(keep, dtype=torch.long, device=dets.device)]


def install_pth(site_dir: str | None = None) -> str:
    """Write ``energy_ood_tvcompat.pth`` into ``site_dir`` (default: this interpreter's
    site-packages) so that every interpreter start installs the hook. Returns its path."""
    import os
    import sysconfig

    site_dir = site_dir or sysconfig.get_paths()["purelib"]
    path = os.path.join(site_dir, PTH_NAME)
    with open(path, "w") as f:
        f.write(PTH_LINE)
    return path
