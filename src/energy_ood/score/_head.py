"""Resolve the final linear layer (weight, bias) given to feature scorers that need logits."""

from __future__ import annotations

import torch

from .._validate import InputError, as_tensor_2d


def resolve_head(name: str, weight=None, bias=None, head=None) -> tuple[torch.Tensor, torch.Tensor]:
    if head is not None:
        weight = head.weight.detach()
        bias = None if head.bias is None else head.bias.detach()
    if weight is None:
        raise InputError(
            f"{name} needs the final linear layer: fit(features, head=model.fc) "
            "or fit(features, weight=W, bias=b)"
        )
    w = as_tensor_2d(weight, f"{name} weight", torch.float32)
    b = torch.zeros(w.shape[0]) if bias is None else torch.as_tensor(bias, dtype=torch.float32)
    if b.shape != (w.shape[0],):
        raise InputError(
            f"{name}: bias shape {tuple(b.shape)} does not match weight rows {w.shape[0]}"
        )
    return w, b


def check_features(name: str, x: torch.Tensor, expected: int) -> None:
    if x.shape[1] != expected:
        raise InputError(f"{name}: features have {x.shape[1]} columns, fitted on {expected}")
