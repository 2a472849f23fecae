"""Resolve the final linear layer (weight, bias) given to feature scorers that need logits."""

from __future__ import annotations

import torch

from .._validate import InputError, as_tensor_2d


def resolve_head(
    name: str, weight=None, bias=None, head=None, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, b) as float32 tensors on ``device`` (default: where W lives) from ``head`` (an
    ``nn.Linear`` or a ``(W, b)`` pair) or from ``weight`` / ``bias``."""
    if head is not None:
        if isinstance(head, (tuple, list)) and len(head) == 2:
            weight, bias = head
        elif hasattr(head, "weight"):
            weight = head.weight.detach()
            bias = None if getattr(head, "bias", None) is None else head.bias.detach()
        else:
            raise InputError(f"{name}: head must be an nn.Linear or a (weight, bias) pair")
    if weight is None:
        raise InputError(
            f"{name} needs the final linear layer: fit(features, head=model.fc) "
            "or fit(features, weight=W, bias=b)"
        )
    w = as_tensor_2d(weight, f"{name} weight")
    w = w if w.dtype == torch.float64 else w.float()  # float64 kept: exact float64 scores
    device = w.device if device is None else device
    w = w.to(device)
    if bias is None:
        b = torch.zeros(w.shape[0], device=device, dtype=w.dtype)
    else:
        b = bias.detach() if isinstance(bias, torch.Tensor) else torch.as_tensor(bias)
        if b.is_complex() or not torch.isfinite(b.float()).all():
            raise InputError(f"{name}: bias must hold finite real numbers")
        b = b.to(device=device, dtype=w.dtype)
    if b.shape != (w.shape[0],):
        raise InputError(
            f"{name}: bias shape {tuple(b.shape)} does not match weight rows {w.shape[0]}"
        )
    return w, b


def check_head_width(name: str, z, weight) -> None:
    """Refuse features ``z`` whose column count is not what the head (``weight``, K x D)
    takes."""
    if z.shape[1] != weight.shape[1]:
        raise InputError(f"{name}: features have {z.shape[1]} columns, the head takes "
                         f"{weight.shape[1]}")  # fmt: skip


def linear(z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Logits ``z W^T + b`` in the dtype of ``z`` (fitted float32 tensors cast to it)."""
    return torch.addmm(bias.to(z.dtype), z, weight.to(z.dtype).T)
